"""Delta links of change tracking, one per table (in the `sync_state` table)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, delete, select, update

from connector.store.schema import sync_state


def _key(entity_set: str) -> str:
    return f"delta:{entity_set}"


def get(db: Connection, entity_set: str) -> str | None:
    return db.execute(
        select(sync_state.c.value).where(sync_state.c.key == _key(entity_set))
    ).scalar()


def save(db: Connection, entity_set: str, link: str) -> None:
    """Call after the data the link covers is committed: a crash in between re-reads."""
    now = datetime.now(UTC)
    key = _key(entity_set)
    done = db.execute(
        update(sync_state).where(sync_state.c.key == key).values(value=link, updated_on=now)
    ).rowcount
    if not done:
        db.execute(sync_state.insert().values(key=key, value=link, updated_on=now))


def forget_all(db: Connection) -> int:
    """Drop every delta link: the next read of each table is a full one (`sync --full`)."""
    return db.execute(delete(sync_state).where(sync_state.c.key.like("delta:%"))).rowcount
