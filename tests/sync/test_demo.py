"""`make demo` runs `seqsync demo`: the whole product on the embedded mock must tell its story."""

from __future__ import annotations

from typer.testing import CliRunner

from connector.cli.main import app


def test_the_demo_runs_end_to_end_and_ends_exactly_once(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQSYNC_CONFIG", raising=False)
    result = CliRunner().invoke(app, ["demo", "--keep", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "created in the CRM: 14 email" in out
    assert "disconnected: 1 record_closed, 1 record_deleted" in out
    assert "already connected to sequence 'Cold lead outreach'" in out
    assert "records disassociated (sequence_deleted)" in out
    assert "phonecall" in out and "task" in out
    assert "(exactly once)" in out
    assert (tmp_path / "demo" / "seqsync.db").exists()
    secret_file = (tmp_path / "demo" / "seqsync.toml").read_text()
    assert "client_secret =" not in secret_file  # the secret stays in the environment
