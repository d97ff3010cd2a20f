"""Configuration, global options, exit codes, and the command run as a real process."""

import json
import os
import subprocess
import sys

import pytest
import typer
from cli_helpers import NOW
from typer.testing import CliRunner

from connector.cli import main as cli_main
from connector.cli.main import SeqsyncGroup, hoist_global_options
from connector.errors import CrmUnavailable, LockHeld, RuleViolation


def test_unknown_config_key_is_named(cli):
    cli.config.write_text(cli.config.read_text() + "\n[sync]\npage_sise = 10\n")
    err = cli("sequence", "list", code=2).stderr
    assert f"{cli.config}: [sync] page_sise" in err and "unknown key" in err


def test_bad_config_value_and_missing_file(cli, tmp_path):
    cli.config.write_text("[log]\nlevel = 'LOUD'\n")
    assert "[log] level" in cli("sequence", "list", code=2).stderr
    runner = CliRunner()
    result = runner.invoke(cli_main.app, ["--config", str(tmp_path / "none.toml"), "records",
                                          "list"])
    assert result.exit_code == 2 and "config file not found" in result.stderr


def test_environment_overrides_the_file(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQSYNC_STATE__URL", f"sqlite:///{tmp_path / 'other.db'}")
    cli("sequence", "create", "S", "--entity", "lead")
    assert (tmp_path / "other.db").exists()


def test_config_from_environment_variable_and_working_directory(cli, monkeypatch):
    runner = CliRunner()
    monkeypatch.setenv("SEQSYNC_CONFIG", str(cli.config))
    assert runner.invoke(cli_main.app, ["sequence", "list"]).exit_code == 0
    monkeypatch.delenv("SEQSYNC_CONFIG")
    assert runner.invoke(cli_main.app, ["sequence", "list"]).exit_code == 0  # ./seqsync.toml


def test_bad_now_and_usage_errors(cli):
    result = CliRunner().invoke(cli_main.app, ["--now", "yesterday", "sequence", "list"])
    assert result.exit_code == 2 and "--now 'yesterday': expected an ISO 8601" in result.stderr
    err = cli("sequence", "list", "--bogus", code=2).stderr
    assert "No such option: --bogus" in err
    assert "Missing option '--entity'" in cli("sequence", "create", "X", code=2).stderr


def test_hoisting_global_options():
    assert hoist_global_options(["sequence", "list", "--json", "--config", "a.toml"]) == [
        "--json", "--config", "a.toml", "sequence", "list"]
    assert hoist_global_options(["--now=2026-01-01", "connect", "S", "--", "--json"]) == [
        "--now=2026-01-01", "connect", "S", "--", "--json"]


@pytest.mark.parametrize(
    ("error", "code"),
    [(RuleViolation("no"), 2), (CrmUnavailable("CRM at https://x refused"), 3),
     (LockHeld("another sync run holds the lock"), 75)],
)
def test_every_seqsync_error_maps_to_its_exit_code(error, code):
    demo = typer.Typer(cls=SeqsyncGroup)

    @demo.command()
    def boom() -> None:
        raise error

    @demo.command()
    def fine() -> None:
        print("ok")

    result = CliRunner().invoke(demo, ["boom"])
    assert result.exit_code == code
    assert result.stderr == f"seqsync: error: {error}\n"
    assert CliRunner().invoke(demo, ["fine"]).exit_code == 0


def test_unexpected_errors_are_one_line_unless_debugging(cli, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("gremlins")

    monkeypatch.setattr("connector.cli.sequence_commands.seq_store.list_sequences", broken)
    result = cli("sequence", "list", code=1)
    assert result.stderr.startswith("seqsync: error: unexpected RuntimeError: gremlins")
    assert "Traceback" not in result.stderr
    monkeypatch.setenv("SEQSYNC_DEBUG", "1")
    result = CliRunner().invoke(cli_main.app, ["--config", str(cli.config), "sequence", "list"])
    assert result.exit_code == 1 and "Traceback" in result.stderr


def test_walkthrough_runs_on_a_throw_away_database(cli, tmp_path):
    out = cli("walkthrough").stdout
    assert "Activate" in out and "2 activities queued" in out and "Nancy Anderson" in out
    assert not (tmp_path / "state.db").exists()  # the user's state was not touched


def run(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "connector", *args], cwd=cwd, capture_output=True, text=True,
        env={**os.environ, **(env or {})}, timeout=60,
    )


def test_python_dash_m_connector_works_like_seqsync(cli, tmp_path):
    created = run("--json", "--now", NOW, "sequence", "create", "Sub", "--entity", "lead",
                  cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert json.loads(created.stdout)["name"] == "Sub"
    listed = run("sequence", "list", "--json", cwd=tmp_path)
    assert [s["name"] for s in json.loads(listed.stdout)] == ["Sub"]


def test_process_errors_are_one_line_with_the_exit_code(cli, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "x"\nentity = "lead"\n[[steps]]\ntype = "wait"\ndays = 3\n')
    result = run("sequence", "apply", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == (f"seqsync: error: {bad}: [[steps]]: step 1 (wait): a sequence "
                             "cannot start with a wait\n")
