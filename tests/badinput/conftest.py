"""Fixtures: a seeded state database to copy per case, and a guard against network access."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from .workspace import (
    RUN_CONFIG,
    STATE_DB,
    Workspace,
    base_env,
    dump_database,
    run_config,
    run_in_process,
)

EXAMPLE = Path(__file__).parents[2] / "examples" / "sequences" / "cold-lead-outreach.toml"


@pytest.fixture(scope="session")
def seeded_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state database holding the active sequence "Cold lead outreach", made by the CLI."""
    root = tmp_path_factory.mktemp("seed")
    (root / RUN_CONFIG).write_text(run_config(root), "utf-8")
    env = base_env() | {"SEQSYNC_CONFIG": str(root / RUN_CONFIG)}
    outcome = run_in_process(
        Workspace(root, ["sequence", "apply", str(EXAMPLE), "--activate"], env)
    )
    assert outcome.exit_code == 0 and outcome.crash is None, (
        f"cannot seed the state database:\n{outcome.stderr}{outcome.crash or ''}"
    )
    db = root / STATE_DB
    assert any(dump_database(db).get("sequences", [])), "the seeded database has no sequence"
    return db


@pytest.fixture
def network_attempts(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Every address the code under test tried to connect to (each attempt is refused)."""
    attempts: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        attempts.append(address)
        raise ConnectionRefusedError(f"badinput tests allow no network access ({address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    return attempts
