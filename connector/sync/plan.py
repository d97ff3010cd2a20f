"""Phase 3: turn due steps into outbox items: set-based for the common case, else through the
pipeline's `StepDue` message."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING

from connector.app import App
from connector.errors import InvalidInput
from connector.pipeline.context import Message
from connector.pipeline.pacing import PACING_STEPS, leaves_activities_alone
from connector.pipeline.results import StepDueResult
from connector.store import connections as connection_store
from connector.store.planning import plan_due_slice, refresh_statistics

if TYPE_CHECKING:  # the engine benchmark plans without loading the CRM client
    from connector.sync.run_context import SyncContext

# Due connections planned per transaction. Each planned connection touches entries spread
# over GUID-keyed indexes; the bigger the transaction, the more of them share a page written
# at commit (measured on 1M due: ~220 us per connection at 5,000 a commit, ~170 at 20,000).
PLAN_TRANSACTION_ROWS = 20_000

# Due activity steps planned set-based per transaction (store.planning). On SQLite each
# commit writes every index page the slice touched, and GUID keys touch pages all over: the
# bigger the slice, the fewer times each page is written (1M due: 20,000 a slice 145 s,
# 100,000 a slice 81 s on a loaded 2-core machine). On PostgreSQL slices are what workers
# share, so they stay smaller.
PLAN_SLICE_ROWS = {"sqlite": 100_000, "postgresql": 20_000}
# Planned this many set-based: refresh the server's planner statistics before the push.
STATISTICS_AFTER = 10_000


def plan(ctx: SyncContext) -> None:
    ctx.progress.phase("plan")
    for result in plan_due_batches(ctx.app, ctx.now):
        ctx.report.activities_planned += result.planned
        ctx.report.held_back += result.held_back
        ctx.progress.advance(result.connections)


def plan_due_batches(
    app: App, now: datetime, batch_size: int = 5000
) -> Iterator[StepDueResult]:
    """Plan every due step. Results are yielded once their transaction has committed.

    With no plugin on StepDue but the built-in pacing rule, and pacing neither keeping working
    hours nor capping a day, the common case (a due email, phone call or task of an active
    sequence, in a branch or not) is planned set-based by the database, a slice per
    transaction (claimed SKIP LOCKED on PostgreSQL, so several workers share it). What remains
    (due waits, conditions, commands, lost steps, or everything when a plugin or pacing has a
    say) is read page by page (keyset on id, active sequences only) and goes through one
    StepDue message per page of `batch_size`, several pages a transaction
    (PLAN_TRANSACTION_ROWS)."""
    if now.tzinfo is None:
        raise InvalidInput(f"now={now.isoformat()} has no time zone")
    if _set_based_is_exact(app):
        slice_rows = PLAN_SLICE_ROWS.get(app.store.dialect, 20_000)
        after: str | None = None
        if not app.store.is_sqlite:
            with app.store.read() as db:
                # Many due: walk the ids (see plan_due_slice); a few: the due index.
                after = "" if connection_store.due_count(db, now) > 4 * slice_rows else None
        total = 0
        while True:
            with app.store.begin() as db:
                planned, last = plan_due_slice(db, now, slice_rows, after)
            after = last if after is not None else None
            total += planned
            if planned:
                yield StepDueResult(connections=planned, planned=planned)
            if planned < slice_rows:
                break
        if total >= STATISTICS_AFTER:
            with app.store.begin() as db:
                refresh_statistics(db)
    after = ""  # from here on: the StepDue pages' own keyset
    with app.store.begin() as db:
        # Past a few pages, sorting the due rows per page costs more than walking the ids.
        walk_ids = connection_store.due_count(db, now) > 4 * batch_size
    pages_per_transaction = max(1, PLAN_TRANSACTION_ROWS // max(1, batch_size))
    while True:
        results: list[StepDueResult] = []
        # Pages are read in the message's own transaction: StepDue then trusts those rows
        # instead of reading them a second time.
        with app.pipeline.transaction() as tx:
            assert tx.db is not None
            for _ in range(pages_per_transaction):
                page = connection_store.due_page(tx.db, now, after, batch_size, walk_ids=walk_ids)
                if not page:
                    break
                after = page[-1].id
                results.append(tx.execute(Message.STEP_DUE, page, now=now))
        yield from results
        if len(results) < pages_per_transaction:
            return


def _set_based_is_exact(app: App) -> bool:
    """Whether the set-based plan gives what StepDue would: it reproduces the engine's plan of
    an activity step (outbox row with the record's owner and owner type, history line, waiting
    connection), not plugins' due adjusters nor pacing's working hours and daily caps."""
    if app.pipeline.watched(Message.STEP_DUE, besides=PACING_STEPS):
        return False
    with app.store.read() as db:
        return leaves_activities_alone(db, app.settings)
