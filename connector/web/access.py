"""Who may do what: every page needs a signed-in person with an app role; every change needs a
manager and the session's CSRF token. Page handlers are plain functions run off the event
loop; these wrappers do the checks, the form reading and the error reporting around them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from connector.errors import SeqsyncError
from connector.web.entra import MANAGER
from connector.web.sessions import Session

if TYPE_CHECKING:
    from connector.web.app import Console


class Denied(Exception):
    """403: no role, a viewer asking for a change, or a missing/wrong CSRF token."""


class SignInNeeded(Exception):
    def __init__(self, back: str) -> None:
        super().__init__(back)
        self.back = back


@dataclass
class Ctx:
    request: Request
    session: Session
    console: Console
    form: FormData | None = None

    @property
    def can_change(self) -> bool:
        return self.session.role == MANAGER

    @property
    def user(self) -> str:
        return self.session.username or self.session.name

    def field(self, name: str, default: str = "") -> str:
        value = self.form.get(name) if self.form is not None else None
        return value.strip() if isinstance(value, str) else default

    def fields(self, name: str) -> list[str]:
        if self.form is None:
            return []
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def param(self, name: str) -> str:
        return str(self.request.path_params.get(name) or self.request.query_params.get(name)
                   or "")

    def render(self, template: str, code: int = 200, **values: Any) -> HTMLResponse:
        return self.console.render(self, template, code, **values)


def local_path(value: str, default: str = "/") -> str:
    """`value` if it is a path on this site (never another host: no open redirects)."""
    parts = urlsplit(value)
    if not value.startswith("/") or value.startswith("//") or parts.scheme or parts.netloc:
        return default
    return value


def redirect(path: str) -> RedirectResponse:
    return RedirectResponse(local_path(path), status_code=303)


def _signed_in(request: Request) -> Session:
    console: Console = request.app.state.console
    session = console.sessions.get(request)
    if session is None or not session.signed_in:
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise SignInNeeded(back)
    if session.role is None:
        raise Denied(f"{session.username or session.name} has neither the "
                     f"{console.settings.web.manager_role} nor the "
                     f"{console.settings.web.viewer_role} role")
    return session


Handler = Callable[[Ctx], Response]


def view(handler: Handler) -> Callable[[Request], Any]:
    """A page anyone signed in with a role may see."""

    async def endpoint(request: Request) -> Response:
        session = _signed_in(request)
        ctx = Ctx(request, session, request.app.state.console)
        return await run_in_threadpool(handler, ctx)

    endpoint.__name__ = handler.__name__
    return endpoint


def action(handler: Handler) -> Callable[[Request], Any]:
    """A change: manager only, CSRF token checked. A refused operation (a rule, bad input)
    comes back as a notice on the page the form was on, worded as the CLI words it."""

    async def endpoint(request: Request) -> Response:
        session = _signed_in(request)
        form = await request.form()
        token = form.get("csrf")
        if not session.csrf_ok(token if isinstance(token, str) else None):
            raise Denied("the form's security token is missing or stale: reload the page")
        if session.role != MANAGER:
            raise Denied(f"{session.username or session.name} may look but not change "
                         "(the Sequence.Viewer role)")
        origin = request.headers.get("origin")
        if origin and urlsplit(origin).netloc != request.headers.get("host"):
            raise Denied("the form came from another site")
        ctx = Ctx(request, session, request.app.state.console, form)
        back = local_path(ctx.field("back"), request.url.path)
        try:
            return await run_in_threadpool(handler, ctx)
        except SeqsyncError as exc:
            session.notice(str(exc), "error")
            return redirect(back)

    endpoint.__name__ = handler.__name__
    return endpoint


def sign_in_redirect(exc: SignInNeeded) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.back, safe='')}", status_code=303)
