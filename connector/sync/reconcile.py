"""Phase 2: notice what sellers did with the activities seqsync created.

The activity tables are read through change tracking too, so a run costs requests in proportion
to what changed in the CRM, not to how many activities are open. Only rows that are ours (in the
outbox) matter; a completed or cancelled one advances its connection via `ActivityCompleted`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from datetime import datetime

from connector.dataverse.client import ChangePage
from connector.engine.models import ActivityOutcome, ActivityResult, StepType
from connector.mapping import ActivityMapping
from connector.store import outbox as outbox_store
from connector.store.outbox import OutboxStatus
from connector.sync.changes import each_table, follow
from connector.sync.run_context import SyncContext

log = logging.getLogger("seqsync.sync.reconcile")

ACTIVITY_TYPES = (StepType.EMAIL, StepType.PHONECALL, StepType.TASK)


def reconcile(ctx: SyncContext, types: Iterable[StepType] = ACTIVITY_TYPES) -> None:
    each_table(ctx, "reconcile", [ctx.mappings.activity(t) for t in types],
               lambda m: m.logical_name, lambda m: m.entity_set, reconcile_table)


def reconcile_table(ctx: SyncContext, mapping: ActivityMapping) -> None:
    def apply(page: ChangePage) -> None:
        by_id = {str(row[mapping.primary_key]).lower(): row for row in page.upserts}
        deleted = [i.lower() for i in page.deleted_ids]
        with ctx.store.read() as db:
            ours = outbox_store.ours(db, list(by_id) + deleted)
        late = {a: by_id[a] for a, status in ours.items()
                if status is OutboxStatus.CANCELLED and a in by_id}
        if late:
            _record_late_arrivals(ctx, mapping, late)
        ours = {a: status for a, status in ours.items() if status is not OutboxStatus.CANCELLED}
        if ours:
            _mark_seen_in_crm(ctx, [a for a, status in ours.items()
                                    if status is OutboxStatus.PENDING and a in by_id])
            results = list(_outcomes(ctx, mapping, by_id, deleted, ours))
            if results:
                ctx.app.execute("ActivityCompleted", results, now=ctx.now)
                for r in results:
                    if r.outcome is ActivityOutcome.COMPLETED:
                        ctx.report.activities_completed += 1
                    else:
                        ctx.report.activities_skipped += 1
        ctx.progress.advance(len(by_id) + len(deleted))

    def vanished(seen: set[str]) -> None:
        # The token expired: the full read is the only way to learn which of our open
        # activities sellers deleted meanwhile, by noticing what it did not return.
        step_type = next(t for t in ACTIVITY_TYPES if ctx.mappings.activity(t) is mapping)
        with ctx.store.read() as db:
            gone = [a for a in outbox_store.open_in_crm(db, step_type) if a not in seen]
        if gone:
            log.warning("%d %s activities vanished while the delta token was expired; "
                        "treating them as deleted", len(gone), mapping.entity_set)
            ctx.app.execute("ActivityCompleted", [
                ActivityResult(a, ActivityOutcome.CANCELED, ctx.now) for a in gone
            ], now=ctx.now)
            ctx.report.activities_skipped += len(gone)

    follow(ctx, mapping.entity_set, mapping.select_columns(), mapping.primary_key, apply,
           vanished)


def _mark_seen_in_crm(ctx: SyncContext, ids: list[str]) -> None:
    """A pending item the CRM already has was pushed by a run that died before recording it."""
    with ctx.store.begin() as db:
        outbox_store.mark_pushed(db, ids, ctx.now)
    ctx.report.activities_already_existed += len(ids)


def _record_late_arrivals(
    ctx: SyncContext, mapping: ActivityMapping, rows: dict[str, dict[str, object]]
) -> None:
    """Items cancelled as never sent that the CRM has all the same.

    A run died between the CRM taking the activity and the store recording it, and the next
    run's pull ended the connection (record closed or deleted) before reconcile could notice.
    The connection stays ended; the store only stops claiming the activity does not exist.
    """
    with ctx.store.begin() as db:
        for activity_id, row in rows.items():
            outcome = mapping.outcome(row)
            closed = (mapping.closed_at(row) or ctx.now) if outcome is not None else None
            state = outcome.value if outcome is not None else "open"
            outbox_store.record_late_arrival(db, activity_id, ctx.now, closed, state)
    log.warning("%d %s activities cancelled locally had reached the CRM before a crash; "
                "recorded as sent", len(rows), mapping.entity_set)
    ctx.report.activities_already_existed += len(rows)


def _completed_at(ctx: SyncContext, mapping: ActivityMapping, row: dict[str, object]
                  ) -> datetime:
    """The CRM's completion time. One stamped after the engine's clock (an --now back-fill)
    would push the next step later than it should be, so the sync's view of time wins then;
    the ActivityCompleted operation keeps it from predating the activity itself."""
    closed = mapping.closed_at(row)
    return min(closed, ctx.now) if closed else ctx.now


def _outcomes(
    ctx: SyncContext, mapping: ActivityMapping, rows: dict[str, dict[str, object]],
    deleted: list[str], ours: dict[str, OutboxStatus],
) -> Iterator[ActivityResult]:
    for activity_id, row in rows.items():
        if activity_id not in ours:
            continue
        outcome = mapping.outcome(row)
        if outcome is not None:
            yield ActivityResult(activity_id, outcome, _completed_at(ctx, mapping, row))
    for activity_id in deleted:
        # A seller deleting the activity is the strongest way of skipping the step. A `pending`
        # one reached the CRM all the same (a run died before recording it): the CRM only
        # reports deleting rows it had, so it is skipped too, never sent again.
        if activity_id in ours:
            yield ActivityResult(activity_id, ActivityOutcome.CANCELED, ctx.now)
