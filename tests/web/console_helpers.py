"""Driving the web console in-process (Starlette's TestClient), as a browser would: sign in,
read the CSRF token and the version off a page, post its forms."""

from __future__ import annotations

import re
import socket
from html import unescape
from typing import Any

from starlette.testclient import TestClient

from connector.engine.models import Record
from connector.web.entra import Identity

LEADS = [
    Record(id=f"00000000-0000-4000-8000-00000000000{n}", table="lead", name=name,
           owner_id="8f0c2a10-0000-4000-8000-00000000aa01")
    for n, name in enumerate(["Nancy Anderson", "Maria Campbell", "<img src=x onerror=alert(1)>",
                              "Paul Cannon"], start=1)
]
CLOSED = Record(id="00000000-0000-4000-8000-000000000009", table="lead", name="Closed Lead",
                is_open=False, statecode=1)

PEOPLE = {
    "manager": Identity("Morgan Manager", "morgan@contoso.example", "m-1", ("Sequence.Manager",)),
    "manager2": Identity("Max Manager", "max@contoso.example", "m-2", ("Sequence.Manager",)),
    "viewer": Identity("Val Viewer", "val@contoso.example", "v-1", ("Sequence.Viewer",)),
    "nobody": Identity("Nora Nobody", "nora@contoso.example", "n-1", ()),
}


class FakeSignIn:
    """Stands in for Entra in the fast tests: the 'code' names the person. The real flow (MSAL
    against the mock's sign-in page) has its own tests."""

    def start(self, redirect_uri: str) -> dict[str, Any]:
        return {"auth_uri": "https://login.test/authorize?state=s1", "state": "s1",
                "redirect_uri": redirect_uri}

    def finish(self, flow: dict[str, Any], reply: dict[str, str]) -> Identity:
        from connector.web.entra import SignInFailed

        if reply.get("state") != flow["state"]:
            raise SignInFailed("the sign-in reply does not match this browser's sign-in")
        return PEOPLE[reply["code"]]


def sign_in(client: TestClient, who: str) -> TestClient:
    start = client.get("/login", follow_redirects=False)
    assert start.status_code == 303 and start.headers["location"].startswith("https://login.test")
    done = client.get(f"/auth/callback?code={who}&state=s1", follow_redirects=False)
    assert done.status_code == 303, done.text
    return client


def field(html: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert match, f"no {name} field on the page"
    return unescape(match.group(1))


def post(client: TestClient, page: str, action: str, **values: Any) -> Any:
    """Post a form found on `page` with the page's csrf (and version, if it has one)."""
    html = client.get(page).text
    data: dict[str, Any] = {"csrf": field(html, "csrf"), "back": page}
    if 'name="version"' in html:
        data["version"] = field(html, "version")
    data.update(values)
    return client.post(action, data=data)


def notices(html: str) -> list[str]:
    return [unescape(re.sub(r"<[^>]+>", "", m)).strip()
            for m in re.findall(r'<div class="notice[^"]*" role="status">\s*<p>(.*?)</p>', html,
                                re.S)]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
