"""`seqsync web`: the console under uvicorn, over one opened App."""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn

from connector.app import open_app
from connector.config import Settings
from connector.errors import InvalidInput
from connector.web.app import create_app
from connector.web.entra import EntraSignIn


def serve(
    settings: Settings,
    host: str | None = None,
    port: int | None = None,
    *,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until interrupted (Ctrl-C or SIGTERM)."""
    signin = EntraSignIn(settings)  # refuses a missing tenant, client id or secret up front
    host = host or settings.web.host
    port = port or settings.web.port
    _can_listen(host, port)
    with open_app(settings) as app:
        web = create_app(settings, app, signin)
        address = settings.web.public_url or f"http://{host}:{port}"
        announce(f"seqsync web console on {address} (Ctrl-C stops)")
        uvicorn.run(web, host=host, port=port, log_level=settings.log.level.lower(),
                    access_log=False, server_header=False)


def _can_listen(host: str, port: int) -> None:
    """Refuse a taken port or an unknown address in one line, before anything starts."""
    try:
        with socket.create_server((host, port)):
            pass
    except OSError as exc:
        raise InvalidInput(
            f"[web] cannot listen on {host}:{port}: {exc.strerror or exc} (--host, --port)"
        ) from None
