"""How one run takes part in a team of workers on one state.

SQLite: one worker at a time, the flock run lock (`sync.lock`). PostgreSQL: no run lock; the
workers coordinate through the database (see `store.workers`): a table's change tracking is read
by one of them at a time, planning and push claim slices, and the CRM request budget is one
counter for all. Each worker also says what it is doing, for `seqsync status`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime

from connector.config import Settings
from connector.store import budget
from connector.store import workers as worker_store
from connector.store.db import PoolOptions, Store
from connector.sync.lock import RunLock, lock_path_for
from connector.sync.progress import Progress

log = logging.getLogger("seqsync.sync")

_STARTED = datetime.now(UTC)
WORKER_ID, HOST, PID = worker_store.new_worker_id(_STARTED)


def run_lock(settings: Settings, store_is_sqlite: bool) -> AbstractContextManager[object]:
    """The flock run lock on SQLite; nothing on a server database (workers cooperate)."""
    if store_is_sqlite:
        return RunLock(lock_path_for(settings.state.url, settings.sync.lock_file))
    return nullcontext()


def note(store: Store, action: str) -> None:
    """Say what this worker is doing now (never fails the run: it is for people only)."""
    try:
        with store.begin() as db:
            worker_store.note_worker(db, WORKER_ID, HOST, PID, _STARTED, datetime.now(UTC),
                                     action)
    except Exception as exc:  # a status line must not stop the work it describes
        log.warning("could not record this worker's action %r: %s", action, exc)


class WorkerProgress:
    """Passes progress on, and records each phase as this worker's last action."""

    def __init__(self, inner: Progress, store: Store) -> None:
        self._inner = inner
        self._store = store

    def phase(self, name: str, total: int | None = None) -> None:
        note(self._store, name)
        self._inner.phase(name, total)

    def advance(self, n: int = 1) -> None:
        self._inner.advance(n)

    def close(self) -> None:
        self._inner.close()


class SharedBudget:
    """The CRM request budget all workers on one PostgreSQL state share: called before every
    request, it waits until the shared window has room. Its own small pool, so push threads
    asking for budget never wait behind the connections their chunks' claims hold."""

    def __init__(self, settings: Settings, sleep: Callable[[float], None] = time.sleep) -> None:
        self._store = Store(settings.state.url, PoolOptions(
            size=1, max_overflow=2, timeout=settings.state.pool_timeout,
            connect_timeout=settings.state.connect_timeout,
        ))
        self._limit = settings.workers.requests_per_window
        self._window = settings.workers.window_seconds
        self._sleep = sleep
        self.waited = 0.0

    def __call__(self) -> None:
        while True:
            wait = budget.take(self._store, time.time(), self._limit, self._window)
            if wait <= 0:
                return
            self.waited += wait
            self._sleep(wait)

    def close(self) -> None:
        self._store.close()


def table_turn(store: Store, entity_set: str) -> AbstractContextManager[bool]:
    """This worker's turn at a table's change tracking: False while another worker reads it."""
    return worker_store.exclusive(store, f"changes:{entity_set}")


def segment_turn(store: Store) -> AbstractContextManager[bool]:
    """This worker's turn at segment enrolment: False while another worker enrols."""
    return worker_store.exclusive(store, "enroll")
