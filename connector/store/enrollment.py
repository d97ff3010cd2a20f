"""Segments in the state: which records a sequence's enrolment rule picks on a sync, and what
each sync enrolled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Select, func, insert, literal_column, select

from connector.engine.models import EnrollRule, Sequence
from connector.store.records import where_condition
from connector.store.schema import connection_history, connections, enrollment_runs, records

h = connection_history


@dataclass(frozen=True, slots=True)
class Pick:
    """What the rule finds now: the ids to connect (at most max_per_run) and the counts."""

    ids: list[str]
    matched: int  # open records the rule matches, connected or not
    on_other_sequence: int  # matching, but on another sequence: left alone
    ended_before: int  # matching, but they ended this sequence (and may not come back yet)
    left_for_next_run: int  # eligible beyond max_per_run


def _matching(seq: Sequence, rule: EnrollRule) -> Select[Any]:
    query = select(records.c.id).where(
        records.c.table == seq.entity, records.c.is_open.is_(True),
        records.c.is_deleted.is_(False),
    )
    for column, value in rule.where:
        query = query.where(where_condition(column, value))
    if rule.created_after is not None:
        # ISO 8601 text compares in time order; a date is on or after midnight of that day.
        query = query.where(
            records.c.columns["createdon"].as_string() >= rule.created_after.isoformat())
    return query


def _count(db: Connection, query: Select[Any]) -> int:
    return int(db.execute(select(func.count()).select_from(query.subquery())).scalar() or 0)


def pick(db: Connection, seq: Sequence, now: datetime) -> Pick:
    rule = seq.enroll
    if rule is None:
        return Pick([], 0, 0, 0, 0)
    matching = _matching(seq, rule)
    connected = select(connections.c.record_id)
    on_other = select(connections.c.record_id).where(connections.c.sequence_id != seq.id)
    # A literal, not a parameter: SQLite uses the partial ix_history_sequence_ended only so.
    left_it = select(h.c.record_id).where(h.c.sequence_id == seq.id,
                                          h.c.event == literal_column("'ended'"))
    if rule.reenroll_after_days is not None:
        left_it = left_it.where(h.c.at > now - timedelta(days=rule.reenroll_after_days))
    free = matching.where(records.c.id.not_in(connected))
    eligible = free.where(records.c.id.not_in(left_it))
    ids = list(db.execute(eligible.order_by(records.c.id).limit(rule.max_per_run)).scalars())
    eligible_count = _count(db, eligible) if len(ids) == rule.max_per_run else len(ids)
    return Pick(
        ids=ids, matched=_count(db, matching),
        on_other_sequence=_count(db, matching.where(records.c.id.in_(on_other))),
        ended_before=_count(db, free.where(records.c.id.in_(left_it))),
        left_for_next_run=eligible_count - len(ids),
    )


def record_run(db: Connection, sequence_id: str, at: datetime, found: Pick,
               enrolled: int) -> None:
    db.execute(insert(enrollment_runs).values(
        sequence_id=sequence_id, at=at, matched=found.matched, enrolled=enrolled,
        on_other_sequence=found.on_other_sequence, ended_before=found.ended_before,
        left_for_next_run=found.left_for_next_run,
    ))


def recent_runs(db: Connection, sequence_id: str, limit: int = 5) -> list[dict[str, Any]]:
    query = (
        select(enrollment_runs).where(enrollment_runs.c.sequence_id == sequence_id)
        .order_by(enrollment_runs.c.id.desc()).limit(limit)
    )
    return [
        {"at": row.at.isoformat(), "matched": row.matched, "enrolled": row.enrolled,
         "on_other_sequence": row.on_other_sequence, "ended_before": row.ended_before,
         "left_for_next_run": row.left_for_next_run}
        for row in db.execute(query)
    ]
