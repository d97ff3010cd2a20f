"""A PostgreSQL server for the tests: the one configured, the local one, or a throwaway one.

Where the server comes from, in order: `$SEQSYNC_TEST_POSTGRES` (a URL whose user may create
databases), a server at 127.0.0.1:5432 (user postgres, trust auth), else a throwaway server
started with the machine's own `pg_ctl` through pytest-postgresql's executor. With none of
these the session fails with one line saying how to provide one: PostgreSQL is never skipped.

Each test session gets its own database (several sessions may share a server) and drops it at
the end; `reset` empties it between tests.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

ENV = "SEQSYNC_TEST_POSTGRES"
LOCAL = "postgresql://postgres@127.0.0.1:5432/test"
HOW = (
    f"PostgreSQL is needed by the tests: set {ENV}=postgresql://USER@HOST:PORT/DB (a user "
    "that may CREATE DATABASE), run one at 127.0.0.1:5432, or install the server binaries "
    "(pg_ctl on PATH, e.g. apt-get install postgresql)"
)


class NoPostgres(RuntimeError):
    pass


def _reachable(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


def _pg_ctl() -> str | None:
    found = shutil.which("pg_ctl")
    if found:
        return found
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return candidates[-1] if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _throwaway_server() -> Iterator[str]:
    from pytest_postgresql.executors.proc import PostgreSQLExecutor

    pg_ctl = _pg_ctl()
    if pg_ctl is None:
        raise NoPostgres(HOW)
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="seqsync-pg-") as folder:
        executor = PostgreSQLExecutor(
            executable=pg_ctl, host="127.0.0.1", port=port,
            datadir=os.path.join(folder, "data"), unixsocketdir=folder,
            logfile=os.path.join(folder, "postgres.log"), startparams="-w",
            dbname="postgres", user="postgres",
        )
        executor.start()
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            executor.stop()


@contextmanager
def server() -> Iterator[str]:
    """A libpq URL of a server on which databases may be created."""
    configured = os.environ.get(ENV)
    if configured:
        configured = configured.replace("postgresql+psycopg://", "postgresql://", 1)
        if not _reachable(configured):
            raise NoPostgres(f"{ENV}={configured}: cannot connect. {HOW}")
        yield configured
    elif _reachable(LOCAL):
        yield LOCAL
    else:
        with _throwaway_server() as url:
            yield url


def _with_db(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


@contextmanager
def session_database() -> Iterator[str]:
    """A fresh database for this test session; its SQLAlchemy URL. Dropped at the end."""
    with server() as url:
        name = f"seqsync_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        try:
            yield _with_db(url, name).replace("postgresql://", "postgresql+psycopg://", 1)
        finally:
            with psycopg.connect(url, autocommit=True) as admin:
                admin.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
                )


def reset(url: str) -> None:
    """Empty the database: its public schema dropped and made again (tables, alembic too)."""
    libpq = url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as conn:
        # Other connections of an earlier test (a killed worker's) must not hold locks.
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
