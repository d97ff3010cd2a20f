"""Entra endpoints with the real MSAL client, and bearer checks on the Web API."""

from __future__ import annotations

import msal
import requests

from connector.mockserver import MockDataverse, make_client_certificate

from .conftest import Api, MakeCrm, error_of, get_token


def _msal(crm: MockDataverse, credential: object) -> msal.ConfidentialClientApplication:
    return msal.ConfidentialClientApplication(
        crm.client_id, authority=crm.authority, client_credential=credential,
        instance_discovery=False,
    )


def test_msal_gets_a_token_with_the_client_secret(crm: MockDataverse) -> None:
    result = _msal(crm, crm.client_secret).acquire_token_for_client([f"{crm.url}/.default"])
    assert result["token_type"] == "Bearer"
    assert result["expires_in"] == 3599
    resp = requests.get(f"{crm.api_url}/WhoAmI", timeout=10,
                        headers={"Authorization": f"Bearer {result['access_token']}"})
    assert resp.status_code == 200


def test_msal_gets_a_token_with_a_registered_certificate(crm: MockDataverse) -> None:
    cert = make_client_certificate()
    crm.register_certificate(cert.cert_pem)
    result = _msal(crm, cert.msal_credential()).acquire_token_for_client([f"{crm.url}/.default"])
    assert "access_token" in result, result


def test_msal_certificate_with_sha256_thumbprint_uses_ps256(crm: MockDataverse) -> None:
    cert = make_client_certificate()
    crm.register_certificate(cert.cert_pem)
    credential = {"private_key": cert.private_key_pem.decode(),
                  "public_certificate": cert.cert_pem.decode()}
    result = _msal(crm, credential).acquire_token_for_client([f"{crm.url}/.default"])
    assert "access_token" in result, result


def test_unregistered_certificate_is_refused(crm: MockDataverse) -> None:
    crm.register_certificate(make_client_certificate().cert_pem)
    other = make_client_certificate()
    result = _msal(crm, other.msal_credential()).acquire_token_for_client([f"{crm.url}/.default"])
    assert result["error"] == "invalid_client"
    assert "AADSTS700027" in result["error_description"]


def test_wrong_secret_and_unknown_client_are_refused(crm: MockDataverse) -> None:
    result = _msal(crm, "not-the-secret").acquire_token_for_client([f"{crm.url}/.default"])
    assert result["error"] == "invalid_client"
    assert "AADSTS7000215" in result["error_description"]
    resp = requests.post(f"{crm.authority}/oauth2/v2.0/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": "someone-else",
        "client_secret": crm.client_secret, "scope": f"{crm.url}/.default"})
    assert resp.status_code == 400 and resp.json()["error"] == "unauthorized_client"


def test_scope_must_be_dot_default_for_this_org(crm: MockDataverse) -> None:
    app = _msal(crm, crm.client_secret)
    result = app.acquire_token_for_client(["https://other.example/.default"])
    assert result["error"] == "invalid_resource"
    result = app.acquire_token_for_client([f"{crm.url}/user_impersonation"])
    assert result["error"] == "invalid_scope"


def test_openid_configuration_for_an_unknown_tenant_is_400(crm: MockDataverse) -> None:
    good = requests.get(f"{crm.authority}/v2.0/.well-known/openid-configuration", timeout=10)
    assert good.json()["token_endpoint"] == f"{crm.authority}/oauth2/v2.0/token"
    bad = requests.get(f"{crm.url}/nope/v2.0/.well-known/openid-configuration", timeout=10)
    assert bad.status_code == 400


def test_missing_and_wrong_tokens_get_401_with_a_dataverse_body(crm: MockDataverse) -> None:
    missing = requests.get(f"{crm.api_url}/leads", timeout=10)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith(
        f"Bearer authorization_uri={crm.authority}")
    assert "MissingCrmAuthenticationToken" in error_of(missing)["message"]
    wrong = requests.get(f"{crm.api_url}/leads", timeout=10,
                         headers={"Authorization": "Bearer abc.def.ghi"})
    assert wrong.status_code == 401
    assert "InvalidAuthTicket" in error_of(wrong)["message"]


def test_expired_tokens_get_401(crm: MockDataverse, api: Api) -> None:
    assert api.get("leads").status_code == 200
    crm.expire_tokens()
    resp = api.get("leads")
    assert resp.status_code == 401
    assert "ExpiredAuthTicket" in error_of(resp)["message"]


def test_token_lifetime_zero_gives_tokens_that_are_already_expired(make_crm: MakeCrm) -> None:
    crm = make_crm(token_lifetime=0)
    token = get_token(crm)
    resp = requests.get(f"{crm.api_url}/leads", timeout=10,
                        headers={"Authorization": f"Bearer {token}"})
    assert resp.status_code == 401


def test_rotated_secret_refuses_the_old_one(crm: MockDataverse) -> None:
    old = crm.client_secret
    crm.set_client_secret("new-secret-value")
    result = _msal(crm, old).acquire_token_for_client([f"{crm.url}/.default"])
    assert result["error"] == "invalid_client"
    assert get_token(crm, "new-secret-value")
