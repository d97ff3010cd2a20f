"""Issue 10, defect 3: the token cache is keyed by the credential (a hash, never the secret), so
a changed client secret is used at once instead of hiding behind a cached token."""

from __future__ import annotations

import json
import os
import stat

import pytest
from support.world import SECRET_ENV, T0, World


def test_a_wrong_secret_is_refused_even_with_a_cached_token(env: World, monkeypatch) -> None:
    assert env.cli("sync", now=T0).exit_code == 0
    cache = env.folder / "token-cache.json"
    text = cache.read_text()
    assert env.crm.client_secret not in text
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert len(json.loads(text)["credential"]) == 64  # a sha256, not the secret

    monkeypatch.setenv(SECRET_ENV, "a-wrong-secret-pasted-by-mistake")
    result = env.cli("sync", now=T0)
    assert result.exit_code == 3, result.output
    assert "token request refused" in result.stderr
    assert "a-wrong-secret-pasted-by-mistake" not in result.stderr + result.stdout

    # Back to the right secret: it works, and the cache is rewritten for it.
    monkeypatch.setenv(SECRET_ENV, env.crm.client_secret)
    assert env.cli("sync", now=T0).exit_code == 0


def test_the_same_credential_reuses_the_cached_token(env: World) -> None:
    assert env.cli("sync", now=T0).exit_code == 0
    cache = env.folder / "token-cache.json"
    first = json.loads(cache.read_text())["msal"]
    assert '"AccessToken"' in first
    assert env.cli("sync", now=T0).exit_code == 0
    assert json.loads(cache.read_text())["msal"] == first  # no new token was fetched


@pytest.fixture
def env(tmp_path, monkeypatch):
    from support.world import make_world

    with make_world(tmp_path, monkeypatch, generate={"leads": 3}) as world:
        yield world
