"""The segment rule check: an [enroll] rule may only name columns the records have."""

from __future__ import annotations

from connector.engine.models import Sequence
from connector.errors import InvalidInput
from connector.pipeline.context import Context, Message, PluginStep, Stage
from connector.store.records import FIELDS, where_condition


def check_enroll_rule(ctx: Context) -> None:
    seq: Sequence = ctx.target
    rule = seq.enroll
    if rule is None:
        return
    where = f"sequence {seq.name!r}: [enroll]"
    columns = ctx.pipeline.columns_of(seq.entity) if ctx.pipeline else None
    extra = set(columns.types) - set(columns.fields.values()) if columns else set()
    known = set(FIELDS) | extra
    for column, value in rule.where:
        if column not in known:
            raise InvalidInput(
                f"{where} where {column}={value}: unknown column {column!r} (known for "
                f"{seq.entity}: {', '.join(sorted(known))})"
            )
        try:
            where_condition(column, value)
        except InvalidInput as exc:
            raise InvalidInput(f"{where} {str(exc).removeprefix('--')}") from None
    if rule.created_after is not None and (columns is None or "createdon" not in columns.types):
        raise InvalidInput(
            f"{where} created_after needs the createdon column in the {seq.entity} mapping's "
            '[columns] (createdon = "datetime")'
        )


RULES = (
    PluginStep(Message.CREATE, Stage.PRE_VALIDATION, check_enroll_rule, 30, name="enroll-rule"),
    PluginStep(Message.UPDATE, Stage.PRE_VALIDATION, check_enroll_rule, 30, name="enroll-rule"),
)
