"""Sequences and their steps in the state database."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from connector.engine.models import (
    ALL_EXITS,
    Branch,
    Condition,
    ConditionKind,
    EnrollRule,
    ExitCriterion,
    Op,
    Pacing,
    Sequence,
    SequenceStatus,
    Step,
    StepType,
    all_steps,
)
from connector.errors import NotFound
from connector.store.chunks import chunks, unique
from connector.store.schema import connections, sequences, steps


def _condition(settings: dict[str, Any]) -> Condition | None:
    raw = settings.get("if")
    if not raw:
        return None
    value = raw.get("value")
    return Condition(
        kind=ConditionKind(raw["kind"]), previous=raw.get("previous", ""),
        days=raw.get("days", 0), column=raw.get("column", ""), op=Op(raw.get("op", "eq")),
        value=tuple(value) if isinstance(value, list) else value,
    )


def _settings(step: Step) -> dict[str, Any] | None:
    if step.condition is not None:
        c = step.condition
        value = list(c.value) if isinstance(c.value, tuple) else c.value
        return {"if": {"kind": c.kind.value, "previous": c.previous, "days": c.days,
                       "column": c.column, "op": c.op.value, "value": value}}
    if step.values:
        return {"set": [[column, value] for column, value in step.values]}
    if step.sequence:
        return {"sequence": step.sequence}
    return None


def _step(row: Row, children: dict[tuple[str, str], list[Row]]) -> Step:
    settings = row.settings or {}
    return Step(
        id=row.id, type=StepType(row.type), name=row.name, description=row.description,
        template=row.template, days=row.wait_days, hours=row.wait_hours,
        condition=_condition(settings),
        then=tuple(_step(r, children) for r in children.get((row.id, Branch.THEN.value), [])),
        otherwise=tuple(
            _step(r, children) for r in children.get((row.id, Branch.ELSE.value), [])
        ),
        values=tuple((str(c), v) for c, v in settings.get("set", [])),
        sequence=settings.get("sequence", ""),
    )


def _exit_on(text: str | None) -> frozenset[ExitCriterion]:
    if text is None:
        return ALL_EXITS
    return frozenset(ExitCriterion(t) for t in text.split(",") if t)


def _sequence(row: Row, its_steps: tuple[Step, ...]) -> Sequence:
    return Sequence(
        id=row.id, name=row.name, entity=row.entity, status=SequenceStatus(row.status),
        description=row.description, owner=row.owner, created_on=row.created_on,
        modified_on=row.modified_on, steps=its_steps, exit_on=_exit_on(row.exit_on),
        tags=tuple(row.tags or ()), pacing=_pacing(row.pacing), enroll=_enroll(row.enroll),
    )


def _with_steps(db: Connection, rows: list[Row]) -> list[Sequence]:
    top: dict[str, list[Row]] = {row.id: [] for row in rows}
    children: dict[tuple[str, str], list[Row]] = {}
    for batch in chunks(list(top)):
        query = (
            select(steps).where(steps.c.sequence_id.in_(batch))
            .order_by(steps.c.sequence_id, steps.c.position)
        )
        for step_row in db.execute(query):
            if step_row.parent_id is None:
                top[step_row.sequence_id].append(step_row)
            else:
                children.setdefault((step_row.parent_id, step_row.branch), []).append(step_row)
    return [
        _sequence(row, tuple(_step(r, children) for r in top[row.id])) for row in rows
    ]


def load_sequences(db: Connection, ids: Iterable[str]) -> dict[str, Sequence]:
    rows: list[Row] = []
    for batch in chunks(unique(ids)):
        rows.extend(db.execute(select(sequences).where(sequences.c.id.in_(batch))))
    return {seq.id: seq for seq in _with_steps(db, rows)}


def load_sequence(db: Connection, sequence_id: str) -> Sequence | None:
    return load_sequences(db, [sequence_id]).get(sequence_id)


def find_sequence(db: Connection, ref: str) -> Sequence:
    """A sequence by id or by name (case-insensitive), or NotFound naming `ref`."""
    row = db.execute(
        select(sequences).where(
            (sequences.c.id == ref.strip().lower()) | (sequences.c.name_key == name_key(ref))
        )
    ).first()
    if row is None:
        raise NotFound(f"no sequence named or with id {ref!r}")
    return _with_steps(db, [row])[0]


def list_sequences(db: Connection, status: SequenceStatus | None = None) -> list[Sequence]:
    query = select(sequences).order_by(sequences.c.name_key)
    if status is not None:
        query = query.where(sequences.c.status == status.value)
    return _with_steps(db, list(db.execute(query)))


def name_key(name: str) -> str:
    return name.strip().lower()


def name_owner(db: Connection, name: str) -> str | None:
    """The id of the sequence called `name` (case-insensitive), if any."""
    return db.execute(
        select(sequences.c.id).where(sequences.c.name_key == name_key(name))
    ).scalar()


def _row(seq: Sequence) -> dict[str, object]:
    return {
        "name": seq.name.strip(), "name_key": name_key(seq.name), "description": seq.description,
        "entity": seq.entity, "status": seq.status.value, "owner": seq.owner,
        "created_on": seq.created_on, "modified_on": seq.modified_on, "tags": list(seq.tags),
        "exit_on": ",".join(sorted(e.value for e in seq.exit_on)),
        "enroll": None if seq.enroll is None else {
            "where": [list(pair) for pair in seq.enroll.where],
            "created_after": (seq.enroll.created_after.isoformat()
                              if seq.enroll.created_after else None),
            "max_per_run": seq.enroll.max_per_run,
            "reenroll_after_days": seq.enroll.reenroll_after_days,
        },
        "pacing": None if seq.pacing == Pacing() else {
            "max_per_owner_per_day": seq.pacing.max_per_owner_per_day,
            "business_days": seq.pacing.business_days,
        },
    }


def _enroll(value: dict[str, Any] | None) -> EnrollRule | None:
    if not value:
        return None
    after = value.get("created_after")
    return EnrollRule(
        where=tuple((str(c), str(v)) for c, v in value.get("where") or []),
        created_after=date.fromisoformat(after) if after else None,
        max_per_run=int(value.get("max_per_run") or 500),
        reenroll_after_days=value.get("reenroll_after_days"),
    )


def _pacing(value: dict[str, object] | None) -> Pacing:
    if not value:
        return Pacing()
    cap = value.get("max_per_owner_per_day")
    return Pacing(max_per_owner_per_day=int(cap) if isinstance(cap, int) else None,
                  business_days=bool(value.get("business_days")))


def foreign_step_ids(db: Connection, seq: Sequence) -> set[str]:
    """Ids of `seq`'s steps that already belong to another sequence (step ids are global)."""
    taken: set[str] = set()
    for batch in chunks([s.id for s in all_steps(seq.steps)]):
        query = select(steps.c.id).where(steps.c.id.in_(batch), steps.c.sequence_id != seq.id)
        taken.update(db.execute(query).scalars())
    return taken


