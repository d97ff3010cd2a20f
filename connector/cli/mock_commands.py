"""`seqsync mock-server` (from connector.mockserver) and `seqsync demo`."""

from pathlib import Path
from typing import Annotated

import typer

from connector.mockserver.cli import register as register_mock_server


def demo_command(
    keep: Annotated[
        Path | None, typer.Option("--keep", help="Keep config, state and logs in this folder.")
    ] = None,
) -> None:
    """Run the product end to end on an embedded mock CRM, day by day (what `make demo` runs)."""
    from connector.demo import run_demo

    run_demo(keep)


def register(app: typer.Typer) -> None:
    register_mock_server(app)
    app.command("demo")(demo_command)
