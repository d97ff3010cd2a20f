"""A PostgreSQL server for the tests: the one configured, the local one, or a throwaway one.

Where the server comes from, in order: `$SEQSYNC_TEST_POSTGRES` (a URL whose user may create
databases), a server at 127.0.0.1:5432 (user postgres, trust auth), else a throwaway server
made with the machine's own `initdb` and `pg_ctl` in a temporary folder. With none of these
the session fails with one line saying how to provide one: PostgreSQL is never skipped.

Each test session gets its own database (several sessions may share a server) and drops it at
the end; `reset` empties it between tests.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

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


def _as_server_user(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: as root, run its tools as the `postgres` user."""
    if os.geteuid() != 0:
        return command
    try:
        pwd.getpwnam("postgres")
    except KeyError:
        raise NoPostgres(f"{HOW} (as root, a 'postgres' system user must exist)") from None
    return ["runuser", "-u", "postgres", "--", *command]


@contextmanager
def _throwaway_server() -> Iterator[str]:
    """initdb + pg_ctl start in a temporary folder, on a free port; stopped and removed after."""
    pg_ctl = _pg_ctl()
    if pg_ctl is None:
        raise NoPostgres(HOW)
    initdb = str(Path(pg_ctl).with_name("initdb"))
    port = _free_port()
    with tempfile.TemporaryDirectory(prefix="seqsync-pg-") as folder:
        data = os.path.join(folder, "data")
        if os.geteuid() == 0:
            os.chmod(folder, 0o777)  # the server user writes its data and socket here
        run = partial(subprocess.run, check=True, capture_output=True, timeout=120)
        run(_as_server_user([initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"]))
        options = f"-p {port} -h 127.0.0.1 -k {folder} -F"
        run(_as_server_user([pg_ctl, "-D", data, "-o", options, "-l",
                             os.path.join(folder, "postgres.log"), "-w", "start"]))
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(_as_server_user([pg_ctl, "-D", data, "-m", "fast", "-w", "stop"]))


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
