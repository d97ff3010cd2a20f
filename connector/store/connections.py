"""Current connections, their append-only history, and the due-step scan."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    Connection as Db,
)
from sqlalchemy import (
    Row,
    Select,
    bindparam,
    delete,
    func,
    insert,
    select,
    update,
)

from connector.engine.models import (
    Connection,
    ConnectionState,
    HistoryEvent,
    Sequence,
    SequenceStatus,
    all_steps,
)
from connector.store.bulk import execute_many, sqlite_value
from connector.store.chunks import chunks, unique
from connector.store.records import Owners
from connector.store.schema import connection_history, connections, outbox, records, sequences

# A dict lookup: calling the enum class per row was a visible share of the due-step scan.
_STATES = {state.value: state for state in ConnectionState}


def connection_from_row(row: Row) -> Connection:
    return Connection(
        id=row.id, record_id=row.record_id, sequence_id=row.sequence_id, step_id=row.step_id,
        state=_STATES.get(row.state) or ConnectionState(row.state), due_at=row.due_at,
        connected_on=row.connected_on,
        step_started_on=row.step_started_on, activity_id=row.activity_id, attempt=row.attempt,
        last_outcome=row.last_outcome, replied_on=row.replied_on,
    )


def _values(connection: Connection) -> dict[str, object]:
    return {
        "sequence_id": connection.sequence_id, "step_id": connection.step_id,
        "state": connection.state.value, "due_at": connection.due_at,
        "activity_id": connection.activity_id, "attempt": connection.attempt,
        "connected_on": connection.connected_on, "step_started_on": connection.step_started_on,
        "last_outcome": connection.last_outcome, "replied_on": connection.replied_on,
    }


def _select_in(db: Db, column: str, values: Iterable[str]) -> list[Connection]:
    found: list[Connection] = []
    for batch in chunks(unique(v for v in values if v)):
        query = select(connections).where(connections.c[column].in_(batch))
        found.extend(connection_from_row(row) for row in db.execute(query))
    return found


def current_by_record(db: Db, record_ids: Iterable[str]) -> dict[str, Connection]:
    return {c.record_id: c for c in _select_in(db, "record_id", record_ids)}


def by_ids_with_owner(db: Db, ids: Iterable[str]) -> tuple[dict[str, Connection], Owners]:
    """Connections by id, plus what outbox rows take from their records: one query."""
    found: dict[str, Connection] = {}
    owners: Owners = {}
    for batch in chunks(unique(ids)):
        query = (
            select(connections, records.c.table.label("record_table"),
                   records.c.owner_id.label("record_owner"),
                   records.c.owner_type.label("record_owner_type"))
            .join(records, records.c.id == connections.c.record_id)
            .where(connections.c.id.in_(batch))
        )
        for row in db.execute(query):
            found[row.id] = connection_from_row(row)
            owners[row.record_id] = (row.record_table, row.record_owner, row.record_owner_type)
    return found, owners


def connected_by_email(db: Db, addresses: Iterable[str]) -> dict[str, list[str]]:
    """Lower-case email address -> ids of connected records with that address (replies
    matched by sender: only connected records can be ended by one)."""
    found: dict[str, list[str]] = {}
    for batch in chunks(unique(a.strip().lower() for a in addresses if a and a.strip())):
        query = (
            select(func.lower(records.c.email), records.c.id)
            .join(connections, connections.c.record_id == records.c.id)
            .where(func.lower(records.c.email).in_(batch))
        )
        for address, record_id in db.execute(query):
            found.setdefault(address, []).append(record_id)
    return found


def by_activity(db: Db, activity_ids: Iterable[str]) -> dict[str, Connection]:
    """Connections waiting on these activities. They are found through the outbox's primary
    key, since every planned activity has its outbox row. An index on `connections.activity_id`
    would cost every planned step one more random-key entry. Revision 0010 dropped it."""
    found: dict[str, Connection] = {}
    for batch in chunks(unique(a for a in activity_ids if a)):
        query = (
            select(connections)
            .join(outbox, outbox.c.connection_id == connections.c.id)
            .where(outbox.c.activity_id.in_(batch),
                   connections.c.activity_id == outbox.c.activity_id)
        )
        for row in db.execute(query):
            found[row.activity_id] = connection_from_row(row)
    return found


def of_sequence(db: Db, sequence_id: str) -> list[Connection]:
    query = (
        select(connections).where(connections.c.sequence_id == sequence_id)
        .order_by(connections.c.connected_on, connections.c.record_id)
    )
    return [connection_from_row(row) for row in db.execute(query)]


def insert_connections(db: Db, items: list[Connection]) -> None:
    if items:
        db.execute(insert(connections), [
            {"id": c.id, "record_id": c.record_id, **_values(c)} for c in items
        ])


def update_connections(db: Db, items: list[Connection]) -> None:
    """Write where each connection is now (its record, sequence and start never change)."""
    if items:
        execute_many(
            db, update(connections).where(connections.c.id == bindparam("b_id")),
            [
                {"b_id": c.id, "step_id": c.step_id, "state": c.state.value, "due_at": c.due_at,
                 "activity_id": c.activity_id, "attempt": c.attempt,
                 "step_started_on": c.step_started_on, "last_outcome": c.last_outcome,
                 "replied_on": c.replied_on}
                for c in items
            ],
        )


def delete_connections(db: Db, ids: Iterable[str]) -> None:
    for batch in chunks(unique(ids)):
        db.execute(delete(connections).where(connections.c.id.in_(batch)))


def insert_history(
    db: Db, events: list[HistoryEvent], seqs: Mapping[str, Sequence]
) -> None:
    """Append history lines, with the sequence and step names as they are now."""
    if not events:
        return
    step_names = {s.id: s.name or s.type.value for seq in seqs.values()
                  for s in all_steps(seq.steps)}
    execute_many(db, insert(connection_history), [
        {
            "connection_id": e.connection_id, "record_id": e.record_id,
            "sequence_id": e.sequence_id,
            "sequence_name": seqs[e.sequence_id].name if e.sequence_id in seqs else "",
            "event": e.event, "step_id": e.step_id,
            "step_name": step_names.get(e.step_id or ""), "at": e.at,
            "reason": e.reason.value if e.reason else None, "message": e.message,
        }
        for e in events
    ])


def history_of_record(db: Db, record_id: str) -> list[Row]:
    query = (
        select(connection_history).where(connection_history.c.record_id == record_id)
        .order_by(connection_history.c.id)
    )
    return list(db.execute(query))


def due_count(db: Db, now: datetime) -> int:
    """How many connections are scheduled and due at `now` (an index-only count)."""
    query = select(func.count()).select_from(connections).where(
        connections.c.state == ConnectionState.SCHEDULED.value, connections.c.due_at <= now
    )
    return int(db.execute(query).scalar() or 0)


class DuePage(list[Connection]):
    """A page of due connections, with their records' (table, owner), as read inside the
    transaction `db`. StepDue may trust these very objects instead of reading them
    again when it runs in that same transaction."""

    def __init__(self, items: Iterable[Connection], owners: Owners, db: Db) -> None:
        super().__init__(items)
        self.owners = owners
        self.db = db
        self.read = {c.id: c for c in self}

    def trusted(self, db: Db) -> dict[str, Connection]:
        """id -> connection for rows read in `db`'s transaction (none for another one)."""
        return self.read if self.db is db else {}


