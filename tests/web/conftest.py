"""The web console over a fresh state database, with fake sign-in (fast tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import CLOSED, LEADS, FakeSignIn, sign_in
from starlette.testclient import TestClient

from connector.app import App, open_app
from connector.config import Settings
from connector.pipeline.context import Message
from connector.web.app import create_app


@pytest.fixture
def state(tmp_path: Path) -> Iterator[App]:
    settings = Settings(state={"url": f"sqlite:///{tmp_path / 'state.db'}"})
    with open_app(settings) as app:
        app.execute(Message.RECORD_CHANGED, [*LEADS, CLOSED], table="lead")
        yield app


@pytest.fixture
def browser(state: App) -> Iterator[Callable[[str], TestClient]]:
    """`browser("manager")`: a signed-in client; each call is a separate browser."""
    web = create_app(state.settings, state, FakeSignIn(), sync=lambda: pytest.fail("no sync"))
    clients: list[TestClient] = []

    def open_as(who: str) -> TestClient:
        client = TestClient(web, base_url="https://testserver")
        clients.append(client)
        return sign_in(client, who) if who else client

    yield open_as
    for client in clients:
        client.close()
