"""Every bad input through the real `seqsync` command: exit 2, one line, no trace, no state."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from .cases import CASES, Case
from .workspace import (
    Outcome,
    judge,
    prepare,
    run_in_process,
    run_subprocess,
    snapshot,
    state_changes,
)

SUBPROCESS_CASES = [case for case in CASES if case.subprocess]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_bad_input_gives_one_line_and_exit_2(
    case: Case,
    tmp_path: Path,
    seeded_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    network_attempts: list[Any],
) -> None:
    workspace = prepare(case, tmp_path, seeded_db)
    before = snapshot(tmp_path)
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(workspace)
    problems = judge(case, outcome, state_changes(before, snapshot(tmp_path)))
    problems += [f"tried to open a connection to {address}" for address in network_attempts]
    assert not problems, f"{case.id}: " + "\n".join(problems)


@pytest.fixture(scope="session")
def process_runs(
    tmp_path_factory: pytest.TempPathFactory, seeded_db: Path
) -> dict[str, tuple[Outcome, list[str]]]:
    """Each subprocess case run once, several at a time: starting Python is the slow part."""
    workspaces = {c.id: prepare(c, tmp_path_factory.mktemp("process"), seeded_db)
                  for c in SUBPROCESS_CASES}
    befores = {cid: snapshot(ws.root) for cid, ws in workspaces.items()}
    with ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2)) as pool:
        outcomes = dict(zip(workspaces, pool.map(run_subprocess, workspaces.values()),
                            strict=True))
    return {cid: (outcomes[cid], state_changes(befores[cid], snapshot(ws.root)))
            for cid, ws in workspaces.items()}


@pytest.mark.parametrize("case", SUBPROCESS_CASES, ids=lambda case: case.id)
def test_bad_input_in_a_real_process(
    case: Case, process_runs: dict[str, tuple[Outcome, list[str]]]
) -> None:
    outcome, changes = process_runs[case.id]
    problems = judge(case, outcome, changes)
    assert not problems, f"{case.id}: " + "\n".join(problems)
