"""The local database under stress: locked, full, older and newer schema versions."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import event
from support.world import T0, World

from connector.errors import LockHeld
from connector.store import db as store_db
from connector.sync.lock import RunLock, lock_path_for

from .invariants import check

NOW = T0 + timedelta(minutes=1)


def _one_clean_line(result) -> str:  # type: ignore[no-untyped-def]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output + result.stderr
    return lines[0]


def _ready(world: World, n: int = 10) -> list[str]:
    assert world.sync(T0).outcome == "ok"
    seq = world.sequence()
    leads = world.open_leads(n)
    world.connect(seq, leads)
    return leads


def test_a_state_database_locked_by_another_process_is_one_clear_line(
    world: World, monkeypatch
) -> None:
    _ready(world)
    monkeypatch.setattr(store_db, "BUSY_TIMEOUT_MS", 200)
    holder = sqlite3.connect(world.state_db, timeout=1, isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        result = world.cli("sync", now=NOW)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    line = _one_clean_line(result)
    assert result.exit_code == 2, line
    assert "locked" in line and str(world.state_db) in line
    assert world.crm.rows("emails") == []  # it stopped before talking to the CRM about it
    result = world.cli("sync", now=NOW)
    assert result.exit_code == 0, result.output
    assert check(world, NOW, complete=True).ok


def _no_room_to_grow(world: World):  # type: ignore[no-untyped-def]
    """A store set-up whose database cannot grow past its present size."""
    pages = sqlite3.connect(world.state_db).execute("PRAGMA page_count").fetchone()[0]
    setup = store_db._sqlite_setup

    def tiny_disk(engine) -> None:  # type: ignore[no-untyped-def]
        setup(engine)

        @event.listens_for(engine, "connect")
        def _full(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # SQLite answers SQLITE_FULL ("database or disk is full") past this many pages,
            # exactly as it does when the file system is out of space.
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    return tiny_disk


def test_a_full_disk_stops_the_run_clearly_and_the_next_run_finishes_the_job(
    world: World, monkeypatch
) -> None:
    leads = _ready(world, 20)
    setup = store_db._sqlite_setup
    monkeypatch.setattr(store_db, "_sqlite_setup", _no_room_to_grow(world))
    world.write_config(sync={"batch_size": 5})
    result = world.cli("sync", now=NOW)
    line = _one_clean_line(result)
    assert result.exit_code == 2, line
    assert "full" in line.lower() and str(world.state_db) in line, line
    assert check(world, NOW, complete=False).ok
    monkeypatch.setattr(store_db, "_sqlite_setup", setup)
    result = world.cli("sync", now=NOW)
    assert result.exit_code == 0, result.output
    assert len(world.crm.rows("emails")) == len(leads)
    assert check(world, NOW, complete=True).ok


def _downgrade_to_0001(path) -> None:  # type: ignore[no-untyped-def]
    """Make the file look like one written by the first release (before revision 0002)."""
    con = sqlite3.connect(path)
    con.execute("DROP TABLE IF EXISTS quarantine")  # revision 0003
    for table in ("workers", "request_budget"):  # revision 0004_workers
        con.execute(f"DROP TABLE IF EXISTS {table}")
    con.execute("DROP INDEX IF EXISTS ix_outbox_pending")
    con.execute("CREATE INDEX IF NOT EXISTS ix_history_connection "
                "ON connection_history (connection_id)")
    for table in ("records", "outbox"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN owner_type")
    indexes = [r[0] for r in con.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND sql LIKE '%outbox%record%'")]
    for name in indexes:
        con.execute(f'DROP INDEX "{name}"')
    con.execute("UPDATE alembic_version SET version_num = '0001'")
    con.commit()
    con.close()


def test_a_state_file_from_an_older_version_is_migrated_and_kept(world: World) -> None:
    leads = _ready(world, 5)
    _downgrade_to_0001(world.state_db)
    result = world.run_cli("--now", NOW.isoformat(), "sync")
    assert result.returncode == 0, result.stderr
    version = sqlite3.connect(world.state_db).execute(
        "SELECT version_num FROM alembic_version").fetchone()[0]
    assert version != "0001"
    assert len(world.crm.rows("emails")) == len(leads)
    assert check(world, NOW, complete=True).ok


def test_a_state_file_from_a_newer_version_is_refused_and_left_alone(world: World) -> None:
    _ready(world, 5)
    con = sqlite3.connect(world.state_db)
    con.execute("UPDATE alembic_version SET version_num = '9999_from_the_future'")
    con.commit()
    con.close()
    before = world.state_db.read_bytes()
    shutil.copy(world.state_db, world.folder / "before.db")
    result = world.run_cli("--now", NOW.isoformat(), "sync")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "newer" in lines[0] and str(world.state_db) in lines[0]
    assert world.crm.rows("emails") == []
    assert world.state_db.read_bytes() == before


def test_one_database_has_one_run_lock_whatever_its_url_or_link(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 16, defect 5: the lock was keyed on the URL's text, so a symlinked name or a
    `sqlite+pysqlite:///` URL (which fell back to ./seqsync.lock) let two runs overlap."""
    world.sync(T0)
    db = world.state_db
    link = tmp_path / "elsewhere" / "alias.db"
    link.parent.mkdir()
    link.symlink_to(db)
    monkeypatch.chdir(db.parent)
    urls = [f"sqlite:///{db}", f"sqlite+pysqlite:///{db}", f"sqlite:///{link}",
            f"sqlite+pysqlite:///{link}", "sqlite:///state.db"]
    assert {lock_path_for(url, None) for url in urls} == {db.with_name("state.db.lock")}
    for url in urls[1:]:
        world.write_config(state={"url": url})
        with RunLock(lock_path_for(f"sqlite:///{db}", None)), pytest.raises(LockHeld):
            world.sync(T0 + timedelta(minutes=1))


