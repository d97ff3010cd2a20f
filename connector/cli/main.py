"""The seqsync command line. Placeholder: the CLI issue replaces this module."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def main() -> None:
    """seqsync: sales sequences synced with Dataverse."""


def run() -> None:
    app()
