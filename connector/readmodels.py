"""What people look at, read from the state: sequences with their load, the records on a
sequence, and one record's up-next. The CLI prints these; the web console renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.app import App
from connector.engine.models import Connection, Record, Sequence, SequenceStatus
from connector.engine.sequences import index_of
from connector.errors import NotFound
from connector.labels import position_text, state_text, step_label
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import quarantine
from connector.store import records as record_store
from connector.store import sequences as seq_store


def sequences_with_counts(
    app: App, status: SequenceStatus | None = None
) -> list[tuple[Sequence, int]]:
    """Every sequence (by name) with its number of connected records."""
    with app.store.begin() as db:
        found = seq_store.list_sequences(db, status)
        counts = seq_store.connected_counts(db, [s.id for s in found])
    return [(s, counts.get(s.id, 0)) for s in found]


def connected_count(app: App, sequence_id: str) -> int:
    with app.store.begin() as db:
        return seq_store.connected_counts(db, [sequence_id]).get(sequence_id, 0)


def connected_records(app: App, seq: Sequence) -> list[dict[str, Any]]:
    """The records on `seq`: name, current step, status, due time."""
    with app.store.begin() as db:
        connections = connection_store.of_sequence(db, seq.id)
        recs = record_store.load_records(db, (c.record_id for c in connections))
    return [
        {
            "record_id": c.record_id,
            "name": recs[c.record_id].name if c.record_id in recs else "",
            "table": seq.entity, "step": position_text(c, seq), "step_id": c.step_id,
            "state": c.state.value, "status": state_text(c, seq), "due_at": c.due_at,
            "since": c.connected_on,
        }
        for c in connections
    ]


def records_with_place(app: App, **filters: Any) -> list[dict[str, Any]]:
    """Records matching `filters` (those of store.records.query_records: table, unconnected,
    where, open_only, limit, name_contains), each with the sequence and step it is on."""
    with app.store.begin() as db:
        found = record_store.query_records(db, **filters)
        current = connection_store.current_by_record(db, (r.id for r in found))
        seqs = seq_store.load_sequences(db, {c.sequence_id for c in current.values()})
    rows: list[dict[str, Any]] = []
    for r in found:
        connection = current.get(r.id)
        seq = seqs.get(connection.sequence_id) if connection else None
        rows.append({
            "id": r.id, "table": r.table, "name": r.name, "owner_id": r.owner_id,
            "open": r.is_open and not r.is_deleted, "deleted": r.is_deleted,
            "sequence": seq.name if seq else None,
            "step": position_text(connection, seq) if connection else None,
        })
    return rows


@dataclass
class RecordDetail:
    """One record: where it is (up next), what follows, its activities and its history. A row
    the sync quarantined has `quarantined` (table, since, error) and, when it never made it
    into the local state, no `record`."""

    record: Record | None
    connection: Connection | None = None
    sequence: Sequence | None = None
    following: list[str] = field(default_factory=list)
    activities: list[dict[str, Any]] = field(default_factory=list)
    history: list[dict[str, Any]] = field(default_factory=list)
    quarantined: dict[str, Any] | None = None

    @property
    def up_next(self) -> dict[str, Any] | None:
        connection, seq = self.connection, self.sequence
        if connection is None or seq is None:
            return None
        return {
            "sequence": seq.name, "sequence_id": seq.id,
            "step": position_text(connection, seq), "step_id": connection.step_id,
            "state": connection.state.value, "status": state_text(connection, seq),
            "due_at": connection.due_at, "activity_id": connection.activity_id,
            "connected_on": connection.connected_on, "then": self.following,
        }


def record_detail(app: App, record_id: str) -> RecordDetail:
    rid = record_id.strip().lower()
    with app.store.begin() as db:
        record = record_store.load_records(db, [rid]).get(rid)
        held = quarantine.of_record(db, rid)
        if record is None and held is not None:
            return RecordDetail(None, quarantined=held)
        if record is None:
            raise NotFound(f"no record {record_id!r} is known locally (run a sync first)")
        connection = connection_store.current_by_record(db, [rid]).get(rid)
        seq = seq_store.load_sequence(db, connection.sequence_id) if connection else None
        history = connection_store.history_of_record(db, rid)
        activities = outbox_store.of_record(db, rid)
    detail = RecordDetail(
        record, connection, seq,
        activities=[dict(a._mapping) for a in activities],
        history=[dict(h._mapping) for h in history], quarantined=held,
    )
    if connection and seq:
        index = index_of(seq, connection.step_id)
        detail.following = [step_label(s) for s in seq.steps[(index or 0) + 1:]]
    return detail
