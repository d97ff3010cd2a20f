"""pytest fixtures for testing code against the mock (entry point `seqsync_mockserver`).

    def test_my_sync(mock_dataverse, monkeypatch):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", mock_dataverse.ca_file)
        ...
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .server import MockDataverse


@pytest.fixture
def mock_dataverse() -> Iterator[MockDataverse]:
    """A fresh, started mock Dataverse for one test."""
    with MockDataverse() as crm:
        yield crm


@pytest.fixture
def mock_dataverse_factory() -> Iterator[Callable[..., MockDataverse]]:
    """Start mocks with your own options: `crm = mock_dataverse_factory(generate={...})`."""
    started: list[MockDataverse] = []

    def make(**kwargs: Any) -> MockDataverse:
        crm = MockDataverse(**kwargs).start()
        started.append(crm)
        return crm

    yield make
    for crm in reversed(started):
        crm.stop()
