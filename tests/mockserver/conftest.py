"""Shared helpers: a started mock, and a `requests` client that talks to it like the docs do."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests

from connector.mockserver import MockDataverse


def get_token(crm: MockDataverse, secret: str | None = None) -> str:
    resp = requests.post(
        f"{crm.authority}/oauth2/v2.0/token",
        data={
            "grant_type": "client_credentials", "client_id": crm.client_id,
            "client_secret": secret or crm.client_secret, "scope": f"{crm.url}/.default",
        },
        timeout=10,
    )
    assert resp.status_code == 200, resp.text
    return resp.json()["access_token"]


class Api:
    """`requests` with the baseline headers from the Dataverse docs."""

    def __init__(self, crm: MockDataverse) -> None:
        self.crm = crm
        self.session = requests.Session()
        self.session.headers.update({
            "Accept": "application/json", "OData-MaxVersion": "4.0", "OData-Version": "4.0",
            "Authorization": f"Bearer {get_token(crm)}",
        })

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.crm.api_url}/{path}"

    def request(self, method: str, path: str, **kw: Any) -> requests.Response:
        return self.session.request(method, self.url(path), timeout=30, **kw)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> requests.Response:
        return self.request("POST", path, **kw)

    def patch(self, path: str, **kw: Any) -> requests.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.request("DELETE", path, **kw)

    def create(self, entity_set: str, body: dict[str, Any]) -> str:
        resp = self.post(entity_set, json=body)
        assert resp.status_code == 204, resp.text
        return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def error_of(resp: requests.Response) -> dict[str, str]:
    body = resp.json()
    assert set(body) == {"error"}, body
    return body["error"]


@pytest.fixture
def crm(mock_dataverse: MockDataverse, monkeypatch: pytest.MonkeyPatch) -> MockDataverse:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", mock_dataverse.ca_file)
    return mock_dataverse


@pytest.fixture
def api(crm: MockDataverse) -> Api:
    return Api(crm)


@pytest.fixture
def make_crm(
    mock_dataverse_factory: Callable[..., MockDataverse], monkeypatch: pytest.MonkeyPatch
) -> Callable[..., MockDataverse]:
    def make(**kwargs: Any) -> MockDataverse:
        crm = mock_dataverse_factory(**kwargs)
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", crm.ca_file)
        return crm

    return make


MakeCrm = Callable[..., MockDataverse]


def new_id() -> str:
    return str(uuid.uuid4())
