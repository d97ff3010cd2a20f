"""What pacing reads and writes: owners' settings, activities created per owner and day, and
the due connections ranked per owner for the daily cap."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, insert, literal, or_, select

from connector.engine.models import ConnectionState, SequenceStatus
from connector.engine.pacing import Candidate
from connector.store.chunks import chunks, unique
from connector.store.schema import connections, outbox, owner_settings, records, sequences, steps

# The widest gap between UTC and a local day: rows older than this cannot be "today" anywhere.
DAY_WINDOW = timedelta(hours=52)


@dataclass(frozen=True, slots=True)
class OwnerSettings:
    owner_id: str
    timezone: str | None  # IANA
    timezonecode: int | None
    work_start: str | None  # "08:00"
    work_end: str | None
    read_on: datetime


def owner_settings_of(db: Connection) -> dict[str, OwnerSettings]:
    return {row.owner_id: OwnerSettings(row.owner_id, row.timezone, row.timezonecode,
                                        row.work_start, row.work_end, row.read_on)
            for row in db.execute(select(owner_settings))}


def save_owner_settings(db: Connection, found: Iterable[OwnerSettings]) -> None:
    rows = list(found)
    for batch in chunks([r.owner_id for r in rows]):
        db.execute(delete(owner_settings).where(owner_settings.c.owner_id.in_(batch)))
    if rows:
        db.execute(insert(owner_settings), [
            {"owner_id": r.owner_id, "timezone": r.timezone, "timezonecode": r.timezonecode,
             "work_start": r.work_start, "work_end": r.work_end, "read_on": r.read_on}
            for r in rows
        ])


def record_owners(db: Connection) -> list[str]:
    """Every owner of a mirrored record (CRM user ids)."""
    query = select(records.c.owner_id).where(records.c.owner_id.is_not(None)).distinct()
    return unique(db.execute(query).scalars())


Creation = tuple[str | None, str | None, datetime]  # owner id, sequence id, created on


def recent_creations(db: Connection, now: datetime) -> list[Creation]:
    """(owner id, sequence id, created on) of activities planned lately and not cancelled."""
    query = (
        select(outbox.c.owner_id, steps.c.sequence_id, outbox.c.created_on)
        .select_from(outbox.outerjoin(steps, steps.c.id == outbox.c.step_id))
        .where(outbox.c.created_on > now - DAY_WINDOW, outbox.c.created_on <= now,
               outbox.c.status != "cancelled")
    )
    return [(owner, seq, created) for owner, seq, created in db.execute(query)]


def ranked_due(
    db: Connection, now: datetime, global_cap: int | None, sequence_caps: dict[str, int]
) -> list[Candidate]:
    """Due connections of active sequences, only the first ones per owner (and per sequence and
    owner, for capped sequences) in due order: no cap can admit more than those."""
    owner = records.c.owner_id
    order = (connections.c.due_at, connections.c.id)
    ranked = (
        select(
            connections.c.id, connections.c.sequence_id, owner.label("owner_id"),
            connections.c.due_at,
            func.row_number().over(partition_by=owner, order_by=order).label("rn_owner"),
            func.row_number().over(partition_by=(connections.c.sequence_id, owner),
                                   order_by=order).label("rn_seq"),
        )
        .join(sequences, sequences.c.id == connections.c.sequence_id)
        .join(records, records.c.id == connections.c.record_id)
        .where(connections.c.state == ConnectionState.SCHEDULED.value,
               connections.c.due_at <= now,
               sequences.c.status == SequenceStatus.ACTIVE.value)
        .subquery()
    )
    query = select(ranked.c.id, ranked.c.sequence_id, ranked.c.owner_id, ranked.c.due_at)
    if global_cap is not None:
        query = query.where(ranked.c.rn_owner <= global_cap)
    if sequence_caps:
        query = query.where(or_(ranked.c.sequence_id.not_in(list(sequence_caps)),
                                ranked.c.rn_seq <= literal(max(sequence_caps.values()))))
    return [Candidate(row.id, row.sequence_id, row.owner_id, row.due_at)
            for row in db.execute(query)]


def capped_sequences(db: Connection) -> dict[str, int]:
    """Active sequences with their own max_per_owner_per_day."""
    query = select(sequences.c.id, sequences.c.pacing).where(
        sequences.c.status == SequenceStatus.ACTIVE.value, sequences.c.pacing.is_not(None))
    caps: dict[str, int] = {}
    for sequence_id, pacing in db.execute(query):
        cap = (pacing or {}).get("max_per_owner_per_day")
        if isinstance(cap, int):
            caps[sequence_id] = cap
    return caps


def business_day_sequences(db: Connection) -> set[str]:
    query = select(sequences.c.id, sequences.c.pacing).where(sequences.c.pacing.is_not(None))
    return {sid for sid, pacing in db.execute(query) if (pacing or {}).get("business_days")}
