"""Security fixtures: a world on the mock CRM (shared helpers live in tests/chaos)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.world import World, make_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 12, "opportunities": 3}) as w:
        yield w
