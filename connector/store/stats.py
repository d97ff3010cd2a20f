"""Counts for people watching outcomes: where records are on a sequence, how their
connections ended, and the work waiting for the next sync."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, func, select

from connector.engine.models import ConnectionState
from connector.store.connections import count_by_state, due_count
from connector.store.outbox import OutboxStatus, count_by_status
from connector.store.schema import connection_history, connections


def step_counts(db: Connection, sequence_id: str) -> dict[str, int]:
    """step id -> connected records on that step now."""
    query = (
        select(connections.c.step_id, func.count())
        .where(connections.c.sequence_id == sequence_id)
        .group_by(connections.c.step_id)
    )
    return {step_id: int(n) for step_id, n in db.execute(query)}


def endings(db: Connection, sequence_id: str) -> dict[str, int]:
    """ending reason -> connections of this sequence that ended with it, ever."""
    query = (
        select(connection_history.c.reason, func.count())
        .where(connection_history.c.sequence_id == sequence_id,
               connection_history.c.event == "ended")
        .group_by(connection_history.c.reason)
    )
    return {str(reason): int(n) for reason, n in db.execute(query)}


def backlog(db: Connection, now: datetime) -> dict[str, int]:
    """What the next sync has to do: steps due now, activities queued for the CRM (to
    create or to cancel), and activities open in the CRM waiting for a seller."""
    queued = count_by_status(db)
    return {
        "due_now": due_count(db, now),
        "to_create": queued.get(OutboxStatus.PENDING, 0),
        "to_cancel": queued.get(OutboxStatus.TO_CANCEL, 0),
        "waiting_on_sellers": count_by_state(db).get(ConnectionState.WAITING.value, 0),
    }
