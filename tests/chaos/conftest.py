"""Chaos fixtures, and the figures `make chaos` prints at the end of the session."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.world import World, make_world

from .harness import FIGURES


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 20, "opportunities": 4}) as w:
        yield w


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    # Only for `make chaos` (-m chaos): the fast versions in `make test` stay quiet.
    markexpr = str(terminalreporter.config.getoption("markexpr", "") or "")
    if not FIGURES.scenarios or "chaos" not in markexpr or "not chaos" in markexpr:
        return
    terminalreporter.section("seqsync chaos figures")
    for line in FIGURES.lines():
        terminalreporter.write_line(line)
