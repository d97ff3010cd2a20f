"""`seqsync mock-server` (from connector.mockserver) and `seqsync demo`."""

import typer

from connector.mockserver.cli import register as register_mock_server


def register(app: typer.Typer) -> None:
    register_mock_server(app)
