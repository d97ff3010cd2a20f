"""`seqsync sequence stats SEQ` and `seqsync stats`: how sequences work, from their history."""

from __future__ import annotations

import csv
import sys
from datetime import datetime
from typing import Annotated, Any

import typer

from connector.cli import sequence_commands
from connector.cli.state import get_state, parse_now
from connector.engine.stats import SUCCESS_DEFINITION, SequenceStats, sequence_stats
from connector.errors import InvalidInput
from connector.store import sequences as seq_store
from connector.store import stats as stats_store

Since = Annotated[str | None, typer.Option(
    "--since", help="Only history from this date or time on (ISO 8601, UTC).")]
Csv = Annotated[bool, typer.Option("--csv", help="Print CSV instead of tables.")]


def parse_since(value: str | None) -> datetime | None:
    return parse_now(value, "--since", "a date like 2026-03-01")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes = round(seconds / 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {minutes:02d}m"


def rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _summary_json(stats: SequenceStats) -> dict[str, Any]:
    return {
        "sequence": stats.name, "id": stats.sequence_id,
        "since": stats.since.isoformat() if stats.since else None,
        "connected": stats.connected, "active": stats.active, "completed": stats.completed,
        "ended": dict(stats.ended), "ended_total": stats.ended_total,
        "successes": stats.successes, "success_rate": stats.success_rate,
    }


def stats_json(stats: SequenceStats) -> dict[str, Any]:
    return {
        **_summary_json(stats),
        "success_definition": SUCCESS_DEFINITION,
        "steps": [
            {
                "position": s.position, "id": s.step.id, "type": s.step.type.value,
                "name": s.step.name, "reached": s.reached, "completed": s.completed,
                "skipped": s.skipped, "ended_here": s.ended_here,
                "median_seconds_on_step": s.median_seconds, "branches": dict(s.branches),
            }
            for s in stats.steps
        ],
    }


def _write_csv(header: list[str], rows: list[list[Any]]) -> None:
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)


def _csv_rows(stats: SequenceStats) -> list[list[Any]]:
    """Long form, one figure a row: sequence-wide figures first, then each step's."""
    rows: list[list[Any]] = [
        ["sequence", "", "", "", key, value]
        for key, value in _summary_json(stats).items()
        if key not in ("sequence", "id", "since", "ended")
    ]
    rows += [["sequence", "", "", "", f"ended_{reason}", n] for reason, n in stats.ended.items()]
    for s in stats.steps:
        figures = {"reached": s.reached, "completed": s.completed, "skipped": s.skipped,
                   "ended_here": s.ended_here, "median_seconds_on_step": s.median_seconds}
        figures.update({f"branch_{name}": n for name, n in s.branches.items()})
        rows += [["step", s.position, s.step.id, s.step.name or s.step.type.value, key, value]
                 for key, value in figures.items()]
    return rows


def _no_csv_with_json(as_csv: bool) -> None:
    if as_csv and get_state().out.json_mode:
        raise InvalidInput("--csv and --json: choose one")


def sequence_stats_command(
    seq: Annotated[str, typer.Argument(help="Sequence name or id.")],
    since: Since = None,
    as_csv: Csv = False,
) -> None:
    """Connected, active, completed, ended by reason, success rate, and per-step figures."""
    _no_csv_with_json(as_csv)
    when = parse_since(since)
    found = sequence_commands.find(seq)
    with get_state().app().store.begin() as db:
        counts = stats_store.history_counts(db, found.id, when)
    stats = sequence_stats(found, counts, when)
    if as_csv:
        _write_csv(["scope", "position", "step_id", "step", "metric", "value"],
                   _csv_rows(stats))
        return
    out = get_state().out
    period = f" since {when.isoformat()}" if when else ""
    summary = out.table(
        ["connected", "active", "completed", "ended", "successes", "success rate"],
        [[stats.connected, stats.active, stats.completed, stats.ended_total, stats.successes,
          rate(stats.success_rate)]],
        title=f"Sequence {found.name!r}{period}",
    )
    reasons = out.table(["ended by", "connections"], stats.ended.items(), title="Ended")
    steps = out.table(
        ["#", "step", "reached", "completed", "skipped", "ended here", "median time on step",
         "branches"],
        ([s.position, s.step.name or s.step.type.value, s.reached, s.completed, s.skipped,
          s.ended_here, duration(s.median_seconds),
          ", ".join(f"{k}: {v}" for k, v in s.branches.items())] for s in stats.steps),
        title="Steps",
    )
    out.emit(stats_json(stats), summary, reasons, steps, SUCCESS_DEFINITION)


def compare_command(since: Since = None, as_csv: Csv = False) -> None:
    """Every sequence side by side: connected, active, completed, ended, success rate."""
    _no_csv_with_json(as_csv)
    when = parse_since(since)
    with get_state().app().store.begin() as db:
        found = seq_store.list_sequences(db)
        counts = stats_store.summary_counts(db, [s.id for s in found], when)
    all_stats = [sequence_stats(s, counts[s.id], when) for s in found]
    header = ["sequence", "status", "connected", "active", "completed", "ended", "successes",
              "success_rate"]
    rows = [
        [st.name, seq.status.value, st.connected, st.active, st.completed, st.ended_total,
         st.successes, st.success_rate]
        for seq, st in zip(found, all_stats, strict=True)
    ]
    if as_csv:
        _write_csv(header, rows)
        return
    out = get_state().out
    out.emit(
        {"since": when.isoformat() if when else None, "success_definition": SUCCESS_DEFINITION,
         "sequences": [{**_summary_json(st), "status": seq.status.value}
                       for seq, st in zip(found, all_stats, strict=True)]},
        out.table(header, ([*row[:-1], rate(row[-1])] for row in rows),
                  title=f"{len(rows)} sequence{'s' if len(rows) != 1 else ''}"),
        SUCCESS_DEFINITION,
    )


def register(app: typer.Typer) -> None:
    sequence_commands.app.command("stats")(sequence_stats_command)
    app.command("stats")(compare_command)
