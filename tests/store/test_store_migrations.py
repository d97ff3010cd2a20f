import sqlite3
from datetime import UTC, datetime, timedelta, timezone

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, insert, inspect, select, text

from connector.errors import StateError
from connector.store.chunks import chunks, unique
from connector.store.db import MIGRATIONS, Store, open_store
from connector.store.schema import metadata, runs

HEAD = "0010_fewer_plan_index_entries"


def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'state.db'}"


def head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    found = ScriptDirectory.from_config(config).get_current_head()
    assert found is not None
    return found


def set_revision(store: Store, value: str) -> None:
    with store.begin() as db:
        db.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": value})


def revision(store: Store) -> str | None:
    with store.begin() as db:
        return MigrationContext.configure(db).get_current_revision()


def index_names(engine, table: str) -> set[str]:
    return {i["name"] for i in inspect(engine).get_indexes(table)}


def test_fresh_database_is_created_at_head_on_both_backends(state_url):
    store = open_store(state_url)
    try:
        assert revision(store) == HEAD == head()
        tables = set(inspect(store.engine).get_table_names())
        assert {"sequences", "steps", "records", "connections", "connection_history",
                "outbox", "sync_state", "runs", "quarantine", "workers",
                "request_budget"} <= tables
    finally:
        store.close()


def test_sqlite_pragmas(tmp_path):
    store = open_store(url(tmp_path))
    try:
        with store.begin() as db:
            assert db.execute(text("PRAGMA foreign_keys")).scalar() == 1
            assert db.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    finally:
        store.close()


def test_migrations_match_the_schema_module(state_url):
    store = open_store(state_url)
    try:
        with store.engine.connect() as db:
            diffs = compare_metadata(MigrationContext.configure(db), metadata)
        assert diffs == []
    finally:
        store.close()


def test_an_older_database_is_upgraded(state_url):
    engine = create_engine(state_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as db:
        config.attributes["connection"] = db
        command.upgrade(config, "0001")
    engine.dispose()
    store = open_store(state_url)
    try:
        assert revision(store) == HEAD == head()
        indexes = {i["name"] for i in inspect(store.engine).get_indexes("outbox")}
        assert "ix_outbox_record" in indexes
        assert "quarantine" in inspect(store.engine).get_table_names()
    finally:
        store.close()
    open_store(state_url).close()  # and opening again is a no-op


def test_a_database_from_a_newer_seqsync_is_refused(state_url):
    store = open_store(state_url)
    set_revision(store, "0999_future")
    store.close()
    with pytest.raises(StateError, match=r"revision 0999_future, which this "
                                         "seqsync does not know"):
        open_store(state_url)


def test_a_locked_database_is_a_clear_state_error(tmp_path, monkeypatch):
    open_store(url(tmp_path)).close()
    monkeypatch.setattr("connector.store.db.BUSY_TIMEOUT_MS", 50)
    store = Store(url(tmp_path))
    holder = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StateError, match="locked by another process"), store.begin() as db:
            db.execute(text("SELECT 1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
        store.close()


def test_bad_url_is_a_state_error():
    with pytest.raises(StateError, match=r"\[state\] url: cannot use 'nonsense://x'"):
        Store("nonsense://x")


def test_times_come_back_as_aware_utc(state_url):
    store = open_store(state_url)
    paris = timezone(timedelta(hours=1))
    try:
        with store.begin() as db:
            db.execute(insert(runs).values(
                started_on=datetime(2026, 1, 1, 13, 0, tzinfo=paris),
                clock=datetime(2026, 1, 1, 12, 0, tzinfo=UTC), outcome="ok"))
            row = db.execute(select(runs)).one()
        assert row.started_on == datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
        assert row.started_on.tzinfo is UTC
        with pytest.raises(Exception, match="naive datetime"), store.begin() as db:
            db.execute(insert(runs).values(started_on=datetime(2026, 1, 1),
                                           clock=datetime(2026, 1, 1), outcome="ok"))
    finally:
        store.close()


def test_chunks_and_unique():
    assert [len(c) for c in chunks(range(2000))] == [900, 900, 200]
    assert list(chunks([])) == []
    assert unique(["b", "a", "b"]) == ["b", "a"]


def test_missing_driver_is_a_state_error_without_the_password():
    with pytest.raises(StateError) as exc:
        Store("postgresql+nosuchdriver://app:s3cret-pw@db.example/seqsync")
    assert "[state] url" in str(exc.value) and "s3cret-pw" not in str(exc.value)


def test_a_directory_as_database_is_named(tmp_path):
    with pytest.raises(StateError, match=r"^\[state\] url: .*cannot use the state database"):
        open_store(f"sqlite:///{tmp_path}")


def test_the_planning_index_revisions_go_down_and_up_again(state_url):
    open_store(state_url).close()
    engine = create_engine(state_url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as db:
            config.attributes["connection"] = db
            command.downgrade(config, "0008_workers")
        history = index_names(engine, "connection_history")
        assert {"ix_history_sequence_event", "ix_history_sequence_record"} <= history
        assert "ix_history_sequence_ended" not in history
        assert "ix_connections_activity" in index_names(engine, "connections")
        assert "ix_outbox_connection" in index_names(engine, "outbox")
        with engine.begin() as db:
            config.attributes["connection"] = db
            command.upgrade(config, "head")
        inspector = inspect(engine)
        history = index_names(engine, "connection_history")
        assert "ix_history_sequence_ended" in history
        assert not {"ix_history_sequence_event", "ix_history_sequence_record"} & history
        assert "ix_outbox_connection" not in index_names(engine, "outbox")
        assert "ix_connections_activity" not in index_names(engine, "connections")
        due = {i["name"]: i for i in inspector.get_indexes("connections")}["ix_connections_due"]
        spans = {i["name"]: i for i in inspector.get_indexes("connection_history")}[
            "ix_history_sequence_connection"]
        if engine.dialect.name == "postgresql":  # scheduled connections only
            assert "scheduled" in str(due.get("dialect_options", {}).get("postgresql_where"))
            assert "step_completed" in str(spans["dialect_options"]["postgresql_where"])
        else:
            with engine.connect() as db:
                made = db.execute(text("SELECT sql FROM sqlite_master WHERE name = "
                                       "'ix_history_sequence_connection'")).scalar()
            assert "WHERE event IN ('connected', 'step_completed'" in made
    finally:
        engine.dispose()
    store = open_store(state_url)
    try:
        assert revision(store) == HEAD
        with store.engine.connect() as db:
            assert compare_metadata(MigrationContext.configure(db), metadata) == []
    finally:
        store.close()
