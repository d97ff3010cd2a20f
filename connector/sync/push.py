"""Phase 4: create the outbox's activities in the CRM, exactly once each.

Every outbox item carries a deterministic activity id, and the CRM is asked to create the row
with that id. A resend after a crash therefore meets "already exists", which counts as success,
so a run can die anywhere and the next one neither loses nor duplicates an activity.

Rows go out with CreateMultiple in chunks of `batch_size`, several chunks in flight (as many as
the client's adaptive concurrency allows: the server's `x-ms-dop-hint`, halved on throttling).
A chunk the CRM refuses as a whole is split up: rows that already exist are recognised, and the
rest are retried one operation per row in a continue-on-error `$batch`, so one bad row (a lead
deleted since the pull, say) fails alone and ends its own connection with reason `error`.
All database writes happen on the calling thread; workers only talk to the CRM.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Row, Text, func, literal_column, select, type_coerce, update

from connector.dataverse.client import BatchOperation
from connector.dataverse.errors import (
    BadResponse,
    DataverseError,
    DuplicateKey,
    Throttled,
    TransientError,
)
from connector.engine.models import DisconnectRequest, EndReason, StepType
from connector.errors import CrmUnavailable
from connector.mapping import ActivityMapping, PayloadPlan
from connector.store.schema import outbox, records
from connector.sync.context import SyncContext
from connector.sync.outbox import update_items

log = logging.getLogger("seqsync.sync.push")

# How many ids one existence check puts into a GET URL (a GUID costs ~40 characters there).
EXISTS_CHUNK = 200
# Per-row fallback and cancellations go in $batch requests of this many operations.
BATCH_OPS = 500


@dataclass
class ChunkOutcome:
    activity_type: StepType
    created: list[str] = field(default_factory=list)
    existed: list[str] = field(default_factory=list)
    failed: list[tuple[str, str, str]] = field(default_factory=list)  # activity, record, message
    deferred: list[str] = field(default_factory=list)  # transient trouble: next run sends again
    deferred_reason: str = ""


def push(ctx: SyncContext) -> set[StepType]:
    """Push every pending item; returns the activity types that got new CRM rows."""
    touched: set[StepType] = set()
    for step_type in (StepType.EMAIL, StepType.PHONECALL, StepType.TASK):
        mapping = ctx.mappings.activity(step_type)
        ctx.progress.phase(f"push {mapping.logical_name}", total=_pending_count(ctx, step_type))
        if _push_type(ctx, step_type, mapping):
            touched.add(step_type)
    _push_cancellations(ctx)
    return touched


def _pending_count(ctx: SyncContext, step_type: StepType) -> int:
    query = select(func.count()).where(
        outbox.c.status == "pending", outbox.c.activity_type == step_type.value
    )
    with ctx.engine.connect() as conn:
        return int(conn.execute(query).scalar() or 0)


def _push_type(ctx: SyncContext, step_type: StepType, mapping: ActivityMapping) -> bool:
    pushed_any = False
    workers = max(1, ctx.client.concurrency)
    with ThreadPoolExecutor(max_workers=ctx.settings.sync.max_workers_cap) as pool:
        in_flight: set[Future[ChunkOutcome]] = set()
        for chunk in _pending_chunks(ctx, step_type, ctx.settings.sync.batch_size):
            payloads = _payloads(mapping, chunk)
            in_flight.add(pool.submit(_send_chunk, ctx, step_type, mapping, payloads))
            # Re-read the allowance each time: throttling lowers it while the run goes on.
            workers = max(1, ctx.client.concurrency)
            while len(in_flight) >= workers:
                done, in_flight = _wait_some(in_flight)
                pushed_any |= _record(ctx, done)
        while in_flight:
            done, in_flight = _wait_some(in_flight)
            pushed_any |= _record(ctx, done)
    return pushed_any


def _wait_some(
    futures: set[Future[ChunkOutcome]],
) -> tuple[set[Future[ChunkOutcome]], set[Future[ChunkOutcome]]]:
    done, rest = wait(futures, return_when=FIRST_COMPLETED)
    return done, set(rest)


def _pending_chunks(ctx: SyncContext, step_type: StepType, size: int) -> Iterator[list[Row[Any]]]:
    """Pending items with their record, by keyset: memory stays one chunk deep.

    On SQLite the keyset is the rowid: the (status, activity_type) index holds its entries in
    rowid order, so each chunk is an index range read. Keyed on activity_id instead, every
    chunk sorted all the remaining pending rows (a temp B-tree), quadratic in the outbox size
    (profiled: most of a 100,000-activity push).
    """
    key = literal_column("outbox.rowid") if ctx.engine.dialect.name == "sqlite" else None
    order = key if key is not None else outbox.c.activity_id
    after: Any = 0 if key is not None else ""
    while True:
        query = (
            select(
                outbox.c.activity_id, outbox.c.record_id, outbox.c.record_table,
                outbox.c.subject, outbox.c.description, outbox.c.due_at, outbox.c.owner_id,
                records.c.id.label("record_found"), records.c.owner_id.label("record_owner"),
                # The text as stored: only a recipient kept in a custom column needs it parsed.
                type_coerce(records.c.columns, Text).label("columns"),
                order.label("chunk_key"),
            )
            .join(records, records.c.id == outbox.c.record_id, isouter=True)
            .where(
                outbox.c.status == "pending",
                outbox.c.activity_type == step_type.value,
                order > after,
            )
            .order_by(order)
            .limit(size)
        )
        with ctx.engine.connect() as conn:
            chunk = list(conn.execute(query))
        if not chunk:
            return
        yield chunk
        after = chunk[-1].chunk_key


def _payloads(
    mapping: ActivityMapping, chunk: list[Row[Any]],
) -> list[tuple[str, str, dict[str, Any]]]:
    """(activity id, record id, body) per row of `chunk`, the hot loop of a push.

    Rows go straight from the query's columns into the mapping's precomputed plan (no
    `Record` per row); the body is what `mapping.payload` builds for the same item.
    """
    plans: dict[str, PayloadPlan] = {}
    out = []
    for (activity_id, record_id, table, subject, description, due_at, owner_id,
         found, record_owner, columns, _) in chunk:
        plan = plans.get(table) or plans.setdefault(table, mapping.payload_plan(table))
        if found is None:  # the record is gone from the state: no owner or To party from it
            recipient = None
        else:
            owner_id = owner_id or record_owner
            recipient = plan.recipient_of(record_id, columns)
        out.append((activity_id, record_id, plan.body(
            activity_id, record_id, subject, description, due_at, owner_id, recipient,
        )))
    return out


def _payload(mapping: ActivityMapping, item: Any) -> dict[str, Any]:
    """One body from an outbox row joined with its record (`record_name`, `record_owner`,
    `columns`): what the benchmark's baselines send. Push itself uses `_payloads`."""
    plan = mapping.payload_plan(item.record_table)
    owner_id, recipient = item.owner_id, None
    if item.record_name is not None:
        owner_id = owner_id or item.record_owner
        recipient = plan.recipient_of(item.record_id, item.columns)
    return plan.body(item.activity_id, item.record_id, item.subject, item.description,
                     item.due_at, owner_id, recipient)


