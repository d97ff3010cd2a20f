"""Phase 2: notice what sellers did with the activities seqsync created.

The activity tables are read through change tracking too, so a run costs requests in proportion
to what changed in the CRM, not to how many activities are open. Only rows that are ours (in the
outbox) matter; a completed or cancelled one advances its connection via `ActivityCompleted`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator

from sqlalchemy import select, update

from connector.dataverse.errors import DataverseError
from connector.engine.models import ActivityOutcome, ActivityResult, StepType
from connector.errors import CrmUnavailable, SeqsyncError
from connector.mapping import ActivityMapping
from connector.store.schema import outbox
from connector.sync import state
from connector.sync.context import SyncContext
from connector.sync.outbox import IN_CHUNK, update_items

log = logging.getLogger("seqsync.sync.reconcile")

ACTIVITY_TYPES = (StepType.EMAIL, StepType.PHONECALL, StepType.TASK)


def reconcile(ctx: SyncContext, types: Iterable[StepType] = ACTIVITY_TYPES) -> None:
    for step_type in types:
        mapping = ctx.mappings.activity(step_type)
        ctx.progress.phase(f"reconcile {mapping.logical_name}")
        try:
            reconcile_table(ctx, mapping)
        except CrmUnavailable:
            raise  # the CRM is gone or refuses us; a spoiled reply only stops this table
        except (DataverseError, SeqsyncError) as exc:
            log.error("reconcile of %s stopped: %s", mapping.entity_set, exc)
            ctx.report.add_error(None, f"reconcile {mapping.entity_set}: {exc}", kind="reconcile")


def reconcile_table(ctx: SyncContext, mapping: ActivityMapping) -> None:
    key = state.delta_key(mapping.entity_set)
    link = state.get_value(ctx.engine, key)
    new_link: str | None = None
    for page in ctx.client.read_changes(
        mapping.entity_set, mapping.reconcile_columns(), mapping.primary_key, link,
        ctx.page_size, on_expired="reread",
    ):
        by_id = {str(row[mapping.primary_key]).lower(): row for row in page.upserts}
        deleted = [i.lower() for i in page.deleted_ids]
        ours = _ours(ctx, list(by_id) + deleted)
        late = {a: by_id[a] for a, status in ours.items() if status == "cancelled" and a in by_id}
        if late:
            _record_late_arrivals(ctx, mapping, late)
        ours = {a: status for a, status in ours.items() if status != "cancelled"}
        if ours:
            _mark_seen_in_crm(ctx, [a for a, status in ours.items() if status == "pending"
                                    and a in by_id])
            results = list(_outcomes(ctx, mapping, by_id, deleted, ours))
            if results:
                ctx.app.execute("ActivityCompleted", results, now=ctx.now)
                for r in results:
                    if r.outcome is ActivityOutcome.COMPLETED:
                        ctx.report.activities_completed += 1
                    else:
                        ctx.report.activities_skipped += 1
        ctx.progress.advance(len(by_id) + len(deleted))
        if page.delta_link:
            new_link = page.delta_link
    if new_link:
        state.set_value(ctx.engine, key, new_link)


_OURS_STATUSES = frozenset(("pending", "pushed", "to_cancel", "cancelled"))


def _ours(ctx: SyncContext, ids: list[str]) -> dict[str, str]:
    """Outbox status of those ids that seqsync created and has not yet seen closed
    (`cancelled` ones too: the CRM may have taken them after all)."""
    found: dict[str, str] = {}
    with ctx.engine.connect() as conn:
        for start in range(0, len(ids), IN_CHUNK):
            chunk = ids[start:start + IN_CHUNK]
            # The status test stays out of the SQL: with it, SQLite reads the status index
            # (every open item, per chunk) instead of the 900 primary keys (profiled: 20x).
            query = select(outbox.c.activity_id, outbox.c.status).where(
                outbox.c.activity_id.in_(chunk), outbox.c.closed_on.is_(None),
            )
            found.update((a, s) for a, s in conn.execute(query) if s in _OURS_STATUSES)
    return found


def _mark_seen_in_crm(ctx: SyncContext, ids: list[str]) -> None:
    """A pending item the CRM already has was pushed by a run that died before recording it."""
    update_items(ctx.engine, ids, status="pushed", crm_state="open", pushed_on=ctx.now)
    ctx.report.activities_already_existed += len(ids)


def _record_late_arrivals(
    ctx: SyncContext, mapping: ActivityMapping, rows: dict[str, dict[str, object]]
) -> None:
    """Items cancelled as never sent that the CRM has all the same.

    A run died between the CRM taking the activity and the store recording it, and the next
    run's pull ended the connection (record closed or deleted) before reconcile could notice.
    The connection stays ended; the store only stops claiming the activity does not exist.
    """
    with ctx.engine.begin() as conn:
        for activity_id, row in rows.items():
            outcome = mapping.outcome(row)
            closed = (mapping.closed_at(row) or ctx.now) if outcome is not None else None
            conn.execute(
                update(outbox).where(outbox.c.activity_id == activity_id, outbox.c.status ==
                                     "cancelled")
                .values(status="pushed", pushed_on=ctx.now, closed_on=closed,
                        crm_state=outcome.value if outcome is not None else "open")
            )
    log.warning("%d %s activities cancelled locally had reached the CRM before a crash; "
                "recorded as sent", len(rows), mapping.entity_set)
    ctx.report.activities_already_existed += len(rows)


def _outcomes(
    ctx: SyncContext, mapping: ActivityMapping, rows: dict[str, dict[str, object]],
    deleted: list[str], ours: dict[str, str],
) -> Iterator[ActivityResult]:
    for activity_id, row in rows.items():
        if activity_id not in ours:
            continue
        outcome = mapping.outcome(row)
        if outcome is not None:
            closed = mapping.closed_at(row)
            # A completion stamped after the engine's clock (an --now back-fill) would push the
            # next step later than it should be; the sync's view of time wins then.
            yield ActivityResult(activity_id, outcome, min(closed, ctx.now) if closed else ctx.now)
    for activity_id in deleted:
        # A seller deleting the activity is the strongest way of skipping the step.
        if activity_id in ours and ours[activity_id] != "pending":
            yield ActivityResult(activity_id, ActivityOutcome.CANCELED, ctx.now)
