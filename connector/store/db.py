"""The state database: engine set-up, transactions, and migrations run on open."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

from connector.engine.models import activity_id_for
from connector.errors import EXIT_PARTIAL, StateError

SQLITE_ACTIVITY_ID = "seqsync_activity_id"  # the engine's activity id, callable from SQL
MIGRATIONS = Path(__file__).parent / "migrations"
BUSY_TIMEOUT_MS = 10_000
SQLITE_CACHE_KIB = 128 * 1024


def _sqlite_setup(engine: Engine) -> None:
    memory = engine.url.database in (None, "", ":memory:")

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own is too lazy).
        dbapi_conn.isolation_level = None
        # Set-based planning computes activity ids in SQL (store.planning): the engine's own.
        dbapi_conn.create_function(
            SQLITE_ACTIVITY_ID, 3, activity_id_for, deterministic=True
        )
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not memory:
            cursor.execute("PRAGMA journal_mode=WAL")
            # NORMAL is SQLite's advice for WAL: still consistent after a crash; a power cut
            # may lose the last commits, which activity ids chosen up front make safe to redo.
            cursor.execute("PRAGMA synchronous=NORMAL")
            # Planning and pulling write entries all over GUID-keyed indexes: with SQLite's
            # 2 MB default most writes re-read a page evicted moments ago (measured: half the
            # wall time of planning 200,000 connections was system time). Pages are held
            # only once used, so a small state costs no more than before.
            cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front, so a busy database waits (busy_timeout)
        # instead of failing half-way when a read turns into a write.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


@dataclass(frozen=True)
class PoolOptions:
    """Connection pool of a server database ([state] pool_size, max_overflow, ...)."""

    size: int = 5
    max_overflow: int = 5
    timeout: float = 30.0
    connect_timeout: float = 10.0

    def engine_kwargs(self) -> dict[str, Any]:
        return {
            "pool_size": self.size,
            "max_overflow": self.max_overflow,
            "pool_timeout": self.timeout,
            # A connection the server dropped while idle in the pool is replaced, not used.
            "pool_pre_ping": True,
            "connect_args": {"connect_timeout": max(1, round(self.connect_timeout))},
        }


class StateLost(StateError):
    """The server database went away mid-run: the run stops (exit 1), the next one continues.

    Whatever the open transaction held is rolled back by the server; committed work stays.
    """

    exit_code = EXIT_PARTIAL


class Store:
    """One state database. `begin()` gives a transaction; errors become StateError."""

    def __init__(self, url: str, pool: PoolOptions | None = None) -> None:
        try:
            kwargs = {} if url.startswith("sqlite") else (pool or PoolOptions()).engine_kwargs()
            if make_url(url).get_driver_name() == "psycopg":
                # psycopg prepares a statement run five times, and PostgreSQL may then keep a
                # generic plan made while a table was small: a 400,000-lead pull went from
                # index lookups to sequential scans (7 s a chunk). Plan every statement anew.
                kwargs["connect_args"]["prepare_threshold"] = None
            self.engine: Engine = create_engine(url, **kwargs)
        except (SQLAlchemyError, ValueError, ImportError) as exc:
            what = "its database driver is not installed: " if isinstance(exc, ImportError) else ""
            raise StateError(f"[state] url: cannot use {_safe(url)!r}: {what}{exc}") from None
        self.where = (
            str(self.engine.url.database)
            if self.engine.dialect.name == "sqlite"
            else self.engine.url.render_as_string(hide_password=True)
        )
        self.dialect = self.engine.dialect.name
        if self.dialect == "sqlite":
            _sqlite_setup(self.engine)

    @property
    def pool_capacity(self) -> int:
        """Connections this process may hold at once (pool size plus overflow)."""
        pool = self.engine.pool
        size = getattr(pool, "size", None)
        overflow = getattr(pool, "_max_overflow", 0)
        return int(size()) + max(0, int(overflow)) if callable(size) else 1

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def begin(self) -> AbstractContextManager[Connection]:
        """A transaction: committed when the block ends, rolled back on any exception."""
        return self._translated(self.engine.begin)

    def read(self) -> AbstractContextManager[Connection]:
        """`db` for reads, closed (its transaction ended) when the block ends."""
        return self._translated(self.engine.connect)

    @contextmanager
    def _translated(
        self, open_db: Callable[[], AbstractContextManager[Connection]]
    ) -> Iterator[Connection]:
        try:
            with open_db() as db:
                yield db
        except (OperationalError, sqlite3.OperationalError, InterfaceError) as exc:
            # The raw driver error too: bulk writes go through the driver's own executemany.
            raise self._state_error(exc) from None

    def state_error(self, exc: Exception) -> StateError:
        """The same one-line StateError for a database error met outside `begin()`/`read()`
        (store modules holding a connection of their own: the advisory locks)."""
        return self._state_error(exc)

    def _state_error(self, exc: Exception) -> StateError:
        orig = getattr(exc, "orig", None)
        text = (str(orig) if orig is not None else str(exc)).strip().splitlines()[0]
        if getattr(exc, "connection_invalidated", False) or isinstance(exc, InterfaceError):
            return StateLost(
                f"{self.where}: lost the connection to the state database ({text}); "
                "this run stops, the next one continues"
            )
        if "locked" in text or "busy" in text:
            return StateError(
                f"{self.where}: the state database is locked by another process; try again"
            )
        if "full" in text or ("disk i/o error" in text.lower() and self._disk_is_full()):
            # SQLite says "database or disk is full", or at 0 bytes free only "disk I/O error".
            return StateError(f"{self.where}: disk full: the state database cannot be written; "
                              "free some space and run again")
        return StateError(f"[state] url: {self.where}: cannot use the state database: {text}")

    def revision(self) -> str | None:
        """The schema revision the database is at; None for an empty database."""
        with self.begin() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def _disk_is_full(self) -> bool:
        path = sqlite_file(self.engine.url.render_as_string(hide_password=False))
        if path is None:
            return False
        try:
            return shutil.disk_usage(path.resolve().parent).free == 0
        except OSError:
            return False

    def migrate(self) -> None:
        """Bring the schema to the newest revision; refuse a database from a newer seqsync."""
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        script = ScriptDirectory.from_config(config)
        head = script.get_current_head()
        with self.begin() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
            if current == head:
                return
            if current is not None and not _known(script, current):
                raise StateError(
                    f"{self.where}: the state database has schema revision {current}, which "
                    "this seqsync does not know (written by a newer version?); upgrade seqsync"
                )
            config.attributes["connection"] = conn
            command.upgrade(config, "head")

    def close(self) -> None:
        self.engine.dispose()


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except (SQLAlchemyError, ValueError):
        return url.split("@")[-1] if "@" in url else url


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        return script.get_revision(revision) is not None
    except Exception:  # alembic raises several types for an unknown id
        return False


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite URL (any driver form), None for memory or other databases."""
    try:
        parsed = make_url(url)
    except (SQLAlchemyError, ValueError):
        return None
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def copy_sqlite(source: Path, destination: Path) -> None:
    """A consistent snapshot of `source` into `destination`, even while WAL has unmerged pages
    (SQLite's backup API)."""
    with sqlite3.connect(source) as src, sqlite3.connect(destination) as dst:
        src.backup(dst)


def open_store(url: str, pool: PoolOptions | None = None) -> Store:
    """Open the database at `url` and migrate it (a fresh database is created at head)."""
    store = Store(url, pool)
    try:
        store.migrate()
    except Exception:
        store.close()
        raise
    return store
