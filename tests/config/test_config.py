"""Configuration: file discovery, environment overrides, and errors that name the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import BaseModel

from connector.config import ConfigError, Settings, load_settings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("SEQSYNC_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


def write(tmp_path: Path, text: str, name: str = "seqsync.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_every_key_is_documented_in_the_example_and_the_example_loads() -> None:
    text = (REPO / "config.example.toml").read_text(encoding="utf-8")
    for section, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, BaseModel)
        assert re.search(rf"^\[{section}\]", text, re.M), section
        for key, sub in model.model_fields.items():
            if isinstance(sub.annotation, type) and issubclass(sub.annotation, BaseModel):
                assert re.search(rf"^\[{section}\.{key}\]", text, re.M), f"{section}.{key}"
                continue
            assert re.search(rf"^#? ?{key} = ", text, re.M), f"[{section}] {key} undocumented"
    settings = load_settings(REPO / "config.example.toml")
    assert settings.state.url == f"sqlite:///{REPO / 'seqsync.db'}"  # beside the file


def test_the_file_is_found_by_flag_env_or_working_directory(tmp_path, monkeypatch) -> None:
    assert load_settings().source == "configuration"  # no file anywhere: defaults
    write(tmp_path, '[sync]\npage_size = 10\n')
    assert load_settings().sync.page_size == 10
    other = write(tmp_path, '[sync]\npage_size = 20\n', "other.toml")
    monkeypatch.setenv("SEQSYNC_CONFIG", str(other))
    assert load_settings().sync.page_size == 20
    explicit = write(tmp_path, '[sync]\npage_size = 30\n', "explicit.toml")
    assert load_settings(explicit).sync.page_size == 30


def test_environment_variables_override_the_file(tmp_path, monkeypatch) -> None:
    path = write(tmp_path, '[crm]\nurl = "https://a.crm.dynamics.com"\n[sync]\nbatch_size = 7\n')
    monkeypatch.setenv("SEQSYNC_SYNC__BATCH_SIZE", "500")
    monkeypatch.setenv("SEQSYNC_CRM__CLIENT_ID", "abc")
    settings = load_settings(path)
    assert settings.sync.batch_size == 500
    assert settings.crm.client_id == "abc"
    assert settings.crm.url == "https://a.crm.dynamics.com"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[sync]\nbogus = 1\n", "[sync] bogus"),
        ("bogus = 1\n", "bogus"),
        ("[nosuchsection]\nx = 1\n", "nosuchsection"),
        ("[sync]\npage_size = 0\n", "[sync] page_size"),
        ("[sync]\npage_size = 5001\n", "[sync] page_size"),
        ("[sync]\nbatch_size = \"many\"\n", "[sync] batch_size"),
        ('[crm]\nurl = "http://contoso.crm.dynamics.com"\n', "https://"),
        ('[crm]\nauthority_host = "http://login.example"\n', "[crm] authority_host"),
        ('[log]\nformat = "xml"\n', "[log] format"),
        ("[state\nurl = 1\n", "invalid TOML"),
    ],
)
def test_bad_files_name_the_file_and_key(tmp_path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    message = str(caught.value)
    assert message.startswith(str(path))
    assert expected in message
    assert "\n" not in message


def test_bad_environment_values_name_the_variable(monkeypatch) -> None:
    monkeypatch.setenv("SEQSYNC_SYNC__PAGE_SIZE", "lots")
    with pytest.raises(ConfigError, match="SEQSYNC_SYNC__PAGE_SIZE"):
        load_settings()
    monkeypatch.delenv("SEQSYNC_SYNC__PAGE_SIZE")
    monkeypatch.setenv("SEQSYNC_CRM__NOPE", "1")
    with pytest.raises(ConfigError, match=r"\[crm\] nope .*unknown key"):
        load_settings()


def test_a_missing_or_binary_file_is_a_one_line_error(tmp_path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml")
    binary = tmp_path / "garbage.toml"
    binary.write_bytes(bytes(range(256)))
    with pytest.raises(ConfigError, match=r"garbage\.toml"):
        load_settings(binary)
