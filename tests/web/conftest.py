"""The web console over a fresh state database, with fake sign-in (fast tests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from console_helpers import FakeSignIn, sign_in
from starlette.testclient import TestClient

from connector.app import App, open_app
from connector.config import Settings
from connector.engine.models import Record
from connector.pipeline.context import Message
from connector.web.app import create_app

LEADS = [
    Record(id=f"00000000-0000-4000-8000-00000000000{n}", table="lead", name=name,
           owner_id="8f0c2a10-0000-4000-8000-00000000aa01")
    for n, name in enumerate(["Nancy Anderson", "Maria Campbell", "<img src=x onerror=alert(1)>",
                              "Paul Cannon"], start=1)
]
CLOSED = Record(id="00000000-0000-4000-8000-000000000009", table="lead", name="Closed Lead",
                is_open=False, statecode=1)


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