_DUE_COLUMNS = (
    connections.c.id, connections.c.record_id, connections.c.sequence_id,
    connections.c.step_id, connections.c.state, connections.c.due_at,
    connections.c.connected_on, connections.c.step_started_on, connections.c.activity_id,
    connections.c.attempt, connections.c.last_outcome, connections.c.replied_on,
    records.c.table.label("record_table"),
    records.c.owner_id.label("record_owner"), records.c.owner_type.label("record_owner_type"),
)


def _sqlite_rows(db: Db, query: Select[Any]) -> list[tuple[Any, ...]]:
    """Run `query` on the driver's own cursor: plain tuples, no per-value result processing
    (times come back as SQLite text; the caller parses them)."""
    compiled = query.compile(dialect=db.dialect)
    params = compiled.params
    values = tuple(sqlite_value(params[name]) for name in compiled.positiontup or [])
    cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        return cursor.execute(str(compiled), values).fetchall()
    finally:
        cursor.close()


def _utc_reader() -> Callable[[str | datetime | None], datetime | None]:
    """Parses SQLite's stored time text (as SQLAlchemy wrote it) into aware UTC; each distinct
    text once, since a page repeats a few instants."""
    seen: dict[object, datetime | None] = {None: None}

    def read(value: str | datetime | None) -> datetime | None:
        found = seen.get(value, _MISSING)
        if found is _MISSING:
            found = seen[value] = (
                datetime.fromisoformat(value) if isinstance(value, str) else value
            ).replace(tzinfo=UTC)
        return found  # type: ignore[return-value]

    return read


