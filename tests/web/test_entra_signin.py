"""Sign-in for real: the console's MSAL flow against the mock's Entra sign-in page, id tokens
checked against the published keys, roles from the token."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from html import unescape
from pathlib import Path

import jwt
import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient
from support.world import World, make_world

from connector.app import open_app
from connector.errors import InvalidInput
from connector.web.app import create_app
from connector.web.entra import EntraSignIn, SignInFailed


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    with make_world(tmp_path, monkeypatch, generate={"leads": 3}) as world:
        yield world


def sign_in_through_mock(client: TestClient, world: World, login: str) -> requests.Response:
    """What the browser does: /login, the mock's page, pick an account, back to the console."""
    start = client.get("/login?next=/outcomes", follow_redirects=False)
    assert start.status_code == 303
    auth_uri = start.headers["location"]
    assert auth_uri.startswith(world.crm.authority + "/oauth2/v2.0/authorize?")
    assert "code_challenge_method=S256" in auth_uri
    page = requests.get(auth_uri, verify=world.crm.ca_file, timeout=10)
    form = {k: unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
            if k != "login_hint"}
    picked = requests.post(auth_uri.split("?")[0], data={**form, "login_hint": login},
                           verify=world.crm.ca_file, timeout=10, allow_redirects=False)
    back = picked.headers["location"]
    assert back.startswith("https://testserver/auth/callback?")
    return client.get(back.removeprefix("https://testserver"), follow_redirects=False)


def test_a_manager_and_a_viewer_sign_in_through_entra(world: World) -> None:
    settings = world.settings
    with open_app(settings) as app:
        web = create_app(settings, app, EntraSignIn(settings))
        with TestClient(web, base_url="https://testserver") as manager:
            done = sign_in_through_mock(manager, world, "avery.seller@contoso.example")
            assert done.status_code == 303 and done.headers["location"] == "/outcomes"
            page = manager.get("/outcomes").text
            assert "Avery Seller" in page and "Sequence manager" in page
            assert 'id="sync-now"' in page
        with TestClient(web, base_url="https://testserver") as viewer:
            sign_in_through_mock(viewer, world, "blake.seller@contoso.example")
            page = viewer.get("/outcomes").text
            assert "Blake Seller" in page and "Viewer" in page and 'id="sync-now"' not in page
        with TestClient(web, base_url="https://testserver") as seller:
            refused = sign_in_through_mock(seller, world, "casey.seller@contoso.example")
            assert refused.status_code == 403 and "neither the Sequence.Manager" in refused.text


def test_an_id_token_signed_by_anyone_else_is_refused(world: World) -> None:
    signin = EntraSignIn(world.settings)
    crm = world.crm
    keys = requests.get(f"{crm.authority}/discovery/v2.0/keys", verify=crm.ca_file,
                        timeout=10).json()["keys"]
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    claims = {"aud": crm.client_id, "iss": f"{crm.authority}/v2.0", "iat": now, "exp": now + 600,
              "roles": ["Sequence.Manager"], "name": "Mallory"}
    forged = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": keys[0]["kid"]})
    with pytest.raises(SignInFailed, match="Signature verification failed"):
        signin._verify(forged)
    unknown = jwt.encode(claims, forger, algorithm="RS256", headers={"kid": "other"})
    with pytest.raises(SignInFailed, match="unknown key"):
        signin._verify(unknown)


def test_sign_in_needs_a_secret(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    world.write_config(web={"client_secret_env": "SEQSYNC_NO_SUCH_SECRET"})
    monkeypatch.delenv("SEQSYNC_NO_SUCH_SECRET", raising=False)
    with pytest.raises(InvalidInput, match="SEQSYNC_NO_SUCH_SECRET"):
        EntraSignIn(world.settings)
