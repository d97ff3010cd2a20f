"""Several workers on one state: who is working, who reads which table's changes, the backlog.

On PostgreSQL any number of `seqsync sync` / `serve` processes share one database. They
coordinate with the database's own locks, never with files or timers of ours:

- a table's change-tracking read (pull, reconcile) is held by one worker at a time through a
  session advisory lock on a connection of its own: a worker that dies, however it dies, closes
  that connection and the lock goes with it;
- planning and pushing claim slices of rows `FOR UPDATE SKIP LOCKED` (store.planning,
  store.outbox), released with the claiming transaction;
- a decision that counts what was done against a limit (the shared request budget, the daily
  caps) holds a transaction-scoped advisory lock, so the next worker counts what it committed;
- segment enrolment is done by one worker at a time (session lock, as for change tracking).

On SQLite there is one worker (the flock run lock), so every lock here is granted at once.
"""

from __future__ import annotations

import hashlib
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, func, insert, select, text, update

from connector.engine.models import ConnectionState
from connector.store.db import Store
from connector.store.outbox import OutboxStatus
from connector.store.schema import connections, outbox, workers


def lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for a name (the same in every process)."""
    digest = hashlib.sha1(f"seqsync:{name}".encode(), usedforsecurity=False).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def exclusive(store: Store, name: str) -> Iterator[bool]:
    """Try to hold the lock `name` for the block; yields False when another worker has it.

    PostgreSQL: `pg_try_advisory_lock` on a connection kept for the block, unlocked at its end
    (and by the server when the holder dies). SQLite: always True (one worker, run lock).
    """
    if store.is_sqlite:
        yield True
        return
    key = lock_key(name)
    with store.engine.connect() as conn:
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar())
            conn.commit()
        except Exception as exc:
            raise store.state_error(exc) from None
        try:
            yield got
        finally:
            if got:
                try:
                    conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                    conn.commit()
                except Exception:  # a dead connection has dropped the lock already
                    conn.invalidate()


def hold_until_commit(db: Connection, name: str) -> None:
    """Wait for the lock `name` and hold it until the transaction `db` ends (PostgreSQL:
    `pg_advisory_xact_lock`; SQLite: nothing, one worker). For read-then-write decisions that
    must see what the previous holder committed, such as a count against a limit."""
    if db.dialect.name == "postgresql":
        db.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_key(name)})


def new_worker_id(started: datetime) -> tuple[str, str, int]:
    host = socket.gethostname()
    pid = os.getpid()
    return f"{host}:{pid}:{started.strftime('%Y%m%dT%H%M%S')}", host, pid


def note_worker(db: Connection, worker_id: str, host: str, pid: int, started: datetime,
                now: datetime, action: str) -> None:
    """Record that the worker is alive and what it is doing."""
    action = action[:200]
    changed = db.execute(
        update(workers).where(workers.c.id == worker_id).values(seen_on=now, action=action)
    ).rowcount
    if not changed:
        db.execute(insert(workers).values(
            id=worker_id, host=host[:200], pid=pid, started_on=started, seen_on=now,
            action=action,
        ))


@dataclass(frozen=True)
class WorkerSeen:
    id: str
    host: str
    pid: int
    started_on: datetime
    seen_on: datetime
    action: str


def recent_workers(db: Connection, since: datetime) -> list[WorkerSeen]:
    query = select(workers).where(workers.c.seen_on >= since).order_by(workers.c.seen_on.desc())
    return [WorkerSeen(r.id, r.host, r.pid, r.started_on, r.seen_on, r.action)
            for r in db.execute(query)]


@dataclass(frozen=True)
class Backlog:
    due_connections: int  # scheduled and due now: the next planning's work
    pending_activities: int  # planned, not yet in the CRM: the next push's work
    to_cancel: int


def backlog(db: Connection, now: datetime) -> Backlog:
    due = db.execute(select(func.count()).select_from(connections).where(
        connections.c.state == ConnectionState.SCHEDULED.value, connections.c.due_at <= now,
    )).scalar()
    by_status = dict(db.execute(
        select(outbox.c.status, func.count())
        .where(outbox.c.status.in_((OutboxStatus.PENDING, OutboxStatus.TO_CANCEL)))
        .group_by(outbox.c.status)
    ).all())
    return Backlog(int(due or 0), int(by_status.get(OutboxStatus.PENDING, 0)),
                   int(by_status.get(OutboxStatus.TO_CANCEL, 0)))
