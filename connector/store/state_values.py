"""Named values in the `sync_state` table (delta links, problems a sync found)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from connector.store.schema import sync_state


def get(db: Connection, key: str) -> str | None:
    return db.execute(select(sync_state.c.value).where(sync_state.c.key == key)).scalar()


def put(db: Connection, key: str, value: str) -> None:
    """Insert or replace in one statement: several workers may write the same key at once
    (an update-then-insert races into a duplicate key on PostgreSQL)."""
    dialect = postgresql if db.dialect.name == "postgresql" else sqlite
    insert = dialect.insert(sync_state).values(key=key, value=value, updated_on=datetime.now(UTC))
    db.execute(insert.on_conflict_do_update(
        index_elements=[sync_state.c.key],
        set_={"value": insert.excluded.value, "updated_on": insert.excluded.updated_on},
    ))
