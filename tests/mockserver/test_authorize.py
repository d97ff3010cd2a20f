"""The mock's sign-in for people: authorize page, code + PKCE exchange, signed id tokens."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from html import unescape
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
import requests

from connector.mockserver import MockDataverse

REDIRECT = "http://127.0.0.1:9999/auth/callback"


def _challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip(
        "=")


def _authorize(crm: MockDataverse, verifier: str, user: str, **extra: str) -> str:
    params = {"client_id": crm.client_id, "response_type": "code", "redirect_uri": REDIRECT,
              "scope": "openid profile", "state": "st", "nonce": "n-1",
              "code_challenge": _challenge(verifier), "code_challenge_method": "S256", **extra}
    page = requests.get(f"{crm.authority}/oauth2/v2.0/authorize?{urlencode(params)}", timeout=10)
    assert page.status_code == 200, page.text
    assert "Avery Seller" in page.text and "Sequence.Manager" in page.text
    form = {k: unescape(v) for k, v in re.findall(r'name="([^"]+)" value="([^"]*)"', page.text)
            if k != "login_hint"}
    form["login_hint"] = user
    done = requests.post(f"{crm.authority}/oauth2/v2.0/authorize", data=form, timeout=10,
                         allow_redirects=False)
    assert done.status_code == 302, done.text
    assert done.headers["Location"].startswith(REDIRECT + "?")
    reply = dict(parse_qsl(urlsplit(done.headers["Location"]).query))
    assert reply["state"] == "st"
    return reply["code"]


def _exchange(crm: MockDataverse, code: str, verifier: str, **extra: str) -> requests.Response:
    return requests.post(f"{crm.authority}/oauth2/v2.0/token", timeout=10, data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT,
        "code_verifier": verifier, "client_id": crm.client_id,
        "client_secret": crm.client_secret, **extra})


def test_a_code_becomes_a_signed_id_token_with_roles(crm: MockDataverse) -> None:
    verifier = secrets.token_urlsafe(48)
    code = _authorize(crm, verifier, "avery.seller@contoso.example")
    reply = _exchange(crm, code, verifier)
    assert reply.status_code == 200, reply.text
    token = reply.json()["id_token"]
    discovery = requests.get(f"{crm.authority}/v2.0/.well-known/openid-configuration",
                             timeout=10).json()
    assert discovery["authorization_endpoint"] == f"{crm.authority}/oauth2/v2.0/authorize"
    keys = jwt.PyJWKSet.from_dict(requests.get(discovery["jwks_uri"], timeout=10).json())
    claims = jwt.decode(token, keys.keys[0].key, algorithms=["RS256"], audience=crm.client_id,
                        issuer=discovery["issuer"])
    assert claims["roles"] == ["Sequence.Manager"] and claims["nonce"] == "n-1"
    assert claims["name"] == "Avery Seller" and claims["tid"] == crm.tenant
    again = _exchange(crm, code, verifier)  # a code is good once
    assert again.status_code == 400 and again.json()["error"] == "invalid_grant"


def test_pkce_redirect_and_secret_are_checked(crm: MockDataverse) -> None:
    verifier = secrets.token_urlsafe(48)
    wrong_verifier = _exchange(crm, _authorize(crm, verifier, "blake.seller@contoso.example"),
                               "not-the-verifier")
    assert wrong_verifier.status_code == 400
    assert "AADSTS501481" in wrong_verifier.json()["error_description"]
    wrong_redirect = _exchange(crm, _authorize(crm, verifier, "blake.seller@contoso.example"),
                               verifier, redirect_uri="http://127.0.0.1:1/elsewhere")
    assert wrong_redirect.status_code == 400
    wrong_secret = _exchange(crm, _authorize(crm, verifier, "blake.seller@contoso.example"),
                             verifier, client_secret="guess")
    assert wrong_secret.status_code == 401 and wrong_secret.json()["error"] == "invalid_client"


def test_the_authorize_page_refuses_bad_requests(crm: MockDataverse) -> None:
    base = f"{crm.authority}/oauth2/v2.0/authorize"
    good = {"client_id": crm.client_id, "response_type": "code", "redirect_uri": REDIRECT,
            "code_challenge": _challenge("v"), "code_challenge_method": "S256"}
    for change, said in [
        ({"client_id": "someone-else"}, "AADSTS700016"),
        ({"code_challenge": ""}, "code_challenge"),
        ({"code_challenge_method": "plain"}, "S256"),
        ({"response_type": "token"}, "response_type"),
    ]:
        page = requests.get(f"{base}?{urlencode({**good, **change})}", timeout=10)
        assert page.status_code == 400 and said in page.text, change
    hostile = requests.get(f"{base}?{urlencode({**good, 'state': '<script>x</script>'})}",
                           timeout=10)
    assert "<script>x" not in hostile.text and "&lt;script&gt;" in hostile.text
    nobody = requests.post(base, data={**good, "login_hint": "nobody@contoso.example"},
                           timeout=10)
    assert nobody.status_code == 400 and "AADSTS50034" in nobody.text
    other_tenant = requests.get(f"{crm.url}/other-tenant/oauth2/v2.0/authorize", timeout=10)
    assert other_tenant.status_code == 400 and "AADSTS90002" in other_tenant.text


def test_a_seeded_user_signs_in_with_the_app_roles_of_the_seed(make_crm) -> None:
    crm = make_crm(seed={"systemusers": [{
        "systemuserid": "11111111-1111-4111-8111-111111111111", "fullname": "Dana Director",
        "domainname": "dana@contoso.example", "approles": "Sequence.Manager; Sequence.Viewer",
    }]})
    verifier = secrets.token_urlsafe(48)
    code = _authorize(crm, verifier, "dana@contoso.example")
    claims = jwt.decode(_exchange(crm, code, verifier).json()["id_token"],
                        options={"verify_signature": False})
    assert claims["roles"] == ["Sequence.Manager", "Sequence.Viewer"]
    assert claims["name"] == "Dana Director"
