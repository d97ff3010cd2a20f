"""`python -m connector.mockserver [options]`: the mock-server command on its own."""

import typer

from .cli import mock_server

app = typer.Typer(add_completion=False)
app.command()(mock_server)

if __name__ == "__main__":
    app()
