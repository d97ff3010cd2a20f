"""CRM rows kept out of the state because they could not be mapped or stored, with why."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from connector.store.chunks import chunks, unique
from connector.store.schema import quarantine


def put(db: Connection, table: str, record_id: str, error: str, now: datetime) -> None:
    key = (quarantine.c.table == table) & (quarantine.c.record_id == record_id)
    done = db.execute(
        update(quarantine).where(key).values(error=error[:2000], last_seen_on=now)
    ).rowcount
    if not done:
        db.execute(quarantine.insert().values(
            table=table, record_id=record_id, error=error[:2000], first_seen_on=now,
            last_seen_on=now,
        ))


def release(db: Connection, table: str, record_ids: Iterable[str]) -> int:
    """These rows were read back fine: out of quarantine. Returns how many were in."""
    count = 0
    for batch in chunks(unique(record_ids)):
        count += db.execute(delete(quarantine).where(
            quarantine.c.table == table, quarantine.c.record_id.in_(batch)
        )).rowcount
    return count


def listing(db: Connection, limit: int = 50) -> list[dict[str, Any]]:
    query = select(quarantine).order_by(quarantine.c.last_seen_on.desc()).limit(limit)
    return [
        {"table": r.table, "record_id": r.record_id, "error": r.error,
         "since": r.first_seen_on.isoformat(), "last_seen": r.last_seen_on.isoformat()}
        for r in db.execute(query)
    ]


def count(db: Connection) -> int:
    return int(db.execute(select(func.count()).select_from(quarantine)).scalar() or 0)


def of_record(db: Connection, record_id: str) -> dict[str, Any] | None:
    row = db.execute(
        select(quarantine).where(func.lower(quarantine.c.record_id) == record_id.lower())
    ).first()
    if row is None:
        return None
    return {"table": row.table, "error": row.error, "since": row.first_seen_on.isoformat(),
            "last_seen": row.last_seen_on.isoformat()}
