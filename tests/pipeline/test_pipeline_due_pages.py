"""Planning reads each due page once, in the StepDue transaction, and trusts only what it read."""

from dataclasses import replace
from datetime import timedelta

import pytest
from pipeline_helpers import T0, add_records, add_sequence, rid
from sqlalchemy import select, update

import connector.sync.plan as plan_module
from connector.engine.models import ConnectRequest
from connector.pipeline.context import Message, Mode, Stage, plugin
from connector.store import connections as conn_store
from connector.store.schema import connections, outbox
from connector.sync.plan import plan_due_batches


def connect(app, count):
    seq = add_sequence(app)
    ids = add_records(app, count)
    app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
    return ids


def outbox_rows(app):
    with app.store.begin() as db:
        return list(db.execute(select(outbox).order_by(outbox.c.record_id)))


def test_fast_page_read_matches_the_core_read(app):
    ids = connect(app, 5)
    with app.store.begin() as db:
        db.execute(update(connections).where(connections.c.record_id == ids[0])
                   .values(activity_id=rid(77), attempt=2))
        for walk_ids in (False, True):
            page = conn_store.due_page(db, T0, "", 10, walk_ids=walk_ids)
            core, owners = conn_store.by_ids_with_owner(db, (c.id for c in page))
            assert list(page) == [core[c.id] for c in page]
            assert page.owners == owners
            assert all(c.due_at.tzinfo is not None for c in page)
        assert len(conn_store.due_page(db, T0, "", 2)) == 2


def test_page_trusted_only_in_its_own_transaction(app):
    connect(app, 2)
    with app.store.begin() as db:
        page = conn_store.due_page(db, T0, "", 10)
        assert page.trusted(db) == {c.id: c for c in page}
    with app.store.begin() as other:
        assert page.trusted(other) == {}


def test_a_plugin_changed_item_is_read_again_from_the_database(app):
    connect(app, 3)
    kept = []

    @plugin(Message.STEP_DUE, Stage.PRE_OPERATION)
    def meddle(ctx):
        # Replace one item by a copy claiming another step and a far due time, drop another:
        # the copy is re-read (the database wins), the dropped one is left for later.
        first, _second, third = ctx.target
        kept.extend([first.record_id, third.record_id])
        ctx.target[:] = [replace(first, step_id="bogus", due_at=T0 + timedelta(days=9)), third]

    app.pipeline.register(meddle)
    (result,) = plan_due_batches(app, T0)
    assert (result.connections, result.planned) == (2, 2)
    planned = {r.record_id: r.step_id for r in outbox_rows(app)}
    assert sorted(planned) == sorted(kept) and set(planned.values()) == {"step-email"}


@plugin(Message.STEP_DUE, Stage.PRE_VALIDATION)
def watcher(ctx):
    """A plugin on StepDue: planning goes through the message, page by page."""


def test_many_pages_a_transaction_plan_everything_once(app, monkeypatch):
    monkeypatch.setattr(plan_module, "PLAN_TRANSACTION_ROWS", 4)
    app.pipeline.register(watcher)
    ids = connect(app, 9)
    results = list(plan_due_batches(app, T0, batch_size=2))
    assert [r.planned for r in results] == [2, 2, 2, 2, 1]
    assert sorted(r.record_id for r in outbox_rows(app)) == sorted(ids)
    assert list(plan_due_batches(app, T0, batch_size=2)) == []


def test_async_plugins_run_after_the_planning_commit(app):
    connect(app, 2)
    seen = []

    @plugin(Message.STEP_DUE, Stage.POST_OPERATION, mode=Mode.ASYNC)
    def after(ctx):
        # Runs after commit: a fresh transaction sees the planned rows.
        seen.append((ctx.db, len(outbox_rows(app))))

    app.pipeline.register(after)
    (result,) = plan_due_batches(app, T0)
    assert result.planned == 2
    assert seen == [(None, 2)]


def test_a_failing_page_rolls_back_its_transaction(app, monkeypatch):
    monkeypatch.setattr(plan_module, "PLAN_TRANSACTION_ROWS", 4)
    connect(app, 4)
    calls = []

    @plugin(Message.STEP_DUE, Stage.POST_OPERATION)
    def fail_second(ctx):
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("boom")

    app.pipeline.register(fail_second)
    with pytest.raises(Exception, match="boom"):
        list(plan_due_batches(app, T0, batch_size=2))
    assert outbox_rows(app) == []  # the first page shared the failed transaction