def _send_chunk(
    ctx: SyncContext, step_type: StepType, mapping: ActivityMapping,
    payloads: list[tuple[str, str, dict[str, Any]]],
) -> ChunkOutcome:
    """Runs on a worker thread: CRM calls only, no database."""
    outcome = ChunkOutcome(step_type)
    try:
        _create_many(ctx, mapping, payloads, outcome)
    except (Throttled, TransientError, BadResponse) as exc:
        # Retries are exhausted, or the reply could not be read: leave these pending; the next
        # run sends the same ids again and "already exists" sorts out what did get through.
        done = set(outcome.created) | set(outcome.existed) | {a for a, _, _ in outcome.failed}
        outcome.deferred = [a for a, _, _ in payloads if a not in done]
        outcome.deferred_reason = str(exc)
    return outcome


def _create_many(
    ctx: SyncContext, mapping: ActivityMapping,
    payloads: list[tuple[str, str, dict[str, Any]]], outcome: ChunkOutcome,
) -> None:
    try:
        # key= names the caller-chosen id column, which is what makes this create safe to retry.
        ctx.client.create_multiple(
            mapping.entity_set, mapping.logical_name, [body for _, _, body in payloads],
            key=mapping.primary_key,
        )
        outcome.created.extend(a for a, _, _ in payloads)
        return
    except DuplicateKey:
        # An earlier run died after the CRM took some of these: find them, send the rest.
        existing = _existing_ids(ctx, mapping, [a for a, _, _ in payloads])
        outcome.existed.extend(a for a, _, _ in payloads if a in existing)
        payloads = [p for p in payloads if p[0] not in existing]
        if not payloads:
            return
    except (Throttled, TransientError, CrmUnavailable):
        raise
    except DataverseError as exc:
        log.info("CreateMultiple of %d %s refused (%s); isolating rows",
                 len(payloads), mapping.entity_set, exc)
    _create_one_by_one(ctx, mapping, payloads, outcome)


