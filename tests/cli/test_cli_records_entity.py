"""`records list --entity` names a bad table instead of listing nothing."""

from __future__ import annotations

from typer.testing import CliRunner

from connector.cli.main import app


def test_an_unknown_entity_is_an_error_naming_it(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SEQSYNC_CONFIG", raising=False)
    config = tmp_path / "seqsync.toml"
    config.write_text(f'[state]\nurl = "sqlite:///{tmp_path / "state.db"}"\n')
    args = ["--config", str(config), "records", "list", "--entity"]
    result = CliRunner().invoke(app, [*args, "leed"])
    assert result.exit_code == 2
    assert "--entity 'leed'" in result.stderr and "lead" in result.stderr
    ok = CliRunner().invoke(app, [*args, "lead"])
    assert ok.exit_code == 0, ok.output
