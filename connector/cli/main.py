"""The seqsync command line (placeholder until the CLI lands)."""

import typer

app = typer.Typer(no_args_is_help=True)


@app.callback()
def main() -> None:
    """seqsync: sales sequences synced with Dataverse."""


def run() -> None:
    app()
