"""`seqsync sync`, `serve` and `status`: the connector's commands."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import typer

from connector import logs
from connector.cli.output import Output, when, when_text
from connector.cli.state import get_state
from connector.errors import EXIT_OK, EXIT_PARTIAL, InvalidInput
from connector.health import Health, MetricsServer
from connector.metrics import LoopMetrics, SyncMetrics, refresh_state, run_with_textfile
from connector.pipeline.pacing import held_back
from connector.store import connections as connection_store
from connector.store import overview, problems, quarantine
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
    metrics_file: Annotated[
        Path | None, typer.Option("--metrics-file", metavar="PATH",
                                  help="Also write Prometheus metrics to this file (for "
                                  "node-exporter's textfile collector), even when the run fails.")
    ] = None,
    full: Annotated[
        bool, typer.Option("--full", help="Re-read every table from the CRM instead of only "
                           "its changes (nothing is lost; rows gone from the CRM are deleted; "
                           "quarantined rows are retried).")
    ] = False,
    allow_clock_back: Annotated[
        bool, typer.Option("--allow-clock-back", help="Run even though the clock is earlier "
                           "than the last run's.")
    ] = False,
) -> None:
    """Run one sync: pull, reconcile, plan, push, save. Use --now to set the engine's clock."""
    state = get_state()
    fmt = state.start_logging()
    settings = state.settings
    interactive = fmt == "text" and sys.stderr.isatty() and not state.json
    progress: Progress = RichProgress() if interactive else LogProgress()

    def run(on_finish: Callable[[RunReport], None] | None = None) -> RunReport:
        return run_sync(settings, now=state.now, dry_run=dry_run, full=full, progress=progress,
                        allow_clock_back=allow_clock_back, on_finish=on_finish)

    report = run_with_textfile(metrics_file, settings, run) if metrics_file else run()
    print_report(state.out, report, json_line=not interactive)
    raise typer.Exit(EXIT_PARTIAL if report.errors else EXIT_OK)


def print_report(out: Output, report: RunReport, *, json_line: bool) -> None:
    summary = report.summary()
    if report.dry_run:
        summary["would_write"] = report.would_write
    if out.json_mode or json_line:
        level = {"ok": "info", "partial": "warning"}.get(report.outcome, "error")
        print(logs.json_line(level, "seqsync.sync", f"sync {report.outcome}", **summary))
        return
    rows: list[tuple[str, Any]] = [
        ("outcome", summary["outcome"] + (" (dry run: nothing written)" if report.dry_run else "")),
        ("clock", summary["clock"]),
        ("rows pulled", _counts(summary["rows_pulled"])),
        ("rows deleted in the CRM", _counts(summary["rows_deleted"])),
        ("records disconnected", _counts(summary["records_disconnected"])),
        ("activities planned", summary["activities_planned"]),
        ("activities that would be created" if report.dry_run else "activities created",
         _counts(summary["activities_created"])),
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
    metrics_port: Annotated[
        int | None, typer.Option("--metrics-port", metavar="PORT", min=0, max=65535,
                                 help="Serve Prometheus /metrics, /healthz and /readyz here "
                                 "(9464 is usual; 0 picks a free port).")
    ] = None,
    metrics_host: Annotated[
        str, typer.Option("--metrics-host", metavar="HOST",
                          help="Interface for --metrics-port (0.0.0.0 in a container).")
    ] = "127.0.0.1",
) -> None:
    """Run sync on an interval; SIGTERM finishes the current run, then exits 0. An error no
    retry can fix (bad config, missing or refused credential) exits 2 at once."""
    state = get_state()
    if state.now is not None:
        raise InvalidInput("--now does not apply to serve, which runs on the system clock; "
                           "use `seqsync --now ... sync` for one run at another time")
    state.start_logging()
    settings = state.settings
    observer, server = None, None
    if metrics_port is not None:
        metrics, health = SyncMetrics(), Health()
        refresh_state(metrics, settings)
        server = MetricsServer(metrics.registry, health, metrics_host, metrics_port).start()
        observer = LoopMetrics(settings, metrics, health)
        logging.getLogger("seqsync.serve").info(
            "metrics on http://%s:%d/metrics", metrics_host, server.port,
            extra={"metrics_port": server.port})
    loop = Loop(settings, parse_interval(interval), max_runs=max_runs, observer=observer)
    loop.install_signal_handlers()
    try:
        code = loop.run_forever()
    finally:
        if server is not None:
            server.health.stopping = True
            server.stop()
    raise typer.Exit(code)


