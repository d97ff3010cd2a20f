"""The core operation of every message: the store writes between PreOperation and PostOperation.

Rules live in plugins (`rules.py`); these functions only carry out what the engine decides,
in a constant number of statements per batch.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection as Db
from sqlalchemy.exc import IntegrityError

from connector.engine import connections as engine_connections
from connector.engine import progression
from connector.engine.models import (
    ActivityResult,
    CancelPendingActivity,
    Connection,
    ConnectRequest,
    DisconnectRequest,
    EndReason,
    HistoryEvent,
    PlanActivity,
    Record,
    RecordOutcome,
    Sequence,
    SequenceStatus,
    Step,
)
from connector.engine.sequences import new_id
from connector.errors import InvalidInput, NotFound, RuleViolation
from connector.pipeline.checks import connect_refusals, require_active
from connector.pipeline.context import Context, Message
from connector.pipeline.pipeline import Operation, Pipeline
from connector.pipeline.results import (
    ActivityCompletedResult,
    BulkResult,
    RecordChangedResult,
    RecordDeletedResult,
    SequenceDeleted,
    StepDueResult,
)
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import records as record_store
from connector.store import sequences as seq_store
from connector.store.chunks import unique
from connector.store.records import Owners


def _write(
    db: Db,
    transitions: list[tuple[Connection, progression.Transition]],
    seqs: dict[str, Sequence],
    now: datetime,
    owners: Owners | None = None,
) -> None:
    """Carry out engine transitions: outbox, connection rows, history. One batch of statements.

    `owners` (as `records.owners` gives them) saves a query when the caller has them already.
    """
    planned: list[PlanActivity] = []
    cancel: list[str] = []
    changed: list[Connection] = []
    ended: list[str] = []
    events: list[HistoryEvent] = []
    for before, tr in transitions:
        for effect in tr.effects:
            if isinstance(effect, PlanActivity):
                planned.append(effect)
            elif isinstance(effect, CancelPendingActivity):
                cancel.append(effect.activity_id)
        events.extend(tr.events)
        if tr.connection is None:
            ended.append(before.id)
        elif tr.connection != before:
            changed.append(tr.connection)
    if planned:
        if owners is None:
            owners = record_store.owners(db, (p.record_id for p in planned))
        outbox_store.insert_planned(db, planned, owners, now)
    outbox_store.cancel_pending(db, cancel)
    connection_store.update_connections(db, changed)
    connection_store.delete_connections(db, ended)
    outbox_store.cancel_for_connections(db, ended, cancel_open_in_crm=False)
    connection_store.insert_history(db, events, seqs)


# Sequences -----------------------------------------------------------------------------------


def _own_step_ids(db: Db, seq: Sequence) -> Sequence:
    """Give fresh ids to steps whose ids another sequence uses (a copied file, say)."""
    taken = seq_store.foreign_step_ids(db, seq)
    if not taken:
        return seq
    return replace(seq, steps=tuple(
        replace(s, id=new_id()) if s.id in taken else s for s in seq.steps
    ))


def _sequence_pre_image(ctx: Context) -> Sequence:
    ref = ctx.target.id if isinstance(ctx.target, Sequence) else str(ctx.target)
    seq = seq_store.load_sequence(ctx.database, ref)
    if seq is None:
        raise NotFound(f"no sequence with id {ref!r}")
    return seq


def _create(ctx: Context) -> None:
    target: Sequence = ctx.target
    seq = replace(
        target, id=target.id or new_id(), status=SequenceStatus.INACTIVE,
        owner=target.owner or ctx.user, created_on=ctx.now, modified_on=ctx.now,
    )
    seq = _own_step_ids(ctx.database, seq)
    seq_store.insert_sequence(ctx.database, seq)
    ctx.post_image = ctx.result = seq


def _update(ctx: Context) -> None:
    before: Sequence = ctx.pre_image
    target: Sequence = ctx.target
    seq = replace(
        target, status=before.status, created_on=before.created_on, modified_on=ctx.now,
        owner=target.owner or before.owner,
    )
    db = ctx.database
    seq = _own_step_ids(db, seq)
    seq_store.update_sequence(db, seq)
    kept = {s.id for s in seq.steps}
    if any(s.id not in kept for s in before.steps):
        moved = [
            (c, progression.move_off_removed_step(c, before, seq, ctx.now))
            for c in connection_store.of_sequence(db, seq.id)
            if c.step_id not in kept
        ]
        _write(db, moved, {seq.id: before}, ctx.now)
    ctx.post_image = ctx.result = seq


def _set_status(status: SequenceStatus) -> Operation:
    def run(ctx: Context) -> None:
        seq = replace(ctx.pre_image, status=status, modified_on=ctx.now)
        seq_store.update_sequence(ctx.database, seq)
        ctx.post_image = ctx.result = seq

    return Operation(run, _sequence_pre_image)


def _delete(ctx: Context) -> None:
    seq: Sequence = ctx.pre_image
    disconnected = ctx.disconnected
    # Re-checked here: connections the rules did not end (or a later plugin made) end now.
    left = [c.record_id for c in connection_store.of_sequence(ctx.database, seq.id)]
    if left:
        result = ctx.execute(
            Message.DISCONNECT, DisconnectRequest(left, EndReason.SEQUENCE_DELETED)
        )
        disconnected += result.succeeded
    seq_store.delete_sequence(ctx.database, seq.id)
    ctx.result = SequenceDeleted(seq, disconnected)


# Connections ---------------------------------------------------------------------------------


def _connect_pre_image(ctx: Context) -> Sequence:
    request: ConnectRequest = ctx.target
    seq = seq_store.load_sequence(ctx.database, request.sequence_id)
    if seq is None:
        raise NotFound(f"no sequence with id {request.sequence_id!r}")
    return seq


def _connect(ctx: Context) -> None:
    request: ConnectRequest = ctx.target
    seq: Sequence = ctx.pre_image
    if request.sequence_id != seq.id:  # a PreOperation plugin pointed it at another sequence
        seq = _connect_pre_image(ctx)
    require_active(seq)
    ids = unique(request.record_ids)
    # The rules' refusals stand; every other record is checked again against the state, so a
    # PreOperation plugin that added or changed records cannot slip one past the rules.
    refused = {
        **connect_refusals(ctx.database, seq, [i for i in ids if i not in ctx.connect_refusals]),
        **ctx.connect_refusals,
    }
    result = BulkResult()
    new: list[Connection] = []
    events: list[HistoryEvent] = []
    for record_id in ids:
        if record_id in refused:
            result.outcomes.append(RecordOutcome(record_id, "skipped", refused[record_id]))
            continue
        connection, event = engine_connections.start(seq, record_id, ctx.now)
        new.append(connection)
        events.append(event)
        result.outcomes.append(RecordOutcome(record_id, "connected"))
    try:
        connection_store.insert_connections(ctx.database, new)
    except IntegrityError:
        # The database's own one-connection-per-record constraint (or a missing record).
        raise RuleViolation(
            "connect refused by the database: a record is already connected or unknown"
        ) from None
    connection_store.insert_history(ctx.database, events, {seq.id: seq})
    ctx.result = result


def _disconnect(ctx: Context) -> None:
    request: DisconnectRequest = ctx.target
    reason = EndReason(request.reason)
    db = ctx.database
    ids = unique(request.record_ids)
    current = connection_store.current_by_record(db, ids)
    seqs = seq_store.load_sequences(db, {c.sequence_id for c in current.values()})
    result = BulkResult()
    events: list[HistoryEvent] = []
    for record_id in ids:
        connection = current.get(record_id)
        if connection is None:
            result.outcomes.append(
                RecordOutcome(record_id, "skipped", f"record {record_id} is not connected")
            )
            continue
        events.append(engine_connections.end(connection, reason, ctx.now, request.message))
        result.outcomes.append(RecordOutcome(record_id, "disconnected"))
    ended = [current[e.record_id].id for e in events]
    connection_store.insert_history(db, events, seqs)
    connection_store.delete_connections(db, ended)
    cancel_open = (
        ctx.settings.sync.cancel_open_activities_on_disconnect and reason is not EndReason.COMPLETED
    )
    result.cancelled, result.to_cancel = outbox_store.cancel_for_connections(
        db, ended, cancel_open_in_crm=cancel_open
    )
    ctx.result = result


def _step_due(ctx: Context) -> None:
    db = ctx.database
    wanted: list[Connection] = list(ctx.target)
    # The target says which connections; the database says where they are now. Rows read in
    # this very transaction (a DuePage, items plugins left untouched) are current already;
    # anything else is read again.
    read = ctx.target.trusted(db) if isinstance(ctx.target, connection_store.DuePage) else {}
    trusted = {c.id: c for c in wanted if read.get(c.id) is c}
    fresh, owners = connection_store.by_ids_with_owner(
        db, (c.id for c in wanted if c.id not in trusted)
    )
    if trusted:
        page_owners = ctx.target.owners
        owners.update((c.record_id, page_owners[c.record_id]) for c in trusted.values())
        fresh = {**trusted, **fresh}
    seqs = seq_store.load_sequences(db, {c.sequence_id for c in fresh.values()})
    adjusters = ctx.due_adjusters

    def adjust(step: Step, due: datetime) -> datetime:
        for adjuster in adjusters:
            due = adjuster(step, due)
        return due

    result = StepDueResult(connections=len(wanted))
    transitions: list[tuple[Connection, progression.Transition]] = []
    for connection in fresh.values():
        seq = seqs.get(connection.sequence_id)
        due = connection.due_at
        if seq is None or not seq.is_active or due is None or due > ctx.now:
            result.skipped += 1
            continue
        tr = progression.plan_due(connection, seq, ctx.now, adjust if adjusters else None)
        transitions.append((connection, tr))
        result.planned += sum(isinstance(e, PlanActivity) for e in tr.effects)
        result.waits_completed += sum(
            1 for e in tr.events if e.event == "step_completed"
        )
        if tr.ended is EndReason.COMPLETED:
            result.completed += 1
        result.deferred += tr.deferred
    result.skipped += len(wanted) - len(fresh)
    _write(db, transitions, seqs, ctx.now, owners)
    ctx.result = result


def _not_before_creation(result: ActivityResult, item: Any) -> ActivityResult:
    """A completion never predates the activity (a clock gone back would say so): the wait
    after it counts from when seqsync created it, at the earliest."""
    created = item.pushed_on or item.created_on
    return replace(result, at=created) if created is not None and result.at < created else result


def _activity_completed(ctx: Context) -> None:
    db = ctx.database
    results: list[ActivityResult] = list(ctx.target)
    ours = outbox_store.open_rows(db, (r.activity_id for r in results))
    fresh = [
        _not_before_creation(r, ours[r.activity_id])
        for r in {r.activity_id: r for r in results}.values() if r.activity_id in ours
    ]
    outcome = ActivityCompletedResult(ignored=len(results) - len(fresh))
    outbox_store.record_outcomes(db, fresh)
    waiting = connection_store.by_activity(db, (r.activity_id for r in fresh))
    seqs = seq_store.load_sequences(db, {c.sequence_id for c in waiting.values()})
    transitions: list[tuple[Connection, progression.Transition]] = []
    for r in fresh:
        connection = waiting.get(r.activity_id)
        if connection is None or connection.sequence_id not in seqs:
            outcome.ignored += 1
            continue
        tr = progression.advance_on_outcome(connection, seqs[connection.sequence_id], r)
        if not tr.changed:
            outcome.ignored += 1
            continue
        transitions.append((connection, tr))
        if tr.connection is None:
            outcome.completed += 1
        else:
            outcome.advanced += 1
    _write(db, transitions, seqs, ctx.now)
    ctx.result = outcome


# CRM rows ------------------------------------------------------------------------------------


def _record_changed(ctx: Context) -> None:
    batch: list[Record] = list(ctx.target)
    for record in batch:
        if ctx.table and record.table != ctx.table:
            raise InvalidInput(
                f"record {record.id} is a {record.table!r} row in a {ctx.table!r} batch"
            )
    inserted, updated = record_store.upsert_records(ctx.database, batch, ctx.now)
    ctx.post_image = batch
    ctx.result = RecordChangedResult(inserted=inserted, updated=updated)


def _record_deleted(ctx: Context) -> None:
    known = record_store.mark_deleted(ctx.database, [str(i) for i in ctx.target], ctx.now)
    ctx.post_image = known
    ctx.result = RecordDeletedResult(deleted=len(known))


def install(pipeline: Pipeline) -> None:
    """Give every message its core operation."""
    pipeline.set_operation(Message.CREATE, Operation(_create))
    pipeline.set_operation(Message.UPDATE, Operation(_update, _sequence_pre_image))
    pipeline.set_operation(Message.DELETE, Operation(_delete, _sequence_pre_image))
    pipeline.set_operation(Message.ACTIVATE, _set_status(SequenceStatus.ACTIVE))
    pipeline.set_operation(Message.DEACTIVATE, _set_status(SequenceStatus.INACTIVE))
    pipeline.set_operation(Message.CONNECT, Operation(_connect, _connect_pre_image))
    pipeline.set_operation(Message.DISCONNECT, Operation(_disconnect))
    pipeline.set_operation(Message.STEP_DUE, Operation(_step_due))
    pipeline.set_operation(Message.ACTIVITY_COMPLETED, Operation(_activity_completed))
    pipeline.set_operation(Message.RECORD_CHANGED, Operation(_record_changed))
    pipeline.set_operation(Message.RECORD_DELETED, Operation(_record_deleted))
