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
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.dml import ValuesBase


def _is_time(compiled: Compiled, name: str, first: Any) -> bool:
    """Whether a bound parameter holds times: a DateTime column (or decorator of one), or a
    datetime in the first row (a parameter Core did not type)."""
    bind = compiled.binds.get(name)  # type: ignore[attr-defined]
    kind = getattr(bind, "type", None)
    kind = getattr(kind, "impl", kind)
    return isinstance(kind, DateTime) or isinstance(first, datetime)


def sqlite_value(value: Any) -> Any:
    """A bound value as SQLAlchemy's SQLite dialect would store it (aware time -> UTC text)."""
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
    # Only time columns need converting; the rest go to the driver as they are (itemgetter
    # builds each row's tuple in C). A batch repeats a few instants: format each once.
    times = [i for i, name in enumerate(order) if _is_time(compiled, name, rows[0][name])]
    texts: dict[datetime, str] = {}

    def value(item: Any) -> Any:
        if not isinstance(item, datetime):
            return item
        text = texts.get(item)
        if text is None:
            text = texts[item] = sqlite_value(item)
        return text

    params: list[Any]
    if len(order) == 1:
        params = [(value(row[order[0]]),) for row in rows]
    else:
        get = itemgetter(*order)
        params = [get(row) for row in rows]
        if times:
            for n, found in enumerate(params):
                values = list(found)
                for i in times:
                    values[i] = value(values[i])
                params[n] = values
    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.executemany(str(compiled), params)
    finally:
        cursor.close()
