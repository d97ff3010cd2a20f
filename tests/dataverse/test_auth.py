"""Real MSAL against a faked Entra (OIDC discovery + token endpoint) served by `responses`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import stat
from pathlib import Path
from urllib.parse import parse_qs

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from connector.dataverse import AuthFailed, DataverseClient, MsalTokenProvider
from connector.errors import InvalidInput

from .conftest import API, ORG, make_crm

AUTHORITY_HOST = "https://127.0.0.1:9443"
TENANT = "11111111-1111-1111-1111-111111111111"
AUTHORITY = f"{AUTHORITY_HOST}/{TENANT}"
TOKEN_URL = f"{AUTHORITY}/oauth2/v2.0/token"
SECRET = "s3cr3t-value-never-logged"


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSYNC_CLIENT_SECRET", SECRET)


def entra(mock: responses.RequestsMock, *, expires_in: int = 3599, tokens: int = 1) -> None:
    mock.get(
        f"{AUTHORITY}/v2.0/.well-known/openid-configuration",
        json={
            "issuer": f"{AUTHORITY}/v2.0",
            "authorization_endpoint": f"{AUTHORITY}/oauth2/v2.0/authorize",
            "token_endpoint": TOKEN_URL,
        },
    )
    for i in range(tokens):
        mock.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": expires_in,
                                   "access_token": f"at-{i + 1}"})


def token_posts(mock: responses.RequestsMock) -> list[dict[str, list[str]]]:
    return [parse_qs(c.request.body) for c in mock.calls if c.request.url == TOKEN_URL]


def crm_for(tmp_path: Path, **kw: object):
    return make_crm(tmp_path, authority_host=AUTHORITY_HOST, tenant_id=TENANT, **kw)


def test_secret_flow_writes_a_0600_cache_and_reuses_it(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock)
        assert MsalTokenProvider(crm).get_token() == "at-1"
        (form,) = token_posts(mock)
    assert form["grant_type"] == ["client_credentials"]
    assert form["scope"] == [f"{ORG}/.default"]
    assert form["client_secret"] == [SECRET]
    assert stat.S_IMODE(os.stat(crm.token_cache).st_mode) == 0o600
    assert "at-1" in crm.token_cache.read_text()
    assert SECRET not in crm.token_cache.read_text()

    # A second run (new provider, same file) takes the token from the cache.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        entra(mock)
        assert MsalTokenProvider(crm).get_token() == "at-1"
        assert token_posts(mock) == []


def test_cache_readable_by_others_is_refused(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    crm.token_cache.write_text("{}")
    os.chmod(crm.token_cache, 0o644)
    with pytest.raises(InvalidInput, match=str(crm.token_cache)) as info:
        MsalTokenProvider(crm)
    assert info.value.exit_code == 2
    assert "\n" not in str(info.value)


def test_token_near_expiry_is_renewed(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock, expires_in=200, tokens=2)  # under 5 minutes left: never served from cache
        provider = MsalTokenProvider(crm)
        assert provider.get_token() == "at-1"
        assert provider.get_token() == "at-2"


def test_force_refresh_asks_again(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock, tokens=2)
        provider = MsalTokenProvider(crm)
        assert provider.get_token() == "at-1"
        assert provider.get_token() == "at-1"
        assert provider.get_token(force_refresh=True) == "at-2"


def test_msal_error_is_auth_failed_without_the_secret(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock, tokens=0)
        mock.post(TOKEN_URL, status=401, json={
            "error": "invalid_client",
            "error_description": "AADSTS7000215: Invalid client secret provided.",
        })
        with pytest.raises(AuthFailed, match="invalid_client") as info:
            MsalTokenProvider(crm).get_token()
    assert info.value.exit_code == 3
    assert SECRET not in str(info.value)
    assert not crm.token_cache.exists()


def test_missing_secret_names_the_variable(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("MY_SECRET", raising=False)
    crm = crm_for(tmp_path, client_secret_env="MY_SECRET")
    with pytest.raises(InvalidInput, match="MY_SECRET"):
        MsalTokenProvider(crm)


def _self_signed(path: Path) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "seqsync-test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(1)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    path.write_bytes(pem + cert.public_bytes(serialization.Encoding.PEM))
    return hashlib.sha1(cert.public_bytes(serialization.Encoding.DER)).hexdigest()


def _jwt_header(assertion: str) -> dict[str, str]:
    head = assertion.split(".")[0]
    return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))


def test_certificate_flow_computes_the_thumbprint(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SEQSYNC_CLIENT_SECRET", raising=False)
    pem = tmp_path / "app.pem"
    thumb = _self_signed(pem)
    crm = crm_for(tmp_path, certificate_path=pem)
    with responses.RequestsMock() as mock:
        entra(mock)
        assert MsalTokenProvider(crm).get_token() == "at-1"
        (form,) = token_posts(mock)
    assert "client_secret" not in form
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    header = _jwt_header(form["client_assertion"][0])
    x5t = header.get("x5t") or header.get("x5t#S256")
    assert base64.urlsafe_b64decode(x5t + "=" * (-len(x5t) % 4)).hex() == thumb


def test_unreadable_certificate_is_a_one_line_error(tmp_path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("not a pem")
    with pytest.raises(InvalidInput, match="certificate_path"):
        MsalTokenProvider(crm_for(tmp_path, certificate_path=bad))


def test_client_with_real_msal_end_to_end(tmp_path, secret_env) -> None:
    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock, tokens=2)
        mock.get(f"{API}/WhoAmI", status=401, json={"error": {"code": "", "message": "expired"}})
        mock.get(f"{API}/WhoAmI", json={"UserId": "u"}, headers={"x-ms-dop-hint": "7"})
        client = DataverseClient(crm, sleep=lambda s: None)
        assert client.whoami() == {"UserId": "u"}
        auths = [c.request.headers.get("Authorization") for c in mock.calls
                 if c.request.url.startswith(API)]
    assert auths == ["Bearer at-1", "Bearer at-2"]
    assert client.concurrency == 7


def test_unreachable_authority_is_crm_unreachable(tmp_path, secret_env) -> None:
    from connector.dataverse import CrmUnreachable

    nothing_answers = responses.RequestsMock(assert_all_requests_are_fired=False)
    with nothing_answers, pytest.raises(CrmUnreachable, match="authority") as info:
        MsalTokenProvider(crm_for(tmp_path)).get_token()
    assert info.value.exit_code == 3


def test_unwritable_cache_location_is_a_warning_and_the_token_is_kept(
    tmp_path, secret_env, caplog
) -> None:
    crm = crm_for(tmp_path, token_cache=tmp_path / "missing-dir" / "cache.json")
    with responses.RequestsMock() as mock:
        entra(mock)
        provider = MsalTokenProvider(crm)
        assert provider.get_token() == "at-1"
        assert provider.get_token() == "at-1"  # from memory: no second token request
        assert len(token_posts(mock)) == 1
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("missing-dir" in w and "cannot write token cache" in w for w in warnings)
    assert not (tmp_path / "missing-dir").exists()


def test_msal_session_does_not_retry_on_its_own(tmp_path) -> None:
    from connector.dataverse.auth import msal_http_client

    adapter = msal_http_client(crm_for(tmp_path)).get_adapter("https://login.example")
    assert adapter.max_retries.total == 0


def test_a_token_call_that_cannot_connect_is_retried_by_the_one_policy(
    tmp_path, secret_env
) -> None:
    import requests

    crm = crm_for(tmp_path)
    with responses.RequestsMock() as mock:
        entra(mock, tokens=0)
        mock.post(TOKEN_URL, body=requests.ConnectionError("reset"))
        mock.post(TOKEN_URL, json={"token_type": "Bearer", "expires_in": 3599,
                                   "access_token": "at-1"})
        mock.get(f"{API}/WhoAmI", json={"UserId": "u"})
        client = DataverseClient(crm, sleep=lambda s: None)
        assert client.whoami() == {"UserId": "u"}
        assert len(token_posts(mock)) == 2  # one failed attempt, one retry: no hidden third
    assert client.metrics.retries == 1
