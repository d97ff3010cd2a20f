"""The web console as an ASGI application (Starlette, server-rendered Jinja2 pages)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.app import App
from connector.config import Settings
from connector.errors import NotFound
from connector.labels import step_label, when
from connector.sync.report import RunReport
from connector.sync.run import run_sync
from connector.web import designer, login, outcomes, records, sequences
from connector.web.access import Ctx, Denied, SignInNeeded, sign_in_redirect
from connector.web.entra import Identity
from connector.web.sessions import Sessions

HERE = Path(__file__).resolve().parent

# No inline script or style anywhere: pages load /static files only; charts are SVG shapes.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    # same-origin, not no-referrer: with no-referrer, browsers send `Origin: null` on POSTs.
    (b"referrer-policy", b"same-origin"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]


class SignInProvider(Protocol):
    def start(self, redirect_uri: str) -> dict[str, Any]: ...

    def finish(self, flow: dict[str, Any], reply: dict[str, str]) -> Identity: ...


@dataclass
class Console:
    """What every page needs: settings, the opened App, sign-in, sessions and templates."""

    settings: Settings
    app: App
    signin: SignInProvider
    sessions: Sessions
    env: Environment
    sync: Callable[[], RunReport]
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))

    def render(self, ctx: Ctx, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        page = self.env.get_template(template).render(
            me=ctx.session, can_change=ctx.can_change, csrf=ctx.session.csrf,
            notices=ctx.session.take_notices(), here=ctx.request.url.path, **values,
        )
        return HTMLResponse(page, status_code=code)

    def page(self, template: str, status: int, **values: Any) -> HTMLResponse:
        """A page for someone not (yet) signed in: errors, sign-out."""
        html = self.env.get_template(template).render(
            me=None, can_change=False, csrf="", notices=[], here="", **values
        )
        return HTMLResponse(html, status_code=status)


def templates(zone: tzinfo | None = None) -> Environment:
    """The page templates; times are shown in `zone` ([display] timezone), as the CLI does."""
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=True, undefined=StrictUndefined
    )
    env.filters["when"] = lambda value: when(value, zone)
    env.filters["step_label"] = step_label
    return env


class SecurityHeaders:
    """Adds the CSP and friends to every response, static files included."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(n, v) for n, v in SECURITY_HEADERS if n not in names]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(
    settings: Settings,
    app: App,
    signin: SignInProvider,
    *,
    sync: Callable[[], RunReport] | None = None,
) -> Starlette:
    """The console over an opened App. `signin` is Entra (EntraSignIn) in real use."""
    console = Console(
        settings=settings, app=app, signin=signin,
        sessions=Sessions(settings.web.session_minutes, settings.web.secure_cookies),
        env=templates(ZoneInfo(settings.display.timezone)),
        sync=sync or (lambda: run_sync(settings)),
    )

    async def denied(request: Request, exc: Exception) -> Response:
        return console.page("error.html", 403, title="Not allowed", message=str(exc))

    async def missing(request: Request, exc: Exception) -> Response:
        return console.page("error.html", 404, title="Not found", message=str(exc))

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return console.page("error.html", exc.status_code, title="Error", message=exc.detail)

    async def need_sign_in(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SignInNeeded)
        return sign_in_redirect(exc)

    routes = [
        *login.routes, *sequences.routes, *designer.routes, *records.routes,
        *outcomes.routes,
        Mount("/static", app=StaticFiles(directory=HERE / "static"), name="static"),
    ]
    web = Starlette(
        routes=routes,
        middleware=[Middleware(SecurityHeaders)],
        exception_handlers={
            Denied: denied, NotFound: missing, SignInNeeded: need_sign_in,
            HTTPException: http_error,
        },
    )
    web.state.console = console
    return web
