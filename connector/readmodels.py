"""What people look at, read from the state: sequences with their load, the records on a
sequence, and one record's up-next. The CLI prints these; the web console renders them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connector.app import App
from connector.engine.models import Connection, Record, Sequence, SequenceStatus
from connector.engine.tree import layout
from connector.errors import NotFound
from connector.labels import position_text, state_text, step_label
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import quarantine
from connector.store import records as record_store
from connector.store import sequences as seq_store


def sequences_with_counts(
    app: App, status: SequenceStatus | None = None, tag: str | None = None,
    owner: str | None = None,
) -> list[tuple[Sequence, int]]:
    """Every sequence (by name), or those with `tag` / of `owner` (compared case-insensitively),
    with its number of connected records."""
    with app.store.begin() as db:
        found = [
            s for s in seq_store.list_sequences(db, status)
            if (tag is None or tag.strip().lower() in {t.lower() for t in s.tags})
            and (owner is None or owner.strip().lower() == s.owner.lower())
        ]
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
    connections: list[dict[str, Any]] = field(default_factory=list)

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
    detail.connections = connection_paths(detail.history, detail.activities)
    if connection and seq:
        detail.following = steps_after(seq, connection.step_id)
    return detail


def steps_after(seq: Sequence, step_id: str) -> list[str]:
    """The steps that follow `step_id`, up to the next condition (whose branch is not known)."""
    lay = layout(seq)
    labels: list[str] = []
    current: str | None = step_id if step_id in lay.steps else None
    while current is not None and not lay.steps[current].is_condition:
        current = lay.following[current]
        if current is not None:
            labels.append(step_label(lay.steps[current]))
    return labels


PATH_EVENTS = {"step_completed": "completed", "step_skipped": "skipped",
               "step_planned": "planned", "replied": "replied"}


def connection_paths(history: list[dict[str, Any]],
                     activities: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each connection of a record (newest last): the path it took through its sequence (steps
    with what happened on them and the branches chosen), its CRM activity ids, and why it
    ended (None while it runs)."""
    by_connection: dict[str, dict[str, Any]] = {}
    for h in history:
        entry = by_connection.setdefault(h["connection_id"], {
            "connection_id": h["connection_id"], "sequence": h["sequence_name"], "path": [],
            "activity_ids": [], "ended": None, "end_message": None,
        })
        if h["event"] == "branch":
            entry["path"].append({"step": h["step_name"], "took": h["message"], "at": h["at"]})
        elif h["event"] in PATH_EVENTS:
            entry["path"].append({"step": h["step_name"], "event": PATH_EVENTS[h["event"]],
                                  "at": h["at"]})
        elif h["event"] == "ended":
            entry["ended"], entry["end_message"] = h["reason"], h["message"]
    for a in activities:
        if a["connection_id"] in by_connection:
            by_connection[a["connection_id"]]["activity_ids"].append(a["activity_id"])
    return list(by_connection.values())
