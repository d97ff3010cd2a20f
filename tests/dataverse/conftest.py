from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import responses

from connector.config import CrmConfig
from connector.dataverse import DataverseClient

ORG = "https://contoso.crm.dynamics.com"
API = f"{ORG}/api/data/v9.2"


class FakeTokens:
    """Hands out numbered tokens; counts forced refreshes."""

    def __init__(self) -> None:
        self.issued = 0
        self.refreshes = 0

    def get_token(self, force_refresh: bool = False) -> str:
        if force_refresh or self.issued == 0:
            self.issued += 1
            self.refreshes += int(force_refresh)
        return f"token-{self.issued}"


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_crm(tmp_path: Path, **overrides: object) -> CrmConfig:
    values: dict[str, object] = {
        "url": ORG,
        "tenant_id": "11111111-1111-1111-1111-111111111111",
        "client_id": "22222222-2222-2222-2222-222222222222",
        "token_cache": tmp_path / "cache.json",
        "max_retries": 4,
        "max_retry_seconds": 100.0,
    }
    values.update(overrides)
    return CrmConfig(**values)


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def crm(tmp_path: Path) -> CrmConfig:
    return make_crm(tmp_path)


@pytest.fixture
def client(crm: CrmConfig, tokens: FakeTokens, sleeps: Sleeps) -> DataverseClient:
    return DataverseClient(crm, tokens, sleep=sleeps)


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=True) as mock:
        yield mock
