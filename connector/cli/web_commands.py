"""`seqsync web`: serve the web console."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.cli.state import get_state


def web_command(
    host: Annotated[str | None, typer.Option("--host", help="Address to listen on "
                                             "(default: [web] host, 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port (default: [web] port, 8080).",
                                             min=1, max=65535)] = None,
) -> None:
    """Serve the web console: sequences, the designer, records and outcomes, with Entra
    sign-in (roles Sequence.Manager and Sequence.Viewer)."""
    from connector.web.server import serve

    serve(get_state().settings, host, port)


def register(app: typer.Typer) -> None:
    app.command("web")(web_command)
