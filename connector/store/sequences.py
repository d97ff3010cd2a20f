"""Sequences and their steps in the state database."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Row, delete, func, insert, select, update

from connector.engine.models import Sequence, SequenceStatus, Step, StepType
from connector.errors import NotFound
from connector.store.chunks import chunks, unique
from connector.store.schema import connections, sequences, steps


def _step(row: Row) -> Step:
    return Step(
        id=row.id, type=StepType(row.type), name=row.name, description=row.description,
        template=row.template, days=row.wait_days, hours=row.wait_hours,
    )


def _sequence(row: Row, its_steps: tuple[Step, ...]) -> Sequence:
    return Sequence(
        id=row.id, name=row.name, entity=row.entity, status=SequenceStatus(row.status),
        description=row.description, owner=row.owner, created_on=row.created_on,
        modified_on=row.modified_on, steps=its_steps,
    )


def _with_steps(db: Connection, rows: list[Row]) -> list[Sequence]:
    by_sequence: dict[str, list[Step]] = {row.id: [] for row in rows}
    for batch in chunks(list(by_sequence)):
        query = (
            select(steps).where(steps.c.sequence_id.in_(batch))
            .order_by(steps.c.sequence_id, steps.c.position)
        )
        for step_row in db.execute(query):
            by_sequence[step_row.sequence_id].append(_step(step_row))
    return [_sequence(row, tuple(by_sequence[row.id])) for row in rows]


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
        "created_on": seq.created_on, "modified_on": seq.modified_on,
    }


def foreign_step_ids(db: Connection, seq: Sequence) -> set[str]:
    """Ids of `seq`'s steps that already belong to another sequence (step ids are global)."""
    taken: set[str] = set()
    for batch in chunks([s.id for s in seq.steps]):
        query = select(steps.c.id).where(steps.c.id.in_(batch), steps.c.sequence_id != seq.id)
        taken.update(db.execute(query).scalars())
    return taken


def _write_steps(db: Connection, seq: Sequence) -> None:
    db.execute(delete(steps).where(steps.c.sequence_id == seq.id))
    if seq.steps:
        db.execute(insert(steps), [
            {
                "id": s.id, "sequence_id": seq.id, "position": position, "type": s.type.value,
                "name": s.name, "description": s.description, "template": s.template,
                "wait_days": s.days, "wait_hours": s.hours,
            }
            for position, s in enumerate(seq.steps, start=1)
        ])


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
