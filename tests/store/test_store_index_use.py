"""Queries whose indexes revision 0010 changed, so that planning writes fewer index entries: a
completion finds its connection through the outbox, a disconnect finds a connection's items by
its record (both backends), and SQLite still answers them, and the time-on-step medians, from
an index."""

from datetime import UTC, datetime

import pytest
from sqlalchemy import event, select

from connector.engine.models import (
    Connection,
    ConnectionState,
    PlanActivity,
    Record,
    Sequence,
    StepType,
)
from connector.store import connections as connection_store
from connector.store import outbox as outbox_store
from connector.store import records as record_store
from connector.store import sequences as seq_store
from connector.store import stats
from connector.store.db import open_store
from connector.store.schema import outbox

NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
SEQUENCE = "6f8a4c1e-0000-4000-8000-000000000001"
STEP = "6f8a4c1e-0000-4000-8000-0000000000aa"


def gid(kind: int, n: int) -> str:
    return f"00000000-0000-4000-{kind:04d}-{n:012d}"


@pytest.fixture
def store(state_url):
    opened = open_store(state_url)
    with opened.begin() as db:
        seq_store.insert_sequence(db, Sequence(id=SEQUENCE, name="Cold", entity="lead",
                                               created_on=NOW, modified_on=NOW))
        record_store.upsert_records(
            db, [Record(id=gid(1, n), table="lead", name=f"L{n}") for n in (1, 2)], NOW)
    yield opened
    opened.close()


def connection(n: int, activity: str | None) -> Connection:
    return Connection(id=gid(2, n), record_id=gid(1, n), sequence_id=SEQUENCE, step_id=STEP,
                      state=ConnectionState.WAITING, due_at=NOW, connected_on=NOW,
                      step_started_on=NOW, activity_id=activity)


def planned(activity: str, connection_id: str, record_id: str) -> PlanActivity:
    return PlanActivity(activity_id=activity, connection_id=connection_id, record_id=record_id,
                        step_id=STEP, activity_type=StepType.EMAIL, subject="Hello",
                        description="", template=None, due_at=NOW)


def plan(db, items: list[PlanActivity]) -> None:
    owners = {p.record_id: ("lead", None, None) for p in items}
    outbox_store.insert_planned(db, items, owners, NOW)


def statuses(db) -> dict[str, tuple[str, str | None]]:
    rows = db.execute(select(outbox.c.activity_id, outbox.c.status, outbox.c.crm_state))
    return {a: (s, c) for a, s, c in rows}


def test_a_completion_finds_the_connection_waiting_on_that_activity_only(store):
    current, earlier, other = gid(3, 1), gid(3, 2), gid(3, 3)
    with store.begin() as db:
        connection_store.insert_connections(db, [connection(1, current), connection(2, None)])
        plan(db, [planned(current, gid(2, 1), gid(1, 1)), planned(earlier, gid(2, 1), gid(1, 1)),
                  planned(other, gid(2, 2), gid(1, 2))])
        found = connection_store.by_activity(db, [current, earlier, other, gid(3, 9), ""])
    # `earlier` is an older step's activity of the same connection, `other` one whose
    # connection waits on nothing, gid(3, 9) unknown: none of them moves a connection.
    assert list(found) == [current]
    assert found[current].id == gid(2, 1) and found[current].record_id == gid(1, 1)


def test_a_disconnect_cancels_the_items_of_that_connection_only(store):
    mine_pending, mine_pushed, old_pushed, theirs = gid(3, 1), gid(3, 2), gid(3, 3), gid(3, 4)
    with store.begin() as db:
        connection_store.insert_connections(db, [connection(1, mine_pushed),
                                                 connection(2, theirs)])
        plan(db, [planned(mine_pending, gid(2, 1), gid(1, 1)),
                  planned(mine_pushed, gid(2, 1), gid(1, 1)),
                  # The same record's earlier connection, ended long ago: its activity is
                  # CRM history, not this connection's to cancel.
                  planned(old_pushed, gid(2, 7), gid(1, 1)),
                  planned(theirs, gid(2, 2), gid(1, 2))])
        outbox_store.mark_pushed(db, [mine_pushed, old_pushed], NOW)
        counts = outbox_store.cancel_for_connections(
            db, [connection(1, mine_pushed)], cancel_open_in_crm=True)
        assert counts == (1, 1)
        assert statuses(db) == {
            mine_pending: ("cancelled", None), mine_pushed: ("to_cancel", "open"),
            old_pushed: ("pushed", "open"), theirs: ("pending", None),
        }


def test_many_disconnected_connections_at_once_cross_chunks(store):
    records = [Record(id=gid(1, n), table="lead", name=f"L{n}") for n in range(3, 1203)]
    with store.begin() as db:
        record_store.upsert_records(db, records, NOW)
        connection_store.insert_connections(db, [connection(n, None) for n in range(3, 1203)])
        plan(db, [planned(gid(3, n), gid(2, n), gid(1, n)) for n in range(3, 1203)])
        ended = [connection(n, None) for n in range(3, 1203)]
        assert outbox_store.cancel_for_connections(
            db, ended + ended[:5], cancel_open_in_crm=False) == (1200, 0)


def test_sqlite_cancels_through_the_ids_not_every_item_of_a_status(tmp_path):
    """SQLite keeps no statistics on our tables: asked for `ids IN (...) AND status = ...` it
    read the status index, every pending item of a big plan for each chunk of ids."""
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    updates: list[tuple[str, tuple]] = []
    event.listen(opened.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many:
                 updates.append((statement, params)) if statement.startswith("UPDATE") else None)
    try:
        with opened.begin() as db:
            # With one id SQLite looks it up anyway; with a few it took the status index.
            few = range(1, 51)
            outbox_store.cancel_pending(db, [gid(3, n) for n in few])
            outbox_store.cancel_in_crm(db, [gid(3, n) for n in few])
            outbox_store.cancel_for_connections(db, [connection(n, None) for n in few],
                                                cancel_open_in_crm=True)
            sqlite = db.connection.driver_connection
            plans = [" ".join(row[3] for row in sqlite.execute(
                f"EXPLAIN QUERY PLAN {statement}", params)) for statement, params in updates]
    finally:
        opened.close()
    assert len(plans) == 4
    assert all("ix_outbox_status" not in plan and "USING INDEX" in plan for plan in plans), plans


def test_sqlite_reads_step_spans_from_the_partial_index(tmp_path):
    """ix_history_sequence_connection holds only the events of a step's span (revision 0010);
    SQLite uses a partial index only where the query repeats its WHERE term."""
    opened = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    spans: list[tuple[str, tuple]] = []
    event.listen(opened.engine, "before_cursor_execute",
                 lambda conn, cursor, statement, params, context, many:
                 spans.append((statement, params)) if "lag(" in statement else None)
    try:
        with opened.begin() as db:
            assert stats.history_counts(db, SEQUENCE).median_seconds == {}
            sqlite = db.connection.driver_connection
            statement, params = spans[0]
            plan = " ".join(row[3] for row in sqlite.execute(
                f"EXPLAIN QUERY PLAN {statement}", params))
    finally:
        opened.close()
    assert "COVERING INDEX ix_history_sequence_connection" in plan, plan