def status_command(
    runs: Annotated[int, typer.Option("--runs", help="How many recent runs to show.")] = 10,
    hours: Annotated[
        int, typer.Option("--hours", min=1, max=24 * 30, help="How far ahead to look for due work.")
    ] = 24,
) -> None:
    """Recent runs, work coming due per sequence, workers seen recently and the shared backlog,
    connections in error, and sequences with their connected records. Times in [display]
    timezone."""
    state = get_state()
    now = state.clock()
    zone = state.zone
    since = now - timedelta(minutes=state.settings.workers.seen_within_minutes)
    with state.app().store.read() as db:
        due = overview.due_soon(db, now, now + timedelta(hours=hours))
        data = {
            "now": now.isoformat(),
            "timezone": state.settings.display.timezone,
            "runs": run_store.recent(db, runs),
            "due_soon": {"hours": hours, "sequences": [
                {"sequence": d.sequence, "status": d.status, "due_now": d.overdue,
                 "due_later": d.due_soon, "next_due": d.next_due} for d in due]},
            "workers": [asdict(w) for w in worker_store.recent_workers(db, since)],
            "backlog": asdict(worker_store.backlog(db, now)),
            "connections_in_error": connection_store.ended_in_error(db),
            "sequences": seq_store.load_summary(db),
            "quarantined": quarantine.listing(db),
            "template_problems": problems.load(db, problems.TEMPLATES),
            "held_back": held_back(db, state.settings, state.app().now()),
        }
    out = state.out
    notes = [f"template problem (found by the last sync): {p}" for p in data["template_problems"]]
    backlog = data["backlog"]
    out.emit(
        data,
        *notes,
        out.table(
            ("run", "started", "clock", "outcome", "pulled", "created", "completed", "errors",
             "requests", "seconds"),
            [(r["id"], when_text(r["started_on"], zone), when_text(r["clock"], zone),
              r["outcome"] + (" (dry)" if r["dry_run"] else ""),
              r["rows_pulled"], r["activities_created"], r["activities_completed"], r["errors"],
              r["crm_requests"], r["duration_seconds"]) for r in data["runs"]],
            title="recent runs",
        ),
        out.table(
            ("sequence", "status", "due now", f"due in the next {hours} h", "next due"),
            [(d.sequence, d.status + (" (paused)" if d.status != "active" else ""),
              d.overdue, d.due_soon, when(d.next_due, zone)) for d in due],
            title=f"work coming due (next {hours} hours, times in {data['timezone']})",
        ),
        out.table(
            ("worker", "started", "last seen", "last action"),
            [(w["id"], when(w["started_on"], zone), when(w["seen_on"], zone), w["action"])
             for w in data["workers"]],
            title=f"workers seen in the last {state.settings.workers.seen_within_minutes} "
                  "minutes (PostgreSQL state)",
        ),
        f"backlog: {backlog['due_connections']} connections due, "
        f"{backlog['pending_activities']} activities waiting to be pushed, "
        f"{backlog['to_cancel']} to cancel in the CRM",
        out.table(
            ("record", "name", "sequence", "ended", "CRM message"),
            [(e["record_id"], e["record_name"], e["sequence"], when_text(e["at"], zone),
              e["message"]) for e in data["connections_in_error"]],
            title="connections ended by a CRM error",
        ),
        out.table(
            ("sequence", "entity", "status", "connected"),
            [(s["name"], s["entity"], s["status"], s["connected"]) for s in data["sequences"]],
            title="sequences",
        ),
        out.table(
            ("table", "record", "since", "why it is kept out"),
            [(q["table"], q["record_id"], when_text(q["since"], zone), q["error"])
             for q in data["quarantined"]],
            title="CRM rows quarantined (retried when they change, or on sync --full)",
        ),
        out.table(
            ("held back (planned on the next allowed day)", "connections", "earliest due"),
            [(h["reason"], h["connections"], h["earliest_due"]) for h in data["held_back"]],
            title="held back by pacing caps",
        ),
    )


def register(app: typer.Typer) -> None:
    app.command("sync")(sync_command)
    app.command("serve")(serve_command)
    app.command("status")(status_command)
