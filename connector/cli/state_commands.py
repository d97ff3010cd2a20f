"""`seqsync state ...`: the state database itself (moving an installation)."""

from __future__ import annotations

from typing import Annotated

import typer

from connector.app import copy_state_to
from connector.cli.state import get_state

app = typer.Typer(no_args_is_help=True, help="The state database itself.")


@app.command("copy")
def copy(
    to: Annotated[str, typer.Option("--to", help="SQLAlchemy URL of an EMPTY database, e.g. "
                                    "postgresql+psycopg://user@host:5432/seqsync")],
) -> None:
    """Copy every table of this state into an empty database, then verify the counts."""
    state = get_state()
    copied = copy_state_to(state.settings, to)
    state.out.emit(
        {"copied": copied},
        state.out.table(("table", "source rows", "target rows"),
                        [(c.name, c.source, c.target) for c in copied]),
        f"copied {sum(c.target for c in copied)} rows; every table's count verified. Point "
        "[state] url at the new database for the next run.",
    )
