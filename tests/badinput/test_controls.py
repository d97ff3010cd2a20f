"""Controls: the same set-up without the mistake succeeds, so each case fails for its mistake."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from connector.mapping import default_directory

from .cases import CORPUS
from .workspace import (
    RUN_CONFIG,
    STATE_DB,
    Workspace,
    base_env,
    dump_database,
    run_config,
    run_in_process,
)


def _seeded_workspace(root: Path, seeded_db: Path) -> dict[str, str | None]:
    shutil.copyfile(seeded_db, root / STATE_DB)
    shutil.copytree(default_directory(), root / "mappings")
    (root / RUN_CONFIG).write_text(run_config(root), "utf-8")
    return base_env() | {"SEQSYNC_CONFIG": str(root / RUN_CONFIG)}


def test_the_config_without_its_mistake_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = (CORPUS / "config" / "crm_url_http.toml").read_text("utf-8")
    (tmp_path / "fixed.toml").write_text(text.replace("http://", "https://"), "utf-8")
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(
        Workspace(tmp_path, ["--config", "fixed.toml", "sequence", "list"], base_env())
    )
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert (tmp_path / "seqsync.db").exists()  # so "no database afterwards" means something


def test_the_sequence_file_without_its_mistake_applies(
    tmp_path: Path, seeded_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = _seeded_workspace(tmp_path, seeded_db)
    text = (CORPUS / "sequence" / "wait_31_days.toml").read_text("utf-8")
    (tmp_path / "fixed.toml").write_text(text.replace("days = 31", "days = 3"), "utf-8")
    before = dump_database(tmp_path / STATE_DB)
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(Workspace(tmp_path, ["sequence", "apply", "fixed.toml"], env))
    assert (outcome.exit_code, outcome.stderr) == (0, "")
    assert dump_database(tmp_path / STATE_DB)["sequences"] != before["sequences"]


def test_unbroken_mappings_get_as_far_as_the_crm(
    tmp_path: Path,
    seeded_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    network_attempts: list[Any],
) -> None:
    env = _seeded_workspace(tmp_path, seeded_db)
    monkeypatch.chdir(tmp_path)
    outcome = run_in_process(Workspace(tmp_path, ["sync"], env))
    # The mapping cases stop before this point; here the closed loopback port refuses.
    assert outcome.exit_code == 3, outcome.stderr
    assert len(outcome.stderr.splitlines()) == 1
    assert network_attempts
    assert all(address[0] == "127.0.0.1" for address in network_attempts)
