"""The local mirror of CRM leads and opportunities."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import Connection, Row, Select, bindparam, exists, func, insert, select, update
from sqlalchemy.sql import ColumnElement

from connector.engine.models import Record
from connector.errors import InvalidInput
from connector.store.chunks import chunks, unique
from connector.store.schema import connections, records, sequences

# Filterable fields of a record; anything else is looked up among the mapped extra columns.
FIELDS = ("id", "name", "owner_id", "email", "phone", "statecode", "is_open", "is_deleted")


def record_from_row(row: Row) -> Record:
    return Record(
        id=row.id, table=row.table, name=row.name, owner_id=row.owner_id,
        is_open=bool(row.is_open), is_deleted=bool(row.is_deleted), statecode=row.statecode,
        email=row.email, phone=row.phone, columns=MappingProxyType(dict(row.columns or {})),
        owner_type=row.owner_type,
    )


def _values(record: Record, now: datetime) -> dict[str, object]:
    return {
        "table": record.table, "name": record.name, "owner_id": record.owner_id,
        "owner_type": record.owner_type, "is_open": record.is_open, "is_deleted": record.is_deleted,
        "statecode": record.statecode, "email": record.email, "phone": record.phone,
        "columns": dict(record.columns), "synced_on": now,
    }


def upsert_records(db: Connection, batch: list[Record], now: datetime) -> tuple[int, int]:
    """Insert new records and overwrite known ones. Returns (inserted, updated)."""
    latest = {r.id: r for r in batch}  # the last version of a repeated id wins
    existing: set[str] = set()
    for ids in chunks(list(latest)):
        existing.update(db.execute(select(records.c.id).where(records.c.id.in_(ids))).scalars())
    new = [{"id": r.id, **_values(r, now)} for r in latest.values() if r.id not in existing]
    known = [{"b_id": r.id, **_values(r, now)} for r in latest.values() if r.id in existing]
    if new:
        db.execute(insert(records), new)
    if known:
        db.execute(update(records).where(records.c.id == bindparam("b_id")), known)
    return len(new), len(known)


def mark_deleted(db: Connection, ids: Iterable[str], now: datetime) -> list[str]:
    """Flag known records deleted; returns the ids that were known."""
    known: list[str] = []
    for batch in chunks(unique(ids)):
        found = list(db.execute(select(records.c.id).where(records.c.id.in_(batch))).scalars())
        if found:
            db.execute(
                update(records).where(records.c.id.in_(found))
                .values(is_deleted=True, is_open=False, synced_on=now)
            )
        known.extend(found)
    return known


def connect_facts(
    db: Connection, ids: Iterable[str]
) -> dict[str, tuple[Record, str | None]]:
    """What the connect checks read, in one query per chunk: each known record with only its
    table and state (no name, owner or JSON columns), and the name of the sequence it is
    connected to now (None when it is not connected)."""
    query = (
        select(records.c.id, records.c.table, records.c.is_open, records.c.is_deleted,
               records.c.statecode, sequences.c.name, connections.c.sequence_id)
        .join(connections, connections.c.record_id == records.c.id, isouter=True)
        .join(sequences, sequences.c.id == connections.c.sequence_id, isouter=True)
    )
    found: dict[str, tuple[Record, str | None]] = {}
    for batch in chunks(unique(ids)):
        if db.dialect.name == "sqlite":
            # Connect checks every record twice (the rule, then the operation): on SQLite the
            # chunk goes to the driver as it is, without Core's per-parameter processing.
            sql = str(query.compile(dialect=db.dialect)) + (
                f" WHERE records.id IN ({', '.join('?' * len(batch))})"
            )
            cursor = db.connection.driver_connection.cursor()  # type: ignore[union-attr]
            try:
                rows = cursor.execute(sql, batch).fetchall()
            finally:
                cursor.close()
        else:
            rows = list(db.execute(query.where(records.c.id.in_(batch))))
        for record_id, table, is_open, is_deleted, statecode, name, sequence_id in rows:
            record = Record(id=record_id, table=table, is_open=bool(is_open),
                            is_deleted=bool(is_deleted), statecode=statecode)
            found[record_id] = (record, name or sequence_id)
    return found


def load_records(db: Connection, ids: Iterable[str]) -> dict[str, Record]:
    found: dict[str, Record] = {}
    for batch in chunks(unique(ids)):
        for row in db.execute(select(records).where(records.c.id.in_(batch))):
            found[row.id] = record_from_row(row)
    return found


# record id -> (table, owner id, owner type): what an outbox row takes from its record.
Owners = dict[str, tuple[str, str | None, str | None]]


def owners(db: Connection, ids: Iterable[str]) -> Owners:
    """What an outbox row takes from its record, without the JSON columns."""
    found: Owners = {}
    for batch in chunks(unique(ids)):
        query = select(
            records.c.id, records.c.table, records.c.owner_id, records.c.owner_type
        ).where(records.c.id.in_(batch))
        found.update({row.id: (row.table, row.owner_id, row.owner_type)
                      for row in db.execute(query)})
    return found


def parse_where(pairs: Iterable[str]) -> dict[str, str]:
    """`COLUMN=VALUE` options as a dict; a malformed one is an error naming it."""
    where: dict[str, str] = {}
    for pair in pairs:
        column, sep, value = pair.partition("=")
        if not sep or not column.strip():
            raise InvalidInput(f"--where {pair!r}: expected COLUMN=VALUE")
        where[column.strip()] = value
    return where


def where_condition(column: str, value: str) -> ColumnElement[bool]:
    """One `--where COLUMN=VALUE` condition (also a segment rule's)."""
    return _condition(column, value)


def _condition(column: str, value: str) -> ColumnElement[bool]:
    if column in ("is_open", "is_deleted"):
        flag = value.strip().lower()
        if flag not in ("true", "false", "1", "0", "yes", "no"):
            raise InvalidInput(f"--where {column}={value}: expected true or false")
        return records.c[column].is_(flag in ("true", "1", "yes"))
    if column == "statecode":
        if not value.strip().lstrip("-").isdigit():
            raise InvalidInput(f"--where statecode={value}: expected a number")
        return records.c.statecode == int(value)
    if column in FIELDS:
        return records.c[column] == value
    # Extra mapped columns live in JSON; compare their text form (portable JSON access).
    return records.c.columns[column].as_string() == value


def _records_query(
    columns: Any,
    *,
    table: str | None,
    unconnected: bool,
    where: Mapping[str, str] | None,
    open_only: bool,
    limit: int | None,
    name_contains: str | None = None,
) -> Select[Any]:
    query = select(columns).order_by(records.c.table, records.c.name, records.c.id)
    if name_contains:
        query = query.where(
            func.lower(records.c.name).contains(name_contains.lower(), autoescape=True)
        )
    if table:
        query = query.where(records.c.table == table)
    if open_only:
        query = query.where(records.c.is_open.is_(True), records.c.is_deleted.is_(False))
    if unconnected:
        # NOT EXISTS, not NOT IN: PostgreSQL cannot turn NOT IN (subquery) into an anti-join,
        # and past work_mem it re-scans the connections per record (a 400,000-lead connect
        # --where took minutes a page).
        query = query.where(~exists().where(connections.c.record_id == records.c.id))
    for column, value in (where or {}).items():
        query = query.where(_condition(column, value))
    if limit:
        query = query.limit(limit)
    return query


def query_records(
    db: Connection,
    *,
    table: str | None = None,
    unconnected: bool = False,
    where: Mapping[str, str] | None = None,
    open_only: bool = False,
    limit: int | None = None,
    name_contains: str | None = None,
) -> list[Record]:
    query = _records_query(records, table=table, unconnected=unconnected, where=where,
                           open_only=open_only, limit=limit, name_contains=name_contains)
    return [record_from_row(row) for row in db.execute(query)]


def query_record_ids(
    db: Connection,
    *,
    table: str | None = None,
    unconnected: bool = False,
    where: Mapping[str, str] | None = None,
    open_only: bool = False,
    after: str | None = None,
    limit: int | None = None,
) -> list[str]:
    """Only the ids of what query_records would return: bulk connect of a whole table.

    With `after`, a page in id order after that id (keyset: `connect --where` streams pages
    of a table of any size instead of holding every id)."""
    query = _records_query(records.c.id, table=table, unconnected=unconnected, where=where,
                           open_only=open_only, limit=limit)
    if after is not None:
        query = query.order_by(None).order_by(records.c.id).where(records.c.id > after)
    return list(db.execute(query).scalars())


def live_ids(db: Connection, table: str) -> list[str]:
    """Ids of the records of `table` not flagged deleted."""
    query = select(records.c.id).where(records.c.table == table, records.c.is_deleted.is_(False))
    return list(db.execute(query).scalars())
