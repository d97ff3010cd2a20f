"""Hostile CRM answers: the real mock behind `responses`, with chosen replies rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses
from chaos.spoiler import Hostile
from support.world import World, make_world


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 30, "opportunities": 5}) as w:
        w.write_config(sync={"page_size": 10, "batch_size": 10})
        yield w


@pytest.fixture
def hostile(world: World) -> Iterator[Hostile]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_passthru(world.crm.url)
        yield Hostile(world, rsps)
