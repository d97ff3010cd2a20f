"""The product's rules, as ordinary registered plugins (built-in, order < 100)."""

from __future__ import annotations

from connector.engine import sequences as engine_sequences
from connector.engine.models import (
    ConnectRequest,
    DisconnectRequest,
    EndReason,
    Sequence,
)
from connector.errors import InvalidInput, RuleViolation
from connector.pipeline.checks import connect_refusals, require_active
from connector.pipeline.context import Context, Message, PluginStep, Stage, plugin
from connector.store import connections as connection_store
from connector.store import sequences as seq_store

MAX_NAME = 200


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
            engine_sequences.check_structure(seq.steps)
        except InvalidInput as exc:
            raise InvalidInput(f"sequence {name!r}: {exc}") from None


sequence_on_create = PluginStep(
    Message.CREATE, Stage.PRE_VALIDATION, _check_sequence, 20, name="sequence-structure"
)
sequence_on_update = PluginStep(
    Message.UPDATE, Stage.PRE_VALIDATION, _check_sequence, 20, name="sequence-structure"
)


@plugin(Message.ACTIVATE, Stage.PRE_VALIDATION, order=20, name="valid-before-activate")
def valid_before_activate(ctx: Context) -> None:
    seq: Sequence = ctx.pre_image
    problem = engine_sequences.structure_problem(seq)
    if problem:
        raise InvalidInput(f"cannot activate {seq.name!r}: {problem}")


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
    record_ids = [c.record_id for c in connection_store.of_sequence(ctx.database, seq.id)]
    if record_ids:
        result = ctx.execute(
            Message.DISCONNECT, DisconnectRequest(record_ids, EndReason.SEQUENCE_DELETED)
        )
        ctx.disconnected += result.succeeded


def _disconnect(ctx: Context, record_ids: list[str], reason: EndReason) -> int:
    current = connection_store.current_by_record(ctx.database, record_ids)
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
    edit_only_when_inactive,
    sequence_on_create,
    sequence_on_update,
    valid_before_activate,
    connect_preconditions,
    disassociate_on_delete,
    disconnect_on_close,
    disconnect_on_delete,
)
