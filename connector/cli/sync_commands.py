"""Commands the lead registers on the main CLI (filled in as the connector lands)."""

import typer


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""
    del app
