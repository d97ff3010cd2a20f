"""executemany without SQLAlchemy's per-row parameter processing, for the big batch writes.

Planning writes three rows per connection (outbox, connection, history); through Core's
executemany most of that time went into per-value bind processors (profiled: ~60% of the
StepDue write). On SQLite the statement is compiled once and the driver's own executemany gets
plain tuples, with datetimes in exactly the text form SQLAlchemy's SQLite DateTime stores, so
reads and comparisons see the same values. Other databases keep the Core path.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection
from sqlalchemy.sql.dml import ValuesBase


def _sqlite_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass timezone-aware times")
        if value.tzinfo is not UTC:
            value = value.astimezone(UTC)
        # The text SQLAlchemy's SQLite DATETIME stores ("2026-11-30 09:00:00.000000").
        return value.replace(tzinfo=None).isoformat(" ", "microseconds")
    return value


def execute_many(db: Connection, stmt: ValuesBase, rows: Sequence[Mapping[str, Any]]) -> None:
    """`db.execute(stmt, rows)`, faster on SQLite. Every row must have the same keys, and
    columns left out must have no Python-side default (checked: Core handles those)."""
    if not rows:
        return
    if db.dialect.name != "sqlite":
        db.execute(stmt, list(rows))
        return
    keys = list(rows[0])
    compiled = stmt.compile(dialect=db.dialect, column_keys=keys)
    order = compiled.positiontup or []
    if any(name not in rows[0] for name in order):
        db.execute(stmt, list(rows))  # a default to fill in: let Core do it
        return
    # A batch repeats a few instants (its `now`, shared due times): format each once.
    texts: dict[datetime, str] = {}

    def value(item: Any) -> Any:
        if not isinstance(item, datetime):
            return item
        text = texts.get(item)
        if text is None:
            text = texts[item] = _sqlite_value(item)
        return text

    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(
            str(compiled), [tuple([value(row[name]) for name in order]) for row in rows]
        )
    finally:
        cursor.close()
