"""End-to-end fixtures for the sync suite: a fresh mock CRM world per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.world import World, make_world


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_url: str) -> Iterator[World]:
    """Parametrised over the state backends (SQLite and PostgreSQL) by `state_url`."""
    with make_world(tmp_path, monkeypatch, state_url,
                    generate={"leads": 20, "opportunities": 6}) as world:
        yield world
