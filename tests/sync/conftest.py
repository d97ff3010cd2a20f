"""End-to-end fixtures for the sync suite: a fresh mock CRM world per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.world import World, make_world


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 20, "opportunities": 6}) as world:
        yield world
