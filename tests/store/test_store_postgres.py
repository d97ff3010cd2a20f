"""PostgreSQL specifics of the store: the pool from config and a connection lost mid-run."""

from __future__ import annotations

import psycopg
import pytest
from sqlalchemy import text
from support import postgres

from connector.errors import EXIT_PARTIAL
from connector.store.db import PoolOptions, StateLost, open_store


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def test_the_pool_is_sized_from_the_options(pg_url):
    store = open_store(pg_url, PoolOptions(size=3, max_overflow=1, timeout=2))
    try:
        assert store.engine.pool.size() == 3
        assert store.engine.pool._max_overflow == 1  # type: ignore[attr-defined]
    finally:
        store.close()


def test_a_lost_connection_is_exit_1_and_the_next_transaction_reconnects(pg_url):
    store = open_store(pg_url)
    try:
        lost = pytest.raises(StateLost, match="lost the connection to the state database")
        with lost as exc, store.begin() as db:
            pid = db.execute(text("SELECT pg_backend_pid()")).scalar()
            db.execute(text("CREATE TABLE half_written (n int)"))
            with psycopg.connect(_libpq(pg_url), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
            db.execute(text("SELECT 1"))
        assert exc.value.exit_code == EXIT_PARTIAL
        with store.begin() as db:  # a fresh connection from the pool: the next run goes on
            assert db.execute(text("SELECT 1")).scalar() == 1
            # Nothing half-written: the transaction died with its connection.
            assert db.execute(text("SELECT to_regclass('half_written')")).scalar() is None
    finally:
        store.close()


def test_an_unreachable_configured_server_fails_in_one_line(monkeypatch):
    monkeypatch.setenv(postgres.ENV, "postgresql://nobody@127.0.0.1:1/none")
    with pytest.raises(postgres.NoPostgres) as exc, postgres.server():
        pass
    message = str(exc.value)
    assert "\n" not in message and "cannot connect" in message and postgres.ENV in message


@pytest.mark.slow
def test_with_no_server_around_a_throwaway_one_is_started(monkeypatch):
    monkeypatch.delenv(postgres.ENV, raising=False)
    monkeypatch.setattr(postgres, "LOCAL", "postgresql://postgres@127.0.0.1:1/test")
    with postgres.server() as url:
        assert ":1/" not in url
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
