"""The activity outbox: activities to create in the CRM, and what became of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Row,
    Select,
    Text,
    bindparam,
    case,
    func,
    insert,
    literal_column,
    select,
    type_coerce,
    update,
)
from sqlalchemy.exc import InterfaceError, OperationalError

from connector.engine.models import ActivityResult, PlanActivity, StepType
from connector.engine.models import Connection as EngineConnection  # sqlalchemy's is `Connection`
from connector.store.bulk import execute_many
from connector.store.chunks import CHUNK, chunks, unique
from connector.store.db import Store
from connector.store.schema import outbox, records


class OutboxStatus(StrEnum):
    """pending -> pushed (exists in the CRM) | cancelled (never pushed) | failed (refused for
    good); pushed -> to_cancel when a disconnect asks the sync to cancel the open activity."""

    PENDING = "pending"
    PUSHED = "pushed"
    CANCELLED = "cancelled"
    TO_CANCEL = "to_cancel"
    FAILED = "failed"


CLOSED_CRM_STATES = ("completed", "canceled")
# Statuses of items seqsync created, or may have: `cancelled` too, as the CRM may have taken
# them before a crash after all.
_OURS = frozenset((
    OutboxStatus.PENDING, OutboxStatus.PUSHED, OutboxStatus.TO_CANCEL, OutboxStatus.CANCELLED,
))


def insert_planned(
    db: Connection,
    planned: list[PlanActivity],
    owners: Mapping[str, tuple[str, str | None, str | None]],
    now: datetime,
) -> None:
    """Queue planned activities (status pending), owned like their record.

    `owners` maps record id -> (table, owner id, owner type), as `records.owners` returns it.
    """
    if not planned:
        return
    execute_many(db, insert(outbox), [
        {
            "activity_id": p.activity_id, "connection_id": p.connection_id,
            "record_id": p.record_id, "record_table": owners[p.record_id][0],
            "step_id": p.step_id, "activity_type": p.activity_type.value,
            "subject": p.subject or p.activity_type.value, "description": p.description,
            "template": p.template, "owner_id": owners[p.record_id][1],
            "owner_type": owners[p.record_id][2],
            "due_at": p.due_at, "status": OutboxStatus.PENDING.value, "created_on": now,
        }
        for p in planned
    ])


def _status_is(status: OutboxStatus) -> ColumnElement[bool]:
    """`status = ...`, kept off `ix_outbox_status`. SQLite keeps no statistics on our tables
    and answers `activity_id IN (...) AND status = 'pending'` by reading every pending item (a
    million after a big plan) instead of looking the few ids up. An expression is not
    indexable, so it uses the ids' index. PostgreSQL plans it the same either way."""
    return outbox.c.status.concat("") == status.value


