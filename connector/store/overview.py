"""What operators look at: due work per sequence, outbox backlog, connections by sequence and
state, the last successful run. Read-only queries for `status` and the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Connection, and_, case, func, select

from connector.engine.models import ConnectionState
from connector.store.outbox import OutboxStatus
from connector.store.schema import connections, outbox, runs, sequences


@dataclass(frozen=True)
class DueSoon:
    sequence: str
    status: str  # the sequence's: an inactive one's connections are paused
    overdue: int  # due at or before `now`: the next run creates them
    due_soon: int  # due after `now`, up to `until`
    next_due: datetime | None  # the earliest due time after `now`, within `until`


def due_soon(db: Connection, now: datetime, until: datetime) -> list[DueSoon]:
    """Per sequence with any scheduled step due by `until`: how many, and the first."""
    scheduled = and_(connections.c.state == ConnectionState.SCHEDULED,
                     connections.c.due_at <= until)
    later = connections.c.due_at > now
    query = (
        select(
            sequences.c.name, sequences.c.status,
            func.sum(case((later, 0), else_=1)),
            func.sum(case((later, 1), else_=0)),
            func.min(case((later, connections.c.due_at), else_=None)),
        )
        .join(connections, connections.c.sequence_id == sequences.c.id)
        .where(scheduled)
        .group_by(sequences.c.id, sequences.c.name, sequences.c.status)
        .order_by(sequences.c.name)
    )
    return [
        DueSoon(name, status, int(overdue or 0), int(soon or 0), _utc(first))
        for name, status, overdue, soon, first in db.execute(query)
    ]


def outbox_backlog(db: Connection) -> int:
    """Activities planned but not yet created in the CRM."""
    query = select(func.count()).select_from(outbox).where(outbox.c.status == OutboxStatus.PENDING)
    return int(db.execute(query).scalar() or 0)


def connections_by_sequence(db: Connection) -> list[tuple[str, str, int]]:
    """(sequence name, connection state, count) for every current connection."""
    query = (
        select(sequences.c.name, connections.c.state, func.count())
        .join(connections, connections.c.sequence_id == sequences.c.id)
        .group_by(sequences.c.name, connections.c.state)
        .order_by(sequences.c.name, connections.c.state)
    )
    return [(name, state, int(n)) for name, state, n in db.execute(query)]


def last_success(db: Connection) -> datetime | None:
    """When the last real (not dry) run that did not fail finished."""
    query = select(func.max(runs.c.finished_on)).where(
        runs.c.outcome.in_(("ok", "partial")), runs.c.dry_run.is_(False)
    )
    return _utc(db.execute(query).scalar())


def _utc(value: datetime | str | None) -> datetime | None:
    """Aggregates may come back as naive or as SQLite text, whatever the column's type."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
