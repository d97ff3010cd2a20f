"""One `seqsync sync` run: pull, reconcile (with replies and bounces), signals (meetings),
templates, plan, push, save.

The order matters. Pull first, so rule plugins disconnect closed and deleted records before
anything is planned for them; reconcile before plan, so completions made since the last run
make their next steps due now; push last, then read the activity changes once more so the next
run's delta link starts after the rows this run created.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from connector.app import App, open_app
from connector.config import Settings
from connector.dataverse.client import DataverseClient
from connector.dataverse.errors import BadResponse
from connector.errors import CrmUnavailable, InvalidInput, SeqsyncError, StateError
from connector.mapping import load_for_settings
from connector.store import connections as connection_store
from connector.store import runs as run_store
from connector.store.db import sqlite_file
from connector.sync.cooperation import SharedBudget, WorkerProgress, note, run_lock
from connector.sync.crm import CrmWriter, ReadOnlyCrm, make_client
from connector.sync.dryrun import RecordingWriter, scratch_state
from connector.sync.enroll import enroll
from connector.sync.owners import read_owner_settings
from connector.sync.plan import plan
from connector.sync.progress import LogProgress, Progress
from connector.sync.pull import pull
from connector.sync.push import push
from connector.sync.reconcile import reconcile
from connector.sync.report import RunReport
from connector.sync.run_context import SyncContext
from connector.sync.signals import watch_signal_tables
from connector.sync.templates import Templates, check_templates

log = logging.getLogger("seqsync.sync")

ClientFactory = Callable[[Settings], DataverseClient]


def run_sync(
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    full: bool = False,
    progress: Progress | None = None,
    client_factory: ClientFactory = make_client,
    allow_clock_back: bool = False,
    on_finish: Callable[[RunReport], None] | None = None,
) -> RunReport:
    """Run once; raises LockHeld, CrmUnavailable, StateError or InvalidInput for the CLI.

    A clock earlier than the last run's is refused unless `allow_clock_back`: planning and
    completions would be stamped before what the state already holds. `full` reads every
    table whole (the saved delta links are ignored, and rows the full read does not return
    are treated as deleted), which also retries every quarantined row. `on_finish` sees the
    report of every run that got as far as the CRM client, failed or not (metrics).
    """
    clock = (now or datetime.now(UTC)).astimezone(UTC)
    report = RunReport(clock=clock, dry_run=dry_run, started_on=datetime.now(UTC))
    progress = progress or LogProgress()
    mappings = load_for_settings(settings)
    client = client_factory(settings)  # validates [crm] before anything is locked or opened
    lock = run_lock(settings, sqlite_file(settings.state.url) is not None)
    state: AbstractContextManager[Settings] = (
        scratch_state(settings) if dry_run else nullcontext(settings)
    )
    shared: SharedBudget | None = None
    with lock, state as effective:
        app = open_app(effective)
        try:
            with app.store.begin() as db:
                _refuse_clock_back(run_store.last_clock(db), clock, allow_clock_back)
                # This run holds the lock: a run still marked running was killed. (On
                # PostgreSQL there is no run lock: other workers' runs may be running now.)
                if app.store.is_sqlite and run_store.mark_interrupted(db):
                    log.warning("an earlier run was interrupted (killed); this run picks up "
                                "where it stopped")
                run_id = run_store.start(db, report.started_on, report.clock, report.dry_run)
                history_mark = connection_store.history_mark(db)
        except SeqsyncError:
            app.close()
            raise
        if not app.store.is_sqlite:
            # Other workers may share this state: one request budget for all of them, and a
            # line each in `seqsync status`.
            shared = client.before_send = SharedBudget(effective)
            progress = WorkerProgress(progress, app.store)
        reader = ReadOnlyCrm(client)
        writer: CrmWriter = RecordingWriter(reader, report) if dry_run else client
        ctx = SyncContext(app, reader, mappings, effective, clock, report, progress,
                          full_read=full)
        try:
            client.whoami()  # proves the credentials and reads the server's parallelism hint
            pull(ctx)
            read_owner_settings(ctx)
            reconcile(ctx)
            watch_signal_tables(ctx)
            check_templates(ctx, Templates(reader, mappings.template))
            enroll(ctx)
            plan(ctx)
            touched = push(ctx, writer)
            if touched and not dry_run:
                reconcile(ctx, sorted(touched))
            report.outcome = "partial" if report.errors else "ok"
        except (CrmUnavailable, BadResponse) as exc:
            report.outcome = "failed"
            report.add_error(None, str(exc), kind="crm")
            raise
        except StateError as exc:
            # Locked or full database mid-run: the store's one-line error, not an "unexpected"
            # one.
            report.outcome = "failed"
            report.add_error(None, str(exc), kind="state")
            raise
        except BaseException as exc:
            report.outcome = "failed"
            report.add_error(None, f"{type(exc).__name__}: {exc}", kind="internal")
            raise
        finally:
            progress.close()
            _collect_metrics(client, report)
            report.finished_on = datetime.now(UTC)
            try:
                _finish(app, run_id, history_mark, report)
            except StateError as exc:
                # Must not mask the run's own outcome; the next run's log shows the gap.
                log.error("could not record this run in the state database: %s", exc)
            finally:
                if shared is not None:
                    note(app.store, f"idle after run {run_id} ({report.outcome})")
                    shared.close()
                app.close()
                client.close()  # `seqsync serve` makes a client per run: no pooled sockets left
                if on_finish is not None:
                    on_finish(report)
    return report


def _refuse_clock_back(last: datetime | None, clock: datetime, allowed: bool) -> None:
    if last is not None and clock < last and not allowed:
        raise InvalidInput(
            f"the clock {clock.isoformat()} is earlier than the last run's "
            f"({last.isoformat()}); check --now or the system clock, or pass "
            "--allow-clock-back to run anyway"
        )


def _finish(app: App, run_id: int, history_mark: int, report: RunReport) -> None:
    with app.store.begin() as db:
        for reason, count in connection_store.ended_by_reason(db, history_mark).items():
            report.disconnected[reason] = count
        run_store.finish(
            db, run_id, report.finished_on, report.outcome, report.summary(),
            report.errors[0]["message"] if report.errors else None,
        )


def _collect_metrics(client: DataverseClient, report: RunReport) -> None:
    metrics = client.metrics
    report.crm_requests = metrics.requests
    report.retries = metrics.retries
    report.throttled = metrics.throttled
    report.retry_wait_seconds = metrics.retry_wait_seconds
    report.crm_replies = dict(metrics.by_reply)