def _new_leads(world: World, n: int) -> None:
    template = dict(world.crm.rows("leads")[0])
    for i in range(n):
        row = {k: v for k, v in template.items() if not k.startswith(("_", "@"))
               and k not in ("versionnumber", "createdon", "modifiedon")}
        row["leadid"] = f"abcdef00-0000-4000-8000-{i:012d}"
        row["fullname"] = f"New lead {i} " + "x" * 140
        row["statecode"], row["statuscode"] = 0, 1
        world.crm.insert("leads", row)


def test_a_full_disk_during_the_pull_is_exit_2_in_one_line(world: World, monkeypatch) -> None:
    """Issue 16, defect 7: full during the pull exited 1, the message buried in the summary."""
    _ready(world, 5)
    _new_leads(world, 300)
    monkeypatch.setattr(store_db, "_sqlite_setup", _no_room_to_grow(world))
    result = world.cli("sync", now=NOW)
    line = _one_clean_line(result)
    assert result.exit_code == 2, line
    assert "disk full" in line and str(world.state_db) in line, line
    assert world.crm.rows("emails") == []  # stopped before anything was planned or sent


def test_a_disk_at_zero_bytes_says_disk_full_not_io_error(world: World, monkeypatch) -> None:
    """Defect 7: at 0 bytes free SQLite only says "disk I/O error"."""
    _ready(world, 5)
    setup = store_db._sqlite_setup

    def no_space(engine) -> None:  # type: ignore[no-untyped-def]
        setup(engine)

        @event.listens_for(engine, "before_cursor_execute")
        def _io(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
            if statement.lstrip().upper().startswith(("INSERT", "UPDATE")):
                raise sqlite3.OperationalError("disk I/O error")

    Usage = type(shutil.disk_usage("/"))
    monkeypatch.setattr(store_db, "_sqlite_setup", no_space)
    monkeypatch.setattr(store_db.shutil, "disk_usage", lambda path: Usage(100, 100, 0))
    result = world.cli("sync", now=NOW)
    line = _one_clean_line(result)
    assert result.exit_code == 2, line
    assert "disk full" in line and str(world.state_db) in line, line
