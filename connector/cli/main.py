"""The seqsync command line: global options, command groups, and the one error handler."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperArgument, TyperGroup, TyperOption

# typer >= 0.22 vendors click; older versions depend on it. The vendored one first: click
# itself may be installed too (uvicorn needs it) and its exceptions are not typer's.
try:
    from typer._click import ClickException  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover - depends on the installed typer
    from click import ClickException

from connector.cli import (
    connect_commands,
    doctor_command,
    mock_commands,
    record_commands,
    sequence_commands,
    state_commands,
    stats_commands,
    sync_commands,
    walkthrough,
    web_commands,
)
from connector.cli.state import CliState, get_state, parse_now, set_state
from connector.errors import SeqsyncError
from connector.logs import json_line

_HELP_TYPES = {"str": "TEXT", "int": "INTEGER", "float": "NUMBER", "path": "PATH",
               "Path": "PATH", "datetime": "TIME"}


def _help_type_patch(original: Any) -> Any:
    """The type column of --help: nothing for flags and arguments (the name says it), TEXT /
    INTEGER / PATH or the metavar otherwise, never Python's `<bool>` or `<list[str]>`."""

    def display(param: Any, ctx: Any) -> str | None:
        if isinstance(param, TyperArgument) or getattr(param, "is_flag", False):
            return None
        if param.metavar:
            return str(param.metavar)
        label = str(original(param, ctx) or "").strip("<>")
        if label.startswith("list[") and label.endswith("]"):
            label = label[5:-1]
        return _HELP_TYPES.get(label, label)

    return display


for _kind in (TyperOption, TyperArgument):
    if hasattr(_kind, "display_type_rich"):  # typer >= 0.20 shows Python types there
        _kind.display_type_rich = _help_type_patch(_kind.display_type_rich)  # type: ignore[method-assign]


# Global options may also come after the command (`seqsync sequence list --json`).
GLOBAL_FLAGS = ("--json",)
GLOBAL_VALUES = ("--config", "--now")


def hoist_global_options(args: list[str]) -> list[str]:
    """Move global options found after the command to the front, where click expects them."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest.extend(args[index:])
            break
        if arg in GLOBAL_FLAGS or any(arg.startswith(f"{v}=") for v in GLOBAL_VALUES):
            front.append(arg)
        elif arg in GLOBAL_VALUES and index + 1 < len(args):
            front.extend(args[index : index + 2])
            index += 1
        else:
            rest.append(arg)
        index += 1
    return front + rest


def fail(message: str, code: int) -> typer.Exit:
    """One line on stderr: JSON when the command logs JSON (cron, systemd), else text."""
    if get_state().log_format == "json":
        typer.echo(json_line("error", "seqsync", message, exit_code=code), err=True)
    else:
        typer.echo(f"seqsync: error: {message}", err=True)
    return typer.Exit(code)


class SeqsyncGroup(TyperGroup):
    """Maps every SeqsyncError to its exit code with one line on stderr, no traceback.

    Usage mistakes (unknown option, missing argument) are one line too, exit code 2.
    """

    def main(self, args: Any = None, *rest: Any, **kwargs: Any) -> Any:
        argv = hoist_global_options(list(sys.argv[1:] if args is None else args))
        standalone = kwargs.pop("standalone_mode", True)
        try:
            code = super().main(argv, *rest, standalone_mode=False, **kwargs)
        except ClickException as exc:
            if not standalone:
                raise
            if type(exc).__name__ == "NoArgsIsHelpError":
                exc.show()  # a bare `seqsync` or `seqsync sequence`: the help text
            else:
                typer.echo(f"seqsync: error: {exc.format_message()} (see --help)", err=True)
            sys.exit(exc.exit_code)
        except typer.Abort:
            if not standalone:
                raise
            typer.echo("seqsync: aborted", err=True)
            sys.exit(1)
        if not standalone:
            return code
        sys.exit(code if isinstance(code, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except SeqsyncError as exc:
            raise fail(str(exc), exc.exit_code) from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None
        except Exception as exc:
            if os.environ.get("SEQSYNC_DEBUG") == "1":
                traceback.print_exc()
                raise fail(f"unexpected {type(exc).__name__}: {exc}", 1) from None
            raise fail(
                f"unexpected {type(exc).__name__}: {exc} (SEQSYNC_DEBUG=1 shows the traceback)", 1
            ) from None


app = typer.Typer(
    cls=SeqsyncGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    help="seqsync: sales sequences for leads and opportunities, synced with Dataverse.",
)


@app.callback()
def main(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="Config file (default: $SEQSYNC_CONFIG, ./seqsync.toml)."),
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON.")
    ] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="Run as if it were this ISO 8601 time (UTC).")
    ] = None,
) -> None:
    """seqsync: sales sequences for leads and opportunities, synced with Dataverse."""
    state = CliState(config=config, json=json_output)
    set_state(state)
    ctx.call_on_close(state.close)
    state.now = parse_now(now)


app.add_typer(sequence_commands.app, name="sequence")
app.add_typer(record_commands.app, name="records")
app.add_typer(state_commands.app, name="state")
connect_commands.register(app)
walkthrough.register(app)
sync_commands.register(app)
mock_commands.register(app)
doctor_command.register(app)
web_commands.register(app)
stats_commands.register(app)


def run() -> None:
    app()
