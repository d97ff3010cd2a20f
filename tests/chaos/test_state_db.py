"""The local database under stress: locked, full, older and newer schema versions."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import timedelta

from sqlalchemy import event
from support.world import T0, World

from connector.store import db as store_db

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


def test_a_full_disk_stops_the_run_clearly_and_the_next_run_finishes_the_job(
    world: World, monkeypatch
) -> None:
    leads = _ready(world, 20)
    pages = sqlite3.connect(world.state_db).execute("PRAGMA page_count").fetchone()[0]
    setup = store_db._sqlite_setup

    def tiny_disk(engine) -> None:  # type: ignore[no-untyped-def]
        setup(engine)

        @event.listens_for(engine, "connect")
        def _full(dbapi_conn, _record) -> None:  # type: ignore[no-untyped-def]
            # SQLite answers SQLITE_FULL ("database or disk is full") past this many pages,
            # exactly as it does when the file system is out of space.
            dbapi_conn.execute(f"PRAGMA max_page_count={pages}")

    monkeypatch.setattr(store_db, "_sqlite_setup", tiny_disk)
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
    """Make the file look like one written by the first release: every later revision's
    downgrade, as Alembic runs it."""
    from alembic import command
    from alembic.config import Config
    from sqlalchemy import create_engine

    from connector.store.db import MIGRATIONS

    engine = create_engine(f"sqlite:///{path}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as db:
        config.attributes["connection"] = db
        command.downgrade(config, "0001")
    engine.dispose()


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
