"""Record updates queued by update_record steps, and what became of them in the CRM."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import Connection, Row, select, update
from sqlalchemy.dialects import postgresql, sqlite

from connector.engine.models import UpdateRecord
from connector.store.chunks import chunks, unique
from connector.store.schema import record_updates

PENDING = "pending"
PUSHED = "pushed"
FAILED = "failed"


def insert_updates(
    db: Connection, updates: list[UpdateRecord], tables: Mapping[str, str], now: datetime
) -> None:
    """Queue updates (status pending); an id already queued (a replayed step) is kept as is.

    `tables` maps record id -> its table.
    """
    if not updates:
        return
    rows = [
        {"update_id": u.update_id, "connection_id": u.connection_id, "record_id": u.record_id,
         "record_table": tables[u.record_id], "step_id": u.step_id,
         "values": dict(u.values), "status": PENDING, "created_on": now}
        for u in updates
    ]
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    db.execute(dialect.insert(record_updates).on_conflict_do_nothing(), rows)


def pending(db: Connection, limit: int = 1000) -> list[Row]:
    query = (
        select(record_updates).where(record_updates.c.status == PENDING)
        .order_by(record_updates.c.created_on, record_updates.c.update_id).limit(limit)
    )
    return list(db.execute(query))


def mark(db: Connection, update_ids: Iterable[str], status: str, now: datetime,
         error: str | None = None) -> None:
    for batch in chunks(unique(update_ids)):
        db.execute(
            update(record_updates).where(record_updates.c.update_id.in_(batch))
            .values(status=status, pushed_on=now if status == PUSHED else None, error=error)
        )


def of_record(db: Connection, record_id: str) -> list[Row]:
    query = (
        select(record_updates).where(record_updates.c.record_id == record_id)
        .order_by(record_updates.c.created_on)
    )
    return list(db.execute(query))
