"""`seqsync sync`, `serve` and `status`: the connector's commands."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import timedelta
from typing import Annotated, Any

import typer

from connector.cli.output import Output
from connector.cli.state import get_state
from connector.errors import EXIT_OK, EXIT_PARTIAL, InvalidInput
from connector.logs import configure_logging
from connector.store import connections as connection_store
from connector.store import quarantine
from connector.store import runs as run_store
from connector.store import sequences as seq_store
from connector.store import workers as worker_store
from connector.sync.progress import LogProgress, Progress, RichProgress
from connector.sync.report import RunReport
from connector.sync.run import run_sync
from connector.sync.serve import Loop, parse_interval


def sync_command(
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Read the CRM, print what would be written, "
                           "write nothing anywhere.")
    ] = False,
    full: Annotated[
        bool, typer.Option("--full", help="Read every CRM table whole, not only its changes "
                           "(also retries quarantined rows).")
    ] = False,
    allow_clock_back: Annotated[
        bool, typer.Option("--allow-clock-back", help="Run even though the clock is earlier "
                           "than the last run's.")
    ] = False,
) -> None:
    """Run one sync: pull, reconcile, plan, push, save. Use --now to set the engine's clock."""
    state = get_state()
    settings = state.settings
    fmt = configure_logging(settings.log.format, settings.log.level)
    interactive = fmt == "text" and sys.stderr.isatty() and not state.json
    progress: Progress = RichProgress() if interactive else LogProgress()
    report = run_sync(settings, now=state.now, dry_run=dry_run, progress=progress,
                      allow_clock_back=allow_clock_back, full=full)
    print_report(state.out, report, json_line=not interactive)
    raise typer.Exit(EXIT_PARTIAL if report.errors else EXIT_OK)


def print_report(out: Output, report: RunReport, *, json_line: bool) -> None:
    summary = report.summary()
    if report.dry_run:
        summary["would_write"] = report.would_write
    if out.json_mode or json_line:
        print(json.dumps(summary, default=str, ensure_ascii=False))
        return
    rows: list[tuple[str, Any]] = [
        ("outcome", summary["outcome"] + (" (dry run: nothing written)" if report.dry_run else "")),
        ("clock", summary["clock"]),
        ("rows pulled", _counts(summary["rows_pulled"])),
        ("rows deleted in the CRM", _counts(summary["rows_deleted"])),
        ("records disconnected", _counts(summary["records_disconnected"])),
        ("activities planned", summary["activities_planned"]),
        ("activities created", _counts(summary["activities_created"])),
        ("activities completed / skipped",
         f"{summary['activities_completed']} / {summary['activities_skipped']}"),
        ("errors", summary["errors"]),
        ("CRM requests (retries, throttled)",
         f"{summary['crm_requests']} ({summary['retries']}, {summary['throttled']})"),
        ("duration", f"{summary['duration_seconds']:.1f} s"),
    ]
    out.emit(summary, out.table(("", "this run"), rows, title="sync summary"))
    for error in report.errors[:20]:
        out.note(f"[red]error[/red] {error['record_id'] or error['kind']}: {error['message']}")
    if report.dry_run:
        for item in report.would_write:
            out.note(f"would {item['action']} {item['count']} in {item['entity_set']}")


def _counts(counts: dict[str, int]) -> str:
    if not counts:
        return "0"
    total = sum(counts.values())
    return f"{total} (" + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) + ")"


def serve_command(
    interval: Annotated[
        str, typer.Option("--interval", help="Time between runs: 90s, 5m, 1h.")
    ] = "5m",
    max_runs: Annotated[
        int | None, typer.Option("--max-runs", help="Stop after this many runs.", hidden=True)
    ] = None,
) -> None:
    """Run sync on an interval; SIGTERM finishes the current run, then exits 0."""
    state = get_state()
    if state.now is not None:
        raise InvalidInput("--now does not apply to serve, which runs on the system clock; "
                           "use `seqsync --now ... sync` for one run at another time")
    settings = state.settings
    configure_logging(settings.log.format, settings.log.level)
    loop = Loop(settings, parse_interval(interval), max_runs=max_runs)
    loop.install_signal_handlers()
    raise typer.Exit(loop.run_forever())


def status_command(
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to show.")] = 10,
) -> None:
    """Recent runs, workers seen recently and the shared backlog, connections in error, and
    sequences with their connected records."""
    state = get_state()
    now = state.clock()
    since = now - timedelta(minutes=state.settings.workers.seen_within_minutes)
    with state.app().store.read() as db:
        data = {
            "runs": run_store.recent(db, runs),
            "workers": [asdict(w) for w in worker_store.recent_workers(db, since)],
            "backlog": asdict(worker_store.backlog(db, now)),
            "connections_in_error": connection_store.ended_in_error(db),
            "sequences": seq_store.load_summary(db),
            "quarantined": quarantine.listing(db),
        }
    out = state.out
    backlog = data["backlog"]
    out.emit(
        data,
        out.table(
            ("run", "started", "clock", "outcome", "pulled", "created", "completed", "errors",
             "requests", "seconds"),
            [(r["id"], r["started_on"], r["clock"],
              r["outcome"] + (" (dry)" if r["dry_run"] else ""),
              r["rows_pulled"], r["activities_created"], r["activities_completed"], r["errors"],
              r["crm_requests"], r["duration_seconds"]) for r in data["runs"]],
            title="recent runs",
        ),
        out.table(
            ("worker", "started", "last seen", "last action"),
            [(w["id"], w["started_on"], w["seen_on"], w["action"]) for w in data["workers"]],
            title=f"workers seen in the last {state.settings.workers.seen_within_minutes} "
                  "minutes (PostgreSQL state)",
        ),
        f"backlog: {backlog['due_connections']} connections due, "
        f"{backlog['pending_activities']} activities waiting to be pushed, "
        f"{backlog['to_cancel']} to cancel in the CRM",
        out.table(
            ("record", "name", "sequence", "ended", "CRM message"),
            [(e["record_id"], e["record_name"], e["sequence"], e["at"], e["message"])
             for e in data["connections_in_error"]],
            title="connections ended by a CRM error",
        ),
        out.table(
            ("sequence", "entity", "status", "connected"),
            [(s["name"], s["entity"], s["status"], s["connected"]) for s in data["sequences"]],
            title="sequences",
        ),
        out.table(
            ("table", "record", "since", "why it is kept out"),
            [(q["table"], q["record_id"], q["since"], q["error"]) for q in data["quarantined"]],
            title="CRM rows quarantined (retried when they change, or on sync --full)",
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_command)
    app.command("serve")(serve_command)
    app.command("status")(status_command)
