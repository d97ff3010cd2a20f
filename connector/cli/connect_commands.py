"""`seqsync connect` and `seqsync disconnect`: put records on a sequence or take them off."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from connector import connecting
from connector.cli.sequence_commands import find
from connector.cli.state import get_state
from connector.engine.models import DisconnectRequest, EndReason
from connector.errors import EXIT_PARTIAL, InvalidInput, RuleViolation, SeqsyncError
from connector.pipeline.context import Message
from connector.pipeline.results import BulkResult
from connector.where import parse_where
from connector.wording import count


class PartialFailure(SeqsyncError):
    """Some records were done, some were skipped (each one is listed)."""

    exit_code = EXIT_PARTIAL


def read_id_file(path: Path) -> list[str]:
    """One record id per line; blank lines and # comments are ignored."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot read: {exc.strerror or exc}") from None
    return [rid.lower() for line in lines if (rid := line.split("#", 1)[0].strip())]


def report(result: BulkResult, verb: str) -> None:
    """Print per-record results; exit 1 when some were skipped, 2 when all were."""
    out = get_state().out
    rows = [{"record_id": o.record_id, "result": o.status, "reason": o.reason}
            for o in result.outcomes]
    out.emit(
        {"succeeded": result.succeeded, "skipped": len(result.skipped), "records": rows,
         "cancelled_activities": result.cancelled},
        out.table(["record id", "result", "reason"],
                  ([r["record_id"], r["result"], r["reason"]] for r in rows)),
        f"{result.succeeded} {verb}, {len(result.skipped)} skipped",
    )
    skipped = result.skipped
    if not skipped:
        return
    more = f" (and {len(skipped) - 1} more)" if len(skipped) > 1 else ""
    if result.succeeded == 0:
        raise RuleViolation(f"{skipped[0].reason}{more}")
    raise PartialFailure(
        f"{len(skipped)} of {count(len(result.outcomes), 'record')} skipped: "
        f"{skipped[0].reason}{more}"
    )


def connect(
    seq: Annotated[str, typer.Argument(help="Sequence name or id.")],
    record_ids: Annotated[list[str] | None, typer.Argument(help="Record ids.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="COLUMN=VALUE: every open, unconnected matching record."),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="File of record ids.")] = None,
) -> None:
    """Connect records to an active sequence (one sequence per record)."""
    found = find(seq)
    ids = [i.strip().lower() for i in record_ids or []]
    if file is not None:
        ids += read_id_file(file)
    app = get_state().app()
    if where:
        conditions = parse_where(where, get_state().settings, found.entity)
        ids += connecting.open_unconnected_ids(app, found, conditions)
        if not ids:
            get_state().out.emit({"succeeded": 0, "skipped": 0, "records": []},
                                 "no records match")
            return
    if not ids:
        raise InvalidInput("nothing to connect: give record ids, --file or --where")
    result = connecting.connect_records(app, found, ids)
    report(result, "connected")


def disconnect(
    record_ids: Annotated[list[str], typer.Argument(help="Record ids.")],
) -> None:
    """Disconnect records from their sequence (reason user_disconnected)."""
    ids = [i.strip().lower() for i in record_ids]
    result = get_state().app().execute(
        Message.DISCONNECT, DisconnectRequest(ids, EndReason.USER_DISCONNECTED)
    )
    report(result, "disconnected")


def register(app: typer.Typer) -> None:
    app.command()(connect)
    app.command()(disconnect)
