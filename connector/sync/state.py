"""Delta links and other small facts the sync keeps between runs (the `sync_state` table)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Engine, select, update

from connector.store.schema import sync_state


def delta_key(entity_set: str) -> str:
    return f"delta:{entity_set}"


def get_value(engine: Engine, key: str) -> str | None:
    with engine.connect() as conn:
        return conn.execute(select(sync_state.c.value).where(sync_state.c.key == key)).scalar()


def set_value(engine: Engine, key: str, value: str) -> None:
    """Call after the data the value covers is committed: a crash in between re-reads."""
    now = datetime.now(UTC)
    with engine.begin() as conn:
        done = conn.execute(
            update(sync_state).where(sync_state.c.key == key).values(value=value, updated_on=now)
        ).rowcount
        if not done:
            conn.execute(sync_state.insert().values(key=key, value=value, updated_on=now))