def _step_rows(seq_id: str, branch: tuple[Step, ...], parent: str | None,
               which: str | None) -> Iterable[dict[str, object]]:
    for position, s in enumerate(branch, start=1):
        yield {
            "id": s.id, "sequence_id": seq_id, "position": position, "type": s.type.value,
            "name": s.name, "description": s.description, "template": s.template,
            "wait_days": s.days, "wait_hours": s.hours, "parent_id": parent, "branch": which,
            "settings": _settings(s),
        }
        if s.is_condition:
            yield from _step_rows(seq_id, s.then, s.id, Branch.THEN.value)
            yield from _step_rows(seq_id, s.otherwise, s.id, Branch.ELSE.value)


def _write_steps(db: Connection, seq: Sequence) -> None:
    db.execute(delete(steps).where(steps.c.sequence_id == seq.id))
    if seq.steps:
        db.execute(insert(steps), list(_step_rows(seq.id, seq.steps, None, None)))


def insert_sequence(db: Connection, seq: Sequence) -> None:
    db.execute(insert(sequences).values(id=seq.id, **_row(seq)))
    _write_steps(db, seq)


def update_sequence(db: Connection, seq: Sequence) -> None:
    db.execute(update(sequences).where(sequences.c.id == seq.id).values(**_row(seq)))
    _write_steps(db, seq)


def delete_sequence(db: Connection, sequence_id: str) -> None:
    db.execute(delete(steps).where(steps.c.sequence_id == sequence_id))
    db.execute(delete(sequences).where(sequences.c.id == sequence_id))


def connected_counts(db: Connection, ids: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for batch in chunks(unique(ids)):
        query = (
            select(connections.c.sequence_id, func.count())
            .where(connections.c.sequence_id.in_(batch))
            .group_by(connections.c.sequence_id)
        )
        counts.update({sequence_id: n for sequence_id, n in db.execute(query)})
    return counts


def load_summary(db: Connection) -> list[dict[str, object]]:
    """Every sequence with how many records are connected to it."""
    counts = (
        select(connections.c.sequence_id, func.count().label("connected"))
        .group_by(connections.c.sequence_id)
        .subquery()
    )
    query = (
        select(sequences.c.id, sequences.c.name, sequences.c.entity, sequences.c.status,
               func.coalesce(counts.c.connected, 0))
        .join(counts, counts.c.sequence_id == sequences.c.id, isouter=True)
        .order_by(sequences.c.name)
    )
    return [
        {"id": r[0], "name": r[1], "entity": r[2], "status": r[3], "connected": int(r[4])}
        for r in db.execute(query)
    ]