_MISSING = object()


def due_page(
    db: Db, now: datetime, after_id: str, limit: int, *, walk_ids: bool = False
) -> DuePage:
    """Scheduled connections of active sequences due at `now`, in id order after `after_id`,
    with their records' (table, owner).

    Keyset pagination on the primary key keeps every page cheap however far the scan has got.
    On PostgreSQL the page's connections are locked (FOR UPDATE SKIP LOCKED) until the
    transaction ends.
    Read through the due index, each page sorts every remaining due row by id; when many are
    due, `walk_ids` reads along the primary key instead (one linear pass for the whole scan).
    """
    state = connections.c.state
    if walk_ids:
        state = state + ""  # an expression the due index cannot serve: the id order wins
    query = (
        select(*_DUE_COLUMNS)
        .join(sequences, sequences.c.id == connections.c.sequence_id)
        .join(records, records.c.id == connections.c.record_id)
        .where(
            connections.c.id > after_id,
            state == ConnectionState.SCHEDULED.value,
            connections.c.due_at <= now,
            sequences.c.status == SequenceStatus.ACTIVE.value,
        )
        .order_by(connections.c.id)
        .limit(limit)
    )
    owners: Owners = {}
    if db.dialect.name != "sqlite":
        # Several workers plan at once: each page is claimed by the transaction that plans
        # it, and rows another worker holds are left to that worker.
        query = query.with_for_update(of=connections, skip_locked=True)
        items = []
        for row in db.execute(query):
            items.append(connection_from_row(row))
            owners[row.record_id] = (row.record_table, row.record_owner, row.record_owner_type)
        return DuePage(items, owners, db)
    # The page is read for every due connection: SQLAlchemy's per-value result processing
    # was a third of the read, so SQLite rows are built straight from the driver's tuples.
    utc = _utc_reader()
    items = []
    for (id_, record_id, sequence_id, step_id, state_text, due_at, connected_on, started_on,
         activity_id, attempt, last_outcome, replied_on, table, owner, owner_type
         ) in _sqlite_rows(db, query):
        items.append(Connection(
            id=id_, record_id=record_id, sequence_id=sequence_id, step_id=step_id,
            state=_STATES.get(state_text) or ConnectionState(state_text), due_at=utc(due_at),
            connected_on=utc(connected_on), step_started_on=utc(started_on),  # type: ignore[arg-type]
            activity_id=activity_id, attempt=attempt, last_outcome=last_outcome,
            replied_on=utc(replied_on),
        ))
        owners[record_id] = (table, owner, owner_type)
    return DuePage(items, owners, db)


def history_mark(db: Db) -> int:
    """The newest history id: events after it are what came since."""
    return int(db.execute(select(func.max(connection_history.c.id))).scalar() or 0)


def ended_by_reason(db: Db, after: int = 0) -> dict[str, int]:
    """How many connections ended, by reason, in history events after id `after`."""
    query = (
        select(connection_history.c.reason, func.count())
        .where(connection_history.c.id > after, connection_history.c.event == "ended")
        .group_by(connection_history.c.reason)
    )
    return {str(reason): int(count) for reason, count in db.execute(query)}


def count_by_state(db: Db) -> dict[str, int]:
    query = select(connections.c.state, func.count()).group_by(connections.c.state)
    return {str(state): int(n) for state, n in db.execute(query)}


def ended_in_error(db: Db, limit: int = 50) -> list[dict[str, Any]]:
    """Connections that ended with reason `error`, for records not reconnected since."""
    query = (
        select(
            connection_history.c.record_id, connection_history.c.sequence_name,
            connection_history.c.at, connection_history.c.message, records.c.name,
        )
        .join(records, records.c.id == connection_history.c.record_id, isouter=True)
        .join(connections, connections.c.record_id == connection_history.c.record_id,
              isouter=True)
        .where(
            connection_history.c.event == "ended",
            connection_history.c.reason == "error",
            connections.c.id.is_(None),
        )
        .order_by(connection_history.c.id.desc())
        .limit(limit)
    )
    return [
        {"record_id": r.record_id, "record_name": r.name or "", "sequence": r.sequence_name,
         "at": r.at.isoformat(), "message": r.message or ""}
        for r in db.execute(query)
    ]
