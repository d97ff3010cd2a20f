"""`seqsync mock-server` (from connector.mockserver) and `seqsync demo`."""

from pathlib import Path
from typing import Annotated

import typer

from connector.mockserver.cli import register as register_mock_server


def demo_command(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep config, state and logs in this folder.")
    ] = None,
    web: Annotated[
        bool, typer.Option("--web", help="Serve the web console on the mock instead, signing "
                           "in through the mock's Entra sign-in page.")
    ] = False,
    port: Annotated[int, typer.Option("--port", help="The web console's port (--web).",
                                      min=1, max=65535)] = 8080,
) -> None:
    """Run the product end to end on an embedded mock CRM, day by day (what `make demo` runs);
    with --web, try the web console on it."""
    from connector.demo import run_demo, run_web_demo

    if web:
        run_web_demo(keep, port)
    else:
        run_demo(keep)


def register(app: typer.Typer) -> None:
    register_mock_server(app)
    app.command("demo")(demo_command)
