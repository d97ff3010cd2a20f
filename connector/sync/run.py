"""One `seqsync sync` run: pull, reconcile, plan, push, save.

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
from connector.errors import CrmUnavailable, StateError
from connector.mapping import load_for_settings
from connector.store import connections as connection_store
from connector.store import runs as run_store
from connector.store.db import sqlite_file
from connector.sync.cooperation import SharedBudget, WorkerProgress, note, run_lock
from connector.sync.crm import CrmWriter, ReadOnlyCrm, make_client
from connector.sync.dryrun import RecordingWriter, scratch_state
from connector.sync.plan import plan
from connector.sync.progress import LogProgress, Progress
from connector.sync.pull import pull
from connector.sync.push import push
from connector.sync.reconcile import reconcile
from connector.sync.report import RunReport
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync")

ClientFactory = Callable[[Settings], DataverseClient]


def run_sync(
    settings: Settings,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    progress: Progress | None = None,
    client_factory: ClientFactory = make_client,
) -> RunReport:
    """Run once; raises LockHeld, CrmUnavailable, StateError or InvalidInput for the CLI."""
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
                run_id = run_store.start(db, report.started_on, report.clock, report.dry_run)
                history_mark = connection_store.history_mark(db)
        except StateError:
            app.close()
            raise
        if not app.store.is_sqlite:
            # Other workers may share this state: one request budget for all of them, and a
            # line each in `seqsync status`.
            shared = client.before_send = SharedBudget(effective)
            progress = WorkerProgress(progress, app.store)
        reader = ReadOnlyCrm(client)
        writer: CrmWriter = RecordingWriter(reader, report) if dry_run else client
        ctx = SyncContext(app, reader, mappings, effective, clock, report, progress)
        try:
            client.whoami()  # proves the credentials and reads the server's parallelism hint
            pull(ctx)
            reconcile(ctx)
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
    return report


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
