"""The core operation of every message: the store writes between PreOperation and PostOperation.

Rules live in plugins (`rules.py`); these functions only carry out what the engine decides,
in a constant number of statements per batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import Connection as Db
from sqlalchemy.exc import IntegrityError

from connector.engine import connections as engine_connections
from connector.engine import progression
from connector.engine.models import (
    ActivityResult,
    CancelCrmActivity,
    CancelPendingActivity,
    ConditionKind,
    Connection,
    ConnectRequest,
    DisconnectRequest,
    EndReason,
    HistoryEvent,
    MoveToSequence,
    PlanActivity,
    Record,
    RecordOutcome,
    Sequence,
    SequenceStatus,
    Signal,
    Step,
    UpdateRecord,
    all_steps,
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
    SignalResult,
    StepDueResult,
)
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import records as record_store
from connector.store import sequences as seq_store
from connector.store import updates as update_store
from connector.store.chunks import unique
from connector.store.records import Owners

ColumnsOf = Callable[[str], Mapping[str, object] | None]  # record id -> its column values


def _write(
    db: Db,
    transitions: list[tuple[Connection, progression.Transition]],
    seqs: dict[str, Sequence],
    now: datetime,
    owners: Owners | None = None,
    adjust: progression.DueAdjuster | None = None,
    columns_of: ColumnsOf | None = None,
) -> int:
    """Carry out engine transitions: outbox, record updates, moves, connection rows, history.

    One batch of statements. `owners` (as `records.owners` gives them) saves a query when the
    caller has them already. A move connects the record to its new sequence here, in the same
    transaction that ends the old connection, and plans what is due on it at once (`adjust`
    as the due adjuster). Returns how many records moved.
    """
    arrivals: list[progression.Transition] = []  # the new connections of moved records
    if any(tr.ended is EndReason.MOVED for _, tr in transitions):
        resolved = []
        for before, tr in transitions:
            if tr.ended is EndReason.MOVED:
                tr, arrival = _move(db, before, tr, seqs, now, adjust, columns_of)
                if arrival is not None:
                    arrivals.append(arrival)
            resolved.append((before, tr))
        transitions = resolved
    planned: list[PlanActivity] = []
    updates: list[UpdateRecord] = []
    cancel: list[str] = []
    cancel_crm: list[str] = []
    changed: list[Connection] = []
    ended: list[Connection] = []
    events: list[HistoryEvent] = []
    for tr in [tr for _, tr in transitions] + arrivals:
        for effect in tr.effects:
            if isinstance(effect, PlanActivity):
                planned.append(effect)
            elif isinstance(effect, CancelPendingActivity):
                cancel.append(effect.activity_id)
            elif isinstance(effect, CancelCrmActivity):
                cancel_crm.append(effect.activity_id)
            elif isinstance(effect, UpdateRecord):
                updates.append(effect)
        events.extend(tr.events)
    for before, tr in transitions:
        if tr.connection is None:
            ended.append(before)
        elif tr.connection != before:
            changed.append(tr.connection)
    if planned or updates:
        wanted = [x.record_id for x in [*planned, *updates]]
        if owners is None or any(r not in owners for r in wanted):
            owners = {**(owners or {}), **record_store.owners(db, wanted)}
        outbox_store.insert_planned(db, planned, owners, now)
        update_store.insert_updates(db, updates, {r: o[0] for r, o in owners.items()}, now)
    outbox_store.cancel_pending(db, cancel)
    outbox_store.cancel_in_crm(db, cancel_crm)
    connection_store.update_connections(db, changed)
    connection_store.delete_connections(db, [c.id for c in ended])
    outbox_store.cancel_for_connections(db, ended, cancel_open_in_crm=False)
    # After the old rows are gone, so one-sequence-per-record holds at every instant.
    connection_store.insert_connections(db, [tr.connection for tr in arrivals if tr.connection])
    connection_store.insert_history(db, events, seqs)
    return len(arrivals)


def _move(
    db: Db,
    before: Connection,
    tr: progression.Transition,
    seqs: dict[str, Sequence],
    now: datetime,
    adjust: progression.DueAdjuster | None,
    columns_of: ColumnsOf | None,
) -> tuple[progression.Transition, progression.Transition | None]:
    """Resolve a move_to_sequence ending: (the old connection's ending, the new connection
    planned up to `now`), or an `error` ending and None when the target cannot take it."""
    move = next(e for e in tr.effects if isinstance(e, MoveToSequence))
    source = seqs[before.sequence_id]
    try:
        target: Sequence | None = seq_store.find_sequence(db, move.sequence)
    except NotFound:
        target = None
    problem = _move_refusal(source, target, move.sequence)
    if problem or target is None:
        event = engine_connections.end(before, EndReason.ERROR, move.at, problem)
        kept = tuple(e for e in tr.events if e.event != "ended")
        return replace(tr, effects=(), events=(*kept, event), ended=EndReason.ERROR), None
    seqs[target.id] = target
    connection, connected = engine_connections.start(target, before.record_id, move.at)
    connected = replace(connected, message=f"moved from {source.name}")
    columns = columns_of(connection.record_id) if columns_of and needs_columns(target) else None
    planning = progression.plan_due(connection, target, now, adjust, columns)
    return tr, replace(planning, events=(connected, *planning.events))


def _move_refusal(source: Sequence, target: Sequence | None, ref: str) -> str | None:
    if target is None:
        return f"move_to_sequence: no sequence named or with id {ref!r}"
    if target.id == source.id:
        return f"move_to_sequence: {target.name!r} is this sequence"
    if target.entity != source.entity:
        return (f"move_to_sequence: {target.name!r} is for {target.entity} records, "
                f"not {source.entity}")
    if not target.is_active:
        return f"move_to_sequence: sequence {target.name!r} is inactive"
    return None


# Sequences -----------------------------------------------------------------------------------


def _own_step_ids(db: Db, seq: Sequence) -> Sequence:
    """Give fresh ids to steps whose ids another sequence uses (a copied file, say)."""
    taken = seq_store.foreign_step_ids(db, seq)
    if not taken:
        return seq

    def fresh(steps: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(
            replace(s, id=new_id() if s.id in taken else s.id, then=fresh(s.then),
                    otherwise=fresh(s.otherwise))
            for s in steps
        )

    return replace(seq, steps=fresh(seq.steps))


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
    kept = {s.id for s in all_steps(seq.steps)}
    if any(s.id not in kept for s in all_steps(before.steps)):
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
    ended = [current[e.record_id] for e in events]
    connection_store.insert_history(db, events, seqs)
    connection_store.delete_connections(db, [c.id for c in ended])
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
    with_columns = {sid for sid, seq in seqs.items() if needs_columns(seq)}
    columns = _columns_by_record(ctx, [
        c.record_id for c in fresh.values() if c.sequence_id in with_columns
    ]) if with_columns else {}
    transitions: list[tuple[Connection, progression.Transition]] = []
    for connection in fresh.values():
        seq = seqs.get(connection.sequence_id)
        due = connection.due_at
        if seq is None or not seq.is_active or due is None or due > ctx.now:
            result.skipped += 1
            continue
        connection_adjust = adjust if adjusters else None
        wait_end = None
        if ctx.pacing is not None:
            owner = owners.get(connection.record_id, ("", None, None))[1]
            connection_adjust = ctx.pacing.adjuster(owner, connection_adjust)
            wait_end = ctx.pacing.wait_end(owner, seq)
        tr = progression.plan_due(connection, seq, ctx.now, connection_adjust,
                                  columns.get(connection.record_id), wait_end)
        transitions.append((connection, tr))
        result.planned += sum(isinstance(e, PlanActivity) for e in tr.effects)
        result.updates += sum(isinstance(e, UpdateRecord) for e in tr.effects)
        result.waits_completed += sum(
            1 for e in tr.events if e.event == "step_completed"
        )
        if tr.ended is EndReason.COMPLETED:
            result.completed += 1
        result.deferred += tr.deferred
    result.skipped += len(wanted) - len(fresh)
    result.moved = _write(
        db, transitions, seqs, ctx.now, owners, adjust if adjusters else None,
        lambda record_id: _columns_by_record(ctx, [record_id]).get(record_id),
    )
    ctx.result = result


def needs_columns(seq: Sequence) -> bool:
    return any(
        s.condition is not None and s.condition.kind is ConditionKind.COLUMN
        for s in all_steps(seq.steps)
    )


def _columns_by_record(ctx: Context, record_ids: list[str]) -> dict[str, dict[str, object]]:
    """Record id -> its mapped column values, for connections at column conditions."""
    if not record_ids:
        return {}
    found = record_store.load_records(ctx.database, record_ids)
    values: dict[str, dict[str, object]] = {}
    for record_id, record in found.items():
        columns = ctx.pipeline.columns_of(record.table) if ctx.pipeline else None
        values[record_id] = columns.values(record) if columns else dict(record.columns)
    return values


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


def _signal_received(ctx: Context) -> None:
    """Buyer signals: end connections on their sequence's exit criteria, or remember replies."""
    db = ctx.database
    signals: list[Signal] = sorted(ctx.target, key=lambda sig: sig.at)
    current = connection_store.current_by_record(db, (sig.record_id for sig in signals))
    seqs = seq_store.load_sequences(db, {c.sequence_id for c in current.values()})
    outcome = SignalResult()
    transitions: dict[str, tuple[Connection, progression.Transition]] = {}
    for sig in signals:
        before = current.get(sig.record_id)
        if before is None or before.sequence_id not in seqs:
            outcome.ignored += 1
            continue
        connection = transitions[before.id][1].connection if before.id in transitions else before
        if connection is None:  # ended by an earlier signal of this batch
            outcome.ignored += 1
            continue
        tr = progression.on_signal(connection, seqs[connection.sequence_id], sig)
        if not tr.changed:
            outcome.ignored += 1
            continue
        if before.id in transitions:  # several signals for one record: keep every event
            earlier = transitions[before.id][1]
            tr = replace(tr, events=earlier.events + tr.events,
                         effects=earlier.effects + tr.effects)
        transitions[before.id] = (before, tr)
        if tr.connection is None:
            outcome.ended += 1
        else:
            outcome.noted += 1
    _write(db, list(transitions.values()), seqs, ctx.now)
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
    pipeline.set_operation(Message.SIGNAL_RECEIVED, Operation(_signal_received))
