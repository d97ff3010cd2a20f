"""Issue 10, defects 4 and 6: paths relative to the config file; URLs and ids checked up front."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from connector.cli.main import app
from connector.config import ConfigError, load_settings


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEQSYNC_"):
            monkeypatch.delenv(name)


def test_cron_in_home_uses_the_state_beside_the_config_file(tmp_path, monkeypatch) -> None:
    project = tmp_path / "etc-seqsync"
    project.mkdir()
    config = project / "seqsync.toml"
    config.write_text('[state]\nurl = "sqlite:///state/seqsync.db"\n'
                      '[crm]\ntoken_cache = "cache.json"\nca_bundle = "ca.pem"\n'
                      '[sync]\nlock_file = "run.lock"\nmappings_dir = "maps"\n'
                      '[web]\nca_bundle = "signin-ca.pem"\n')
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.chdir(home)  # where cron starts
    result = CliRunner().invoke(app, ["--config", str(config), "sequence", "list", "--json"])
    assert result.exit_code == 0, result.output
    assert (project / "state" / "seqsync.db").exists()
    assert not list(home.iterdir()), "nothing may be created in the working directory"
    settings = load_settings(config)
    assert settings.crm.token_cache == project / "cache.json"
    assert settings.crm.ca_bundle == project / "ca.pem"
    assert settings.web.ca_bundle == project / "signin-ca.pem"
    assert settings.sync.lock_file == project / "run.lock"
    assert settings.sync.mappings_dir == project / "maps"


def test_absolute_and_non_sqlite_urls_are_left_alone(tmp_path) -> None:
    config = tmp_path / "seqsync.toml"
    config.write_text('[state]\nurl = "postgresql+psycopg://u@db/seqsync"\n'
                      '[crm]\ntoken_cache = "/var/lib/seqsync/cache.json"\n')
    settings = load_settings(config)
    assert settings.state.url == "postgresql+psycopg://u@db/seqsync"
    assert settings.crm.token_cache == Path("/var/lib/seqsync/cache.json")
    config.write_text('[state]\nurl = "sqlite:////abs/seqsync.db"\n')
    assert load_settings(config).state.url == "sqlite:////abs/seqsync.db"


def test_a_trailing_space_in_the_url_and_ids_is_normalised(tmp_path) -> None:
    config = tmp_path / "seqsync.toml"
    config.write_text(
        '[crm]\nurl = "https://org.crm.dynamics.com/ "\n'
        'tenant_id = " 11111111-2222-3333-4444-55555555AAAA "\n'
        'client_id = "22222222-3333-4444-5555-666666666666 "\n'
    )
    crm = load_settings(config).crm
    assert crm.url == "https://org.crm.dynamics.com"
    assert crm.tenant_id == "11111111-2222-3333-4444-55555555aaaa"
    assert crm.client_id == "22222222-3333-4444-5555-666666666666"


@pytest.mark.parametrize(
    ("line", "key"),
    [
        ('url = "https://org crm.dynamics.com"', "[crm] url"),
        ('url = "https://org.crm.dynamics.com/api/data/v9.2"', "[crm] url"),
        ('url = "https://org.crm.dynamics.com?x=1"', "[crm] url"),
        ('url = "https://"', "[crm] url"),
        ('authority_host = "https://login.microsoftonline.com /"', "[crm] authority_host"),
        ('tenant_id = "contoso tenant"', "[crm] tenant_id"),
        ('client_id = "abc/def"', "[crm] client_id"),
    ],
)
def test_a_bad_url_or_id_is_exit_2_naming_the_key(tmp_path, line: str, key: str) -> None:
    config = tmp_path / "seqsync.toml"
    config.write_text(f"[crm]\n{line}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert str(caught.value).startswith(f"{config}: {key}")
    result = CliRunner().invoke(app, ["--config", str(config), "sync"])
    assert result.exit_code == 2
    assert key in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
