"""Delta links of change tracking, one per table (in the `sync_state` table)."""

from __future__ import annotations

from sqlalchemy import Connection

from connector.store import state_values


def _key(entity_set: str) -> str:
    return f"delta:{entity_set}"


def get(db: Connection, entity_set: str) -> str | None:
    return state_values.get(db, _key(entity_set))


def save(db: Connection, entity_set: str, link: str) -> None:
    """Call after the data the link covers is committed: a crash in between re-reads."""
    state_values.put(db, _key(entity_set), link)
