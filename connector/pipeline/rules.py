"""The product's rules, as ordinary registered plugins (built-in, order < 100)."""

from __future__ import annotations

from connector.engine import sequences as engine_sequences
from connector.engine.models import (
    ConnectRequest,
    DisconnectRequest,
    EndReason,
    Sequence,
    StepType,
    all_steps,
)
from connector.errors import EditConflict, InvalidInput, NotFound, RuleViolation
from connector.pipeline.checks import connect_refusals, require_active
from connector.pipeline.context import Context, Message, PluginStep, Stage, plugin
from connector.store import connections as conn_store
from connector.store import sequences as seq_store

MAX_NAME = 200


@plugin(Message.UPDATE, Stage.PRE_VALIDATION, order=5, name="unchanged-since-opened")
def unchanged_since_opened(ctx: Context) -> None:
    """An Update carrying the version (modified_on) its editor read is refused when the
    sequence was saved since: two editors never silently overwrite each other."""
    seen = ctx.target.modified_on
    before: Sequence = ctx.pre_image
    if seen is not None and before.modified_on is not None and seen != before.modified_on:
        raise EditConflict(
            f"sequence {before.name!r} changed since you opened it (saved "
            f"{before.modified_on:%Y-%m-%d %H:%M:%S} UTC): reload it and make your change again"
        )


@plugin(Message.UPDATE, Stage.PRE_VALIDATION, order=10, name="edit-only-when-inactive")
def edit_only_when_inactive(ctx: Context) -> None:
    before: Sequence = ctx.pre_image
    engine_sequences.require_inactive(before)
    if ctx.target.entity != before.entity and seq_store.connected_counts(
        ctx.database, [before.id]
    ):
        raise RuleViolation(
            f"sequence {before.name!r} has connected records: its entity cannot change"
        )


def _check_sequence(ctx: Context) -> None:
    seq: Sequence = ctx.target
    name = seq.name.strip()
    if not name:
        raise InvalidInput("a sequence needs a name")
    if len(name) > MAX_NAME:
        raise InvalidInput(f"sequence name is longer than {MAX_NAME} characters")
    tables = ctx.settings.sync.tables
    if seq.entity not in tables:
        raise InvalidInput(
            f"sequence {name!r}: entity {seq.entity!r} is not a sequence target "
            f"(one of: {', '.join(tables)})"
        )
    owner = seq_store.name_owner(ctx.database, name)
    if owner is not None and owner != seq.id:
        raise RuleViolation(f"a sequence named {name!r} already exists")
    if seq.steps:
        try:
            _check_steps(ctx, seq)
        except InvalidInput as exc:
            raise InvalidInput(f"sequence {name!r}: {exc}") from None


def _check_steps(ctx: Context, seq: Sequence, activating: bool = False) -> None:
    """Every path, the columns steps name, and the sequences they move records to.

    A move's target may be created after the sequence that names it (two sequences may move
    records to each other), but it must exist when the sequence is activated."""
    engine_sequences.check_structure(seq.steps, seq.exit_on)
    names_columns = any(
        s.values or (s.condition is not None and s.condition.column)
        for s in all_steps(seq.steps)
    )
    # Only sequences that name columns need the mappings read.
    columns = ctx.pipeline.columns_of(seq.entity) if ctx.pipeline and names_columns else None
    if columns is not None:
        engine_sequences.check_columns(seq, columns)
    for step in all_steps(seq.steps):
        if step.type is not StepType.MOVE_TO_SEQUENCE:
            continue
        where = engine_sequences.describe(step, engine_sequences.address_of(seq, step.id))
        if step.sequence.strip().lower() == seq.name.strip().lower():
            raise InvalidInput(f"{where}: a sequence cannot move records to itself")
        try:
            target = seq_store.find_sequence(ctx.database, step.sequence)
        except NotFound:
            if not activating:
                continue
            raise InvalidInput(f"{where}: no sequence named {step.sequence!r}") from None
        if target.id == seq.id or target.name.strip().lower() == seq.name.strip().lower():
            raise InvalidInput(f"{where}: a sequence cannot move records to itself")
        if target.entity != seq.entity:
            raise InvalidInput(
                f"{where}: sequence {target.name!r} is for {target.entity} records, "
                f"not {seq.entity}"
            )


sequence_on_create = PluginStep(
    Message.CREATE, Stage.PRE_VALIDATION, _check_sequence, 20, name="sequence-structure"
)
sequence_on_update = PluginStep(
    Message.UPDATE, Stage.PRE_VALIDATION, _check_sequence, 20, name="sequence-structure"
)


@plugin(Message.ACTIVATE, Stage.PRE_VALIDATION, order=20, name="valid-before-activate")
def valid_before_activate(ctx: Context) -> None:
    seq: Sequence = ctx.pre_image
    try:
        _check_steps(ctx, seq, activating=True)
    except InvalidInput as exc:
        raise InvalidInput(f"cannot activate {seq.name!r}: {exc}") from None


@plugin(Message.CONNECT, Stage.PRE_VALIDATION, order=20, name="connect-preconditions")
def connect_preconditions(ctx: Context) -> None:
    """Active sequence, right table, open known record, and one sequence per record.

    The refusals go to the Connect operation in `ctx.connect_refusals`; it checks again what
    it is about to write, whatever a later plugin changed."""
    seq: Sequence = ctx.pre_image
    require_active(seq)
    request: ConnectRequest = ctx.target
    ctx.connect_refusals.update(connect_refusals(ctx.database, seq, request.record_ids))


@plugin(Message.DELETE, Stage.PRE_OPERATION, order=20, name="disassociate-on-delete")
def disassociate_on_delete(ctx: Context) -> None:
    """Deleting a sequence ends every connection with `sequence_deleted` (a nested message)."""
    seq: Sequence = ctx.pre_image
    record_ids = [c.record_id for c in conn_store.of_sequence(ctx.database, seq.id)]
    if record_ids:
        result = ctx.execute(
            Message.DISCONNECT, DisconnectRequest(record_ids, EndReason.SEQUENCE_DELETED)
        )
        ctx.disconnected += result.succeeded


def _disconnect(ctx: Context, record_ids: list[str], reason: EndReason) -> int:
    current = conn_store.current_by_record(ctx.database, record_ids)
    if not current:
        return 0
    result = ctx.execute(Message.DISCONNECT, DisconnectRequest(list(current), reason))
    return int(result.succeeded)


@plugin(Message.RECORD_CHANGED, Stage.POST_OPERATION, order=20, name="disconnect-on-close")
def disconnect_on_close(ctx: Context) -> None:
    if not ctx.settings.sync.disconnect_on_close:
        return
    closed = [r.id for r in ctx.post_image if not r.is_open or r.is_deleted]
    if closed:
        ctx.result.disconnected += _disconnect(ctx, closed, EndReason.RECORD_CLOSED)


@plugin(Message.RECORD_DELETED, Stage.POST_OPERATION, order=20, name="disconnect-on-delete")
def disconnect_on_delete(ctx: Context) -> None:
    if ctx.post_image:
        ctx.result.disconnected += _disconnect(ctx, ctx.post_image, EndReason.RECORD_DELETED)


BUILT_IN: tuple[PluginStep, ...] = (
    unchanged_since_opened,
    edit_only_when_inactive,
    sequence_on_create,
    sequence_on_update,
    valid_before_activate,
    connect_preconditions,
    disassociate_on_delete,
    disconnect_on_close,
    disconnect_on_delete,
)
