"""Sign-in and sign-out pages: /login starts the Entra flow, /auth/callback finishes it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from connector.errors import SeqsyncError
from connector.web.access import Denied, local_path, redirect
from connector.web.entra import role_of
from connector.web.sessions import PENDING_SIGNIN_SECONDS

if TYPE_CHECKING:
    from connector.web.app import Console

CALLBACK = "/auth/callback"


def redirect_uri(console: Console, request: Request) -> str:
    web = console.settings.web
    base = web.public_url or f"{request.url.scheme}://{request.headers.get('host', '')}"
    return base.rstrip("/") + CALLBACK


async def login(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.sessions.new(PENDING_SIGNIN_SECONDS)
    session.after_signin = local_path(request.query_params.get("next", "/"))
    try:
        session.flow = await run_in_threadpool(
            console.signin.start, redirect_uri(console, request)
        )
    except SeqsyncError as exc:
        console.sessions.drop(session)
        return console.page("error.html", 502, title="Sign-in unavailable", message=str(exc))
    response = RedirectResponse(session.flow["auth_uri"], status_code=303)
    console.sessions.set_cookie(response, session)
    return response


async def callback(request: Request) -> Response:
    console: Console = request.app.state.console
    pending = console.sessions.get(request)
    if pending is None or pending.flow is None:
        return console.page("error.html", 400, title="Sign-in failed",
                            message="this sign-in was not started here or took too long: "
                                    "sign in again")
    reply = dict(request.query_params)
    try:
        identity = await run_in_threadpool(console.signin.finish, pending.flow, reply)
    except SeqsyncError as exc:
        console.sessions.drop(pending)
        return console.page("error.html", 401, title="Sign-in failed", message=str(exc))
    session = console.sessions.renew(pending)
    session.signed_in = True
    session.name, session.username = identity.name, identity.username
    session.role = role_of(identity, console.settings)
    response: Response
    if session.role is None:
        console.sessions.drop(session)
        response = console.page("error.html", 403, title="Not allowed", message=(
            f"{identity.username or identity.name} has neither the "
            f"{console.settings.web.manager_role} nor the {console.settings.web.viewer_role} "
            "app role"))
        console.sessions.clear_cookie(response)
        return response
    response = redirect(pending.after_signin)
    console.sessions.set_cookie(response, session)
    return response


async def logout(request: Request) -> Response:
    console: Console = request.app.state.console
    session = console.sessions.get(request)
    form = await request.form()
    token = form.get("csrf")
    if session is not None and not session.csrf_ok(token if isinstance(token, str) else None):
        raise Denied("the form's security token is missing or stale: reload the page")
    if session is not None:
        console.sessions.drop(session)
    response = console.page("signed_out.html", 200, title="Signed out")
    console.sessions.clear_cookie(response)
    return response


routes = [
    Route("/login", login, methods=["GET"]),
    Route(CALLBACK, callback, methods=["GET"]),
    Route("/logout", logout, methods=["POST"]),
]
