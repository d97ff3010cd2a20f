"""`seqsync connect` and `seqsync disconnect`: put records on a sequence or take them off."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Annotated

import typer

from connector import connecting
from connector.cli.sequence_commands import find
from connector.cli.state import get_state
from connector.engine.models import DisconnectRequest, EndReason, RecordOutcome
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


@dataclass
class Tally:
    """Outcomes of a bulk command as they stream in: counts, the first skips, and every row
    only when they are to be listed (a 400,000-record connect keeps counts, not rows)."""

    keep_rows: bool
    listing_asked: bool = False  # --list: keep every row however many
    succeeded: int = 0
    skipped: int = 0
    cancelled: int = 0
    first_skips: list[RecordOutcome] = field(default_factory=list)
    rows: list[RecordOutcome] = field(default_factory=list)

    def add(self, result: BulkResult) -> None:
        self.cancelled += result.cancelled
        for outcome in result.outcomes:
            if outcome.ok:
                self.succeeded += 1
            else:
                self.skipped += 1
                if len(self.first_skips) < SKIPS_KEPT:
                    self.first_skips.append(outcome)
            if self.keep_rows:
                self.rows.append(outcome)
        if self.keep_rows and len(self.rows) > LIST_UP_TO and not self.listing_asked:
            self.keep_rows = False  # too many to list unasked: a summary line instead
            self.rows = []


SKIPS_KEPT = 20  # skipped records named in the output when the rest is only counted
LIST_UP_TO = 100  # more records than this are listed only with --list


def report(tally: Tally, verb: str) -> None:
    """Print per-record results (or a summary line for many); exit 1 when some were skipped,
    2 when all were."""
    out = get_state().out
    data: dict[str, object] = {"succeeded": tally.succeeded, "skipped": tally.skipped,
                               "cancelled_activities": tally.cancelled}
    human: list[object] = []
    if tally.keep_rows:
        rows = [{"record_id": o.record_id, "result": o.status, "reason": o.reason}
                for o in tally.rows]
        data["records"] = rows
        human.append(out.table(["record id", "result", "reason"],
                               ([r["record_id"], r["result"], r["reason"]] for r in rows)))
    else:
        data["first_skipped"] = [{"record_id": o.record_id, "reason": o.reason}
                                 for o in tally.first_skips]
        human.extend(f"skipped {o.record_id}: {o.reason}" for o in tally.first_skips)
    human.append(f"{tally.succeeded} {verb}, {tally.skipped} skipped")
    out.emit(data, *human)  # type: ignore[arg-type]
    if not tally.skipped:
        return
    first = tally.first_skips[0]
    more = f" (and {tally.skipped - 1} more)" if tally.skipped > 1 else ""
    if tally.succeeded == 0:
        raise RuleViolation(f"{first.reason}{more}")
    raise PartialFailure(
        f"{tally.skipped} of {count(tally.succeeded + tally.skipped, 'record')} skipped: "
        f"{first.reason}{more}"
    )


def connect(
    seq: Annotated[str, typer.Argument(help="Sequence name or id.")],
    record_ids: Annotated[list[str] | None, typer.Argument(help="Record ids.")] = None,
    where: Annotated[
        list[str] | None,
        typer.Option("--where", help="COLUMN=VALUE: every open, unconnected matching record."),
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="File of record ids.")] = None,
    list_all: Annotated[
        bool, typer.Option("--list", help=f"List every record even when more than "
                           f"{LIST_UP_TO} (default: a summary line)."),
    ] = False,
) -> None:
    """Connect records to an active sequence (one sequence per record)."""
    found = find(seq)
    ids = [i.strip().lower() for i in record_ids or []]
    if file is not None:
        ids += read_id_file(file)
    if not ids and not where:
        raise InvalidInput("nothing to connect: give record ids, --file or --where")
    app = get_state().app()
    # One transaction per slice: a whole table's worth of ids never sits in one message, nor
    # (with --where) in memory.
    size = connecting.CONNECT_SLICE
    pages: Iterable[list[str]] = (ids[start:start + size] for start in range(0, len(ids), size))
    if where:
        conditions = parse_where(where, get_state().settings, found.entity)
        pages = chain(pages, connecting.open_unconnected_pages(app, found, conditions))
    tally = Tally(keep_rows=True, listing_asked=list_all)
    for page in pages:
        tally.add(connecting.connect_records(app, found, page))
    if where and not ids and tally.succeeded + tally.skipped == 0:
        get_state().out.emit({"succeeded": 0, "skipped": 0, "records": []}, "no records match")
        return
    report(tally, "connected")


def disconnect(
    record_ids: Annotated[list[str], typer.Argument(help="Record ids.")],
) -> None:
    """Disconnect records from their sequence (reason user_disconnected)."""
    ids = [i.strip().lower() for i in record_ids]
    tally = Tally(keep_rows=True)
    tally.add(get_state().app().execute(
        Message.DISCONNECT, DisconnectRequest(ids, EndReason.USER_DISCONNECTED)
    ))
    report(tally, "disconnected")


def register(app: typer.Typer) -> None:
    app.command()(connect)
    app.command()(disconnect)
