"""One `seqsync sync` run: pull, reconcile, plan, push, save.

The order matters. Pull first, so rule plugins disconnect closed and deleted records before
anything is planned for them; reconcile before plan, so completions made since the last run
make their next steps due now; push last, then read the activity changes once more so the next
run's delta link starts after the rows this run created.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError

from connector.app import App, open_app
from connector.config import Settings
from connector.dataverse.client import DataverseClient
from connector.dataverse.errors import BadResponse
from connector.errors import CrmUnavailable
from connector.mapping import load_for_settings
from connector.store.schema import connection_history, runs
from connector.sync.context import SyncContext
from connector.sync.crm import make_client
from connector.sync.dryrun import RecordingClient, scratch_state
from connector.sync.lock import RunLock, lock_path_for
from connector.sync.owners import read_owner_settings
from connector.sync.plan import plan
from connector.sync.progress import LogProgress, Progress
from connector.sync.pull import pull
from connector.sync.push import push
from connector.sync.reconcile import reconcile
from connector.sync.report import RunReport

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
    """Run once; raises LockHeld, CrmUnavailable or InvalidInput for the CLI to map."""
    clock = (now or datetime.now(UTC)).astimezone(UTC)
    report = RunReport(clock=clock, dry_run=dry_run, started_on=datetime.now(UTC))
    progress = progress or LogProgress()
    mappings = load_for_settings(settings)
    client = client_factory(settings)  # validates [crm] before anything is locked or opened
    lock = RunLock(lock_path_for(settings.state.url, settings.sync.lock_file))
    state: AbstractContextManager[Settings] = (
        scratch_state(settings) if dry_run else nullcontext(settings)
    )
    with lock, state as effective:
        app = open_app(effective)
        try:
            run_id = _start_run(app, report)
            history_mark = _history_mark(app)
        except (OperationalError, sqlite3.OperationalError) as exc:
            app.close()
            raise app.store.state_error(exc) from None
        crm = RecordingClient(client, report) if dry_run else client
        ctx = SyncContext(app, crm, mappings, effective, clock, report, progress)  # type: ignore[arg-type]
        try:
            client.whoami()  # proves the credentials and reads the server's parallelism hint
            pull(ctx)
            read_owner_settings(ctx)
            reconcile(ctx)
            plan(ctx)
            touched = push(ctx)
            if touched and not dry_run:
                reconcile(ctx, sorted(touched))
            report.outcome = "partial" if report.errors else "ok"
        except (CrmUnavailable, BadResponse) as exc:
            report.outcome = "failed"
            report.add_error(None, str(exc), kind="crm")
            raise
        except (OperationalError, sqlite3.OperationalError) as exc:
            # Locked or full database mid-run (sync phases write through the engine directly):
            # the same one-line StateError the store gives, not an "unexpected" error.
            report.outcome = "failed"
            error = app.store.state_error(exc)
            report.add_error(None, str(error), kind="state")
            raise error from None
        except BaseException as exc:
            report.outcome = "failed"
            report.add_error(None, f"{type(exc).__name__}: {exc}", kind="internal")
            raise
        finally:
            progress.close()
            _collect_metrics(client, report)
            report.finished_on = datetime.now(UTC)
            try:
                _count_disconnections(app, history_mark, report)
                _finish_run(app, run_id, report)
            except (OperationalError, sqlite3.OperationalError) as exc:
                # Must not mask the run's own outcome; the next run's log shows the gap.
                log.error("could not record this run in the state database: %s",
                          getattr(exc, "orig", exc))
            finally:
                app.close()
                client.close()  # `seqsync serve` makes a client per run: no pooled sockets left
    return report


def _start_run(app: App, report: RunReport) -> int:
    with app.store.engine.begin() as conn:
        result = conn.execute(runs.insert().values(
            started_on=report.started_on, clock=report.clock, outcome="running",
            dry_run=report.dry_run,
        ))
        return int(result.inserted_primary_key[0])


def _finish_run(app: App, run_id: int, report: RunReport) -> None:
    with app.store.engine.begin() as conn:
        conn.execute(update(runs).where(runs.c.id == run_id).values(
            finished_on=report.finished_on, outcome=report.outcome, summary=report.summary(),
            error=report.errors[0]["message"][:2000] if report.errors else None,
        ))


def _history_mark(app: App) -> int:
    with app.store.engine.connect() as conn:
        return int(conn.execute(select(func.max(connection_history.c.id))).scalar() or 0)


def _count_disconnections(app: App, mark: int, report: RunReport) -> None:
    query = (
        select(connection_history.c.reason, func.count())
        .where(connection_history.c.id > mark, connection_history.c.event == "ended")
        .group_by(connection_history.c.reason)
    )
    with app.store.engine.connect() as conn:
        for reason, count in conn.execute(query):
            report.disconnected[str(reason)] = int(count)


def _collect_metrics(client: DataverseClient, report: RunReport) -> None:
    metrics = client.metrics
    report.crm_requests = metrics.requests
    report.retries = metrics.retries
    report.throttled = metrics.throttled
    report.retry_wait_seconds = metrics.retry_wait_seconds