def cancel_for_connections(
    db: Connection, ended: Iterable[EngineConnection], *, cancel_open_in_crm: bool
) -> tuple[int, int]:
    """Cancel the unpushed items of these connections; optionally mark pushed, still-open ones
    `to_cancel`.

    Items are found by record: a connection's items carry its record, and the outbox keeps no
    index by connection, which every planned step would pay for (revision 0010).
    Returns (cancelled, to_cancel).
    """
    cancelled = to_cancel = 0
    pairs = {c.id: c.record_id for c in ended}
    for batch in chunks(list(pairs.items()), size=CHUNK // 2):  # two ids an item
        of_these = (outbox.c.record_id.in_([r for _, r in batch]),
                    outbox.c.connection_id.in_([c for c, _ in batch]))
        cancelled += db.execute(
            update(outbox)
            .where(*of_these, _status_is(OutboxStatus.PENDING))
            .values(status=OutboxStatus.CANCELLED)
        ).rowcount
        if cancel_open_in_crm:
            to_cancel += db.execute(
                update(outbox)
                .where(*of_these, _status_is(OutboxStatus.PUSHED),
                       outbox.c.crm_state == "open")
                .values(status=OutboxStatus.TO_CANCEL)
            ).rowcount
    return cancelled, to_cancel


def cancel_in_crm(db: Connection, activity_ids: Iterable[str]) -> int:
    """Mark pushed activities that are still open in the CRM for cancelling there."""
    count = 0
    for batch in chunks(unique(activity_ids)):
        count += db.execute(
            update(outbox)
            .where(outbox.c.activity_id.in_(batch), _status_is(OutboxStatus.PUSHED),
                   outbox.c.crm_state == "open")
            .values(status=OutboxStatus.TO_CANCEL)
        ).rowcount
    return count


def cancel_pending(db: Connection, activity_ids: Iterable[str]) -> int:
    count = 0
    for batch in chunks(unique(activity_ids)):
        count += db.execute(
            update(outbox)
            .where(outbox.c.activity_id.in_(batch), _status_is(OutboxStatus.PENDING))
            .values(status=OutboxStatus.CANCELLED)
        ).rowcount
    return count


def open_rows(db: Connection, activity_ids: Iterable[str]) -> dict[str, Row]:
    """Outbox rows for these ids that are not closed yet (ours and still open)."""
    found: dict[str, Row] = {}
    for batch in chunks(unique(activity_ids)):
        query = select(
            outbox.c.activity_id, outbox.c.crm_state, outbox.c.created_on, outbox.c.pushed_on
        ).where(outbox.c.activity_id.in_(batch))
        for row in db.execute(query):
            if row.crm_state not in CLOSED_CRM_STATES:
                found[row.activity_id] = row
    return found


def record_outcomes(db: Connection, results: list[ActivityResult]) -> None:
    """Store the CRM's verdict. A row still `pending` evidently reached the CRM: `pushed`."""
    if results:
        status = case(
            (outbox.c.status == OutboxStatus.PENDING, OutboxStatus.PUSHED), else_=outbox.c.status
        )
        db.execute(
            update(outbox).where(outbox.c.activity_id == bindparam("b_id")).values(
                status=status, crm_state=bindparam("b_state"), closed_on=bindparam("b_at")
            ),
            [{"b_id": r.activity_id, "b_state": r.outcome.value, "b_at": r.at} for r in results],
        )


def of_record(db: Connection, record_id: str) -> list[Row]:
    query = select(outbox).where(outbox.c.record_id == record_id).order_by(outbox.c.created_on)
    return list(db.execute(query))


def of_type_count(db: Connection, activity_type: StepType, status: OutboxStatus) -> int:
    query = select(func.count()).where(
        outbox.c.status == status, outbox.c.activity_type == activity_type.value
    )
    return int(db.execute(query).scalar() or 0)


def count_by_status(db: Connection) -> dict[OutboxStatus, int]:
    query = select(outbox.c.status, func.count()).group_by(outbox.c.status)
    return {OutboxStatus(status): int(n) for status, n in db.execute(query)}


def _pending_query(activity_type: StepType, order: Any, after: Any, size: int) -> Select[Any]:
    return (
        select(
            outbox.c.activity_id, outbox.c.record_id, outbox.c.record_table,
            outbox.c.subject, outbox.c.description, outbox.c.due_at, outbox.c.owner_id,
            outbox.c.owner_type,
            records.c.id.label("record_found"), records.c.owner_id.label("record_owner"),
            records.c.owner_type.label("record_owner_type"),
            # The text as stored: only a recipient kept in a custom column needs it parsed.
            type_coerce(records.c.columns, Text).label("columns"),
            order.label("chunk_key"),
        )
        .join(records, records.c.id == outbox.c.record_id, isouter=True)
        .where(
            outbox.c.status == OutboxStatus.PENDING,
            outbox.c.activity_type == activity_type.value,
            order > after,
        )
        .order_by(order)
        .limit(size)
    )


def pending_chunks(store: Store, activity_type: StepType, size: int) -> Iterator[list[Row[Any]]]:
    """Pending items of one type with their record, by keyset, each chunk in its own short
    read: memory stays one chunk deep. A row is (activity_id, record_id, record_table,
    subject, description, due_at, owner_id, owner_type, record_found, record_owner,
    record_owner_type, columns, chunk_key),
    `columns` being the record's stored JSON text.

    On SQLite the keyset is the rowid: the (status, activity_type) index holds its entries in
    rowid order, so each chunk is an index range read. Keyed on activity_id instead, every
    chunk sorted all the remaining pending rows (a temp B-tree), quadratic in the outbox size
    (profiled: most of a 100,000-activity push).
    """
    key = literal_column("outbox.rowid") if store.is_sqlite else None
    order = key if key is not None else outbox.c.activity_id
    after: Any = 0 if key is not None else ""
    while True:
        with store.read() as db:
            chunk = list(db.execute(_pending_query(activity_type, order, after, size)))
        if not chunk:
            return
        yield chunk
        after = chunk[-1].chunk_key


class Claim:
    """A chunk of pending items this worker holds until their outcome is written.

    On PostgreSQL the rows are locked (`FOR UPDATE SKIP LOCKED`) by a transaction kept open
    while the chunk is sent: other workers pass them by, and if this worker dies the server
    ends the transaction and the rows are pending again for anyone. On SQLite (one worker)
    the chunk is a plain read and `writing()` opens a transaction when the outcome is known.
    """

    def __init__(self, store: Store, rows: list[Row[Any]], held: Connection | None) -> None:
        self.store = store
        self.rows = rows
        self._held = held

    @contextmanager
    def writing(self) -> Iterator[Connection]:
        """The transaction to write this chunk's outcome in; it ends (commits) with the block."""
        if self._held is None:
            with self.store.begin() as db:
                yield db
            return
        held, self._held = self._held, None
        try:
            yield held
            held.commit()
        except Exception as exc:
            held.rollback()
            if isinstance(exc, OperationalError | InterfaceError):
                raise self.store.state_error(exc) from None
            raise
        finally:
            held.close()

    def release(self) -> None:
        """Give the rows back unwritten (the run stops): they are pending for anyone again."""
        if self._held is not None:
            held, self._held = self._held, None
            try:
                held.rollback()
            except (OperationalError, InterfaceError):
                held.invalidate()  # the server ended it already (lost connection)
            finally:
                held.close()


def claim_chunks(store: Store, activity_type: StepType, size: int) -> Iterator[Claim]:
    """Pending items of one type, a claimed chunk at a time (rows as in `pending_chunks`).

    PostgreSQL: each chunk is locked by its own open transaction, skipping rows other workers
    hold; when the keyset reaches the end, one more pass picks up rows that a worker which
    died mid-chunk gave back meanwhile. SQLite: `pending_chunks`, unlocked.
    """
    if store.is_sqlite:
        for chunk in pending_chunks(store, activity_type, size):
            yield Claim(store, chunk, None)
        return
    for _ in range(2):
        after = ""
        while True:
            held = store.engine.connect()
            try:
                held.begin()
                query = _pending_query(activity_type, outbox.c.activity_id, after, size)
                chunk = list(held.execute(query.with_for_update(of=outbox, skip_locked=True)))
            except (OperationalError, InterfaceError) as exc:
                held.close()
                raise store.state_error(exc) from None
            except BaseException:
                held.close()
                raise
            if not chunk:
                held.rollback()
                held.close()
                break
            after = chunk[-1].chunk_key
            yield Claim(store, chunk, held)


def _set(db: Connection, activity_ids: Sequence[str], **values: Any) -> None:
    for batch in chunks(activity_ids):
        db.execute(update(outbox).where(outbox.c.activity_id.in_(batch)).values(**values))


def mark_pushed(db: Connection, activity_ids: Sequence[str], now: datetime) -> None:
    """The CRM has these activities, open."""
    _set(db, activity_ids, status=OutboxStatus.PUSHED, crm_state="open", pushed_on=now)


def mark_canceled_in_crm(db: Connection, activity_ids: Sequence[str], now: datetime) -> None:
    _set(db, activity_ids, status=OutboxStatus.PUSHED, crm_state="canceled", closed_on=now)


def mark_failed(db: Connection, activity_id: str, message: str) -> None:
    """A permanent refusal by the CRM."""
    _set(db, [activity_id], status=OutboxStatus.FAILED, error=message[:2000])


def records_of(db: Connection, activity_ids: Sequence[str]) -> dict[str, str]:
    """activity id -> the record it is regarding, for items seqsync created."""
    found: dict[str, str] = {}
    for batch in chunks(activity_ids):
        query = select(outbox.c.activity_id, outbox.c.record_id).where(
            outbox.c.activity_id.in_(batch))
        found.update((a, r) for a, r in db.execute(query))
    return found


def templates_of(db: Connection, activity_ids: Sequence[str]) -> dict[str, tuple[str, str]]:
    """activity id -> (template, record table), for those items whose step has a template."""
    found: dict[str, tuple[str, str]] = {}
    for batch in chunks(activity_ids):
        query = select(outbox.c.activity_id, outbox.c.template, outbox.c.record_table).where(
            outbox.c.activity_id.in_(batch), outbox.c.template.is_not(None),
        )
        found.update((a, (t, table)) for a, t, table in db.execute(query))
    return found


def ours(db: Connection, activity_ids: Sequence[str]) -> dict[str, OutboxStatus]:
    """Status of those ids that seqsync created (or may have) and has not yet seen closed."""
    found: dict[str, OutboxStatus] = {}
    for batch in chunks(activity_ids):
        # The status test stays out of the SQL: with it, SQLite reads the status index
        # (every open item, per chunk) instead of the 900 primary keys (profiled: 20x).
        query = select(outbox.c.activity_id, outbox.c.status).where(
            outbox.c.activity_id.in_(batch), outbox.c.closed_on.is_(None),
        )
        found.update((a, OutboxStatus(s)) for a, s in db.execute(query) if s in _OURS)
    return found


def record_late_arrival(
    db: Connection, activity_id: str, now: datetime, closed_on: datetime | None, crm_state: str
) -> None:
    """An item cancelled as never sent that the CRM has all the same."""
    db.execute(
        update(outbox)
        .where(outbox.c.activity_id == activity_id, outbox.c.status == OutboxStatus.CANCELLED)
        .values(status=OutboxStatus.PUSHED, pushed_on=now, closed_on=closed_on,
                crm_state=crm_state)
    )


def take_cancellations(db: Connection) -> list[Row[Any]]:
    """Items to cancel in the CRM: (activity_id, activity_type, record_id). Those a seller
    closed meanwhile keep their outcome, which is CRM history: they go back to `pushed`."""
    db.execute(
        update(outbox)
        .where(outbox.c.status == OutboxStatus.TO_CANCEL, outbox.c.closed_on.is_not(None))
        .values(status=OutboxStatus.PUSHED)
    )
    return list(db.execute(
        select(outbox.c.activity_id, outbox.c.activity_type, outbox.c.record_id)
        .where(outbox.c.status == OutboxStatus.TO_CANCEL)
    ))


def open_in_crm(db: Connection, activity_type: StepType) -> list[str]:
    """Ids of pushed items of one type the CRM had open when last seen."""
    query = select(outbox.c.activity_id).where(
        outbox.c.activity_type == activity_type.value,
        outbox.c.status.in_((OutboxStatus.PUSHED, OutboxStatus.TO_CANCEL)),
        outbox.c.crm_state == "open",
    )
    return list(db.execute(query).scalars())
