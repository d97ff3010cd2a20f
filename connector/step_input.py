"""What people type for a step (command-line options, web form fields) made into the engine's
values: one reading for the CLI and the console, so both accept and refuse the same text."""

from __future__ import annotations

import json

from connector.engine.models import Condition, ConditionKind, Op
from connector.errors import InvalidInput


def typed_value(text: str, where: str) -> object:
    """JSON when it parses (1, true, [1, 2], "text"), else the text itself: plain text needs
    no quotes on a command line or in a form."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        return text
    if isinstance(value, dict):
        raise InvalidInput(f"{where}: expected a value, not an object")
    return tuple(value) if isinstance(value, list) else value


def column_condition(column: str, op: str, value: str | None, where: str) -> Condition:
    """A condition on a record column; an empty value means none (or true for `null`)."""
    try:
        kind = Op((op or "eq").strip().lower())
    except ValueError:
        raise InvalidInput(
            f"{where} {op!r}: unknown comparison, expected one of eq, ne, gt, lt, in, null"
        ) from None
    parsed = typed_value(value, f"{where} value") if value else (
        True if kind is Op.NULL else None)
    return Condition(ConditionKind.COLUMN, column=column.strip(), op=kind, value=parsed)


def assignment(text: str, where: str) -> tuple[str, object]:
    """`column = value` of an update_record step."""
    column, sep, value = text.partition("=")
    if not sep or not column.strip():
        raise InvalidInput(f"{where}: {text.strip()!r}: expected column = value")
    return column.strip(), typed_value(value.strip(), f"{where} {column.strip()}")
