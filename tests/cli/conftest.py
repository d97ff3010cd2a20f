import pytest
from cli_helpers import Cli
from typer.testing import CliRunner


@pytest.fixture
def cli(tmp_path, monkeypatch, state_url) -> Cli:
    """Every command, on SQLite and on PostgreSQL (`state_url`)."""
    for name in ("SEQSYNC_CONFIG", "SEQSYNC_DEBUG", "SEQSYNC_STATE__URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "seqsync.toml"
    config.write_text(f'[state]\nurl = "{state_url}"\n')
    return Cli(config, CliRunner())
