"""Operations tests: a fresh mock CRM world per test (doctor, metrics, deployment files)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.world import World, make_world


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 8, "opportunities": 3}) as world:
        yield world