def _existing_ids(ctx: SyncContext, mapping: ActivityMapping, ids: Sequence[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(ids), EXISTS_CHUNK):
        chunk = list(ids[start:start + EXISTS_CHUNK])
        for row in ctx.client.query_in(
            mapping.entity_set, mapping.primary_key, chunk, select=[mapping.primary_key]
        ):
            found.add(str(row[mapping.primary_key]).lower())
    return found


def _create_one_by_one(
    ctx: SyncContext, mapping: ActivityMapping,
    payloads: list[tuple[str, str, dict[str, Any]]], outcome: ChunkOutcome,
) -> None:
    """One upsert-create per row (`If-None-Match: *`), many per `$batch`, each failing alone."""
    for start in range(0, len(payloads), BATCH_OPS):
        part = payloads[start:start + BATCH_OPS]
        ops = [
            BatchOperation(
                method="PATCH",
                url=f"{mapping.entity_set}({activity_id})",
                body={k: v for k, v in body.items()
                      if k not in (mapping.primary_key, "@odata.type")},
                headers={"If-None-Match": "*"},
            )
            for activity_id, _, body in part
        ]
        results = ctx.client.execute_batch(ops, continue_on_error=True, atomic=False)
        for (activity_id, record_id, _), result in zip(part, results, strict=True):
            if 200 <= result.status < 300:
                outcome.created.append(activity_id)
            elif result.status == 412:
                outcome.existed.append(activity_id)
            elif result.status in (429, 500, 502, 503, 504):
                outcome.deferred.append(activity_id)
                outcome.deferred_reason = result.message
            else:
                outcome.failed.append((activity_id, record_id, result.message))


def _record(ctx: SyncContext, done: set[Future[ChunkOutcome]]) -> bool:
    """Write what the CRM said; runs on the calling thread, one transaction per chunk."""
    pushed_any = False
    for future in done:
        outcome = future.result()  # CrmUnavailable and bugs propagate and end the run
        ok = outcome.created + outcome.existed
        if ok:
            update_items(ctx.engine, ok, status="pushed", crm_state="open", pushed_on=ctx.now)
            pushed_any = pushed_any or bool(outcome.created)
        ctx.report.count_created(outcome.activity_type.value, len(outcome.created))
        ctx.report.activities_already_existed += len(outcome.existed)
        if outcome.deferred:
            ctx.report.add_error(
                None, f"{len(outcome.deferred)} {outcome.activity_type.value} activities left "
                f"for the next run: {outcome.deferred_reason}", kind="crm",
            )
        for activity_id, record_id, message in outcome.failed:
            _fail(ctx, activity_id, record_id, message)
        ctx.progress.advance(len(ok) + len(outcome.failed) + len(outcome.deferred))
    return pushed_any


def _fail(ctx: SyncContext, activity_id: str, record_id: str, message: str) -> None:
    """A permanent refusal: the item is failed and its connection ends, visibly, with `error`."""
    log.warning("activity %s for record %s refused by the CRM: %s", activity_id, record_id, message)
    with ctx.engine.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.activity_id == activity_id)
            .values(status="failed", error=message[:2000])
        )
    ctx.app.execute(
        "Disconnect", DisconnectRequest([record_id], EndReason.ERROR, message[:2000]), now=ctx.now
    )
    ctx.report.add_error(record_id, message)


def _push_cancellations(ctx: SyncContext) -> None:
    """Activities of ended connections that the operator asked to cancel in the CRM."""
    with ctx.engine.begin() as conn:
        # A seller closed it before we got to it (reconcile has just said so): their outcome
        # is CRM history and stays as it is.
        conn.execute(
            update(outbox)
            .where(outbox.c.status == "to_cancel", outbox.c.closed_on.is_not(None))
            .values(status="pushed")
        )
        rows = list(conn.execute(
            select(outbox.c.activity_id, outbox.c.activity_type, outbox.c.record_id)
            .where(outbox.c.status == "to_cancel")
        ))
    if not rows:
        return
    ctx.progress.phase("cancel", total=len(rows))
    for start in range(0, len(rows), BATCH_OPS):
        part = rows[start:start + BATCH_OPS]
        ops = []
        for row in part:
            mapping = ctx.mappings.activity(StepType(row.activity_type))
            ops.append(BatchOperation(
                method="PATCH", url=f"{mapping.entity_set}({row.activity_id})",
                body=mapping.cancel_body(), headers={"If-Match": "*"},
            ))
        results = ctx.client.execute_batch(ops, continue_on_error=True, atomic=False)
        canceled = []
        for row, result in zip(part, results, strict=True):
            # 404: a seller deleted it already; either way it is no longer open.
            if 200 <= result.status < 300 or result.status == 404:
                canceled.append(row.activity_id)
            else:
                ctx.report.add_error(row.record_id, f"cancel {row.activity_id}: {result.message}")
        if canceled:
            update_items(ctx.engine, canceled, status="pushed", crm_state="canceled",
                         closed_on=ctx.now)
        ctx.report.activities_canceled_in_crm += len(canceled)
        ctx.progress.advance(len(part))
