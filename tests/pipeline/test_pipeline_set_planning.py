"""Set-based planning plans exactly what the StepDue message plans, on SQLite and PostgreSQL."""

from datetime import timedelta

import pytest
from pipeline_helpers import STEPS, T0, add_records, add_sequence
from sqlalchemy import select, update

import connector.sync.plan as plan_module
from connector.app import open_app
from connector.config import Settings
from connector.engine.models import ConnectRequest, Step, StepType, activity_id_for
from connector.pipeline.context import Message, Stage, plugin
from connector.store.schema import connection_history, connections, outbox, records
from connector.sync.plan import plan_due_batches


@pytest.fixture
def backend_app(state_url):
    with open_app(Settings(state={"url": state_url}), now=T0) as opened:
        yield opened


SEEN: list[str] = []


@plugin(Message.STEP_DUE, Stage.PRE_VALIDATION)
def seen(ctx):
    SEEN.extend(c.id for c in ctx.target)


def world(app, count=7):
    """Connections due on an email, on a due wait then a call, and an unnamed task."""
    steps = (*STEPS, Step(id="step-task", type=StepType.TASK, name="Follow up"))
    seq = add_sequence(app, steps=steps)
    ids = add_records(app, count)
    app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
    with app.store.begin() as db:
        # One connection on the wait (ended two days ago): its call falls due too; one on the
        # task; one retried email (attempt 1).
        db.execute(update(connections).where(connections.c.record_id == ids[0])
                   .values(step_id="step-wait", due_at=T0 - timedelta(days=1)))
        db.execute(update(connections).where(connections.c.record_id == ids[1])
                   .values(step_id="step-task"))
        db.execute(update(connections).where(connections.c.record_id == ids[2])
                   .values(attempt=1))
    return ids


def state_of(app):
    """Everything planning writes, keyed by record (ids made per database are left out, but
    each activity id is checked to be the engine's own for its connection, step and attempt)."""
    with app.store.begin() as db:
        conns = {c.record_id: c for c in db.execute(select(connections))}
        items = list(db.execute(select(outbox)))
        lines = list(db.execute(select(connection_history)
                                .where(connection_history.c.event != "connected")))
    for item in items:
        conn = conns[item.record_id]
        assert item.activity_id == conn.activity_id == activity_id_for(
            conn.id, item.step_id, conn.attempt)
    return {
        "outbox": sorted((i.record_id, i.record_table, i.step_id, i.activity_type, i.subject,
                          i.description, i.template, i.owner_id, i.owner_type, i.due_at, i.status,
                          i.created_on) for i in items),
        "connections": sorted((c.record_id, c.step_id, c.state, c.due_at, c.attempt,
                               c.step_started_on) for c in conns.values()),
        "history": sorted((h.record_id, h.event, h.step_id, h.step_name, h.sequence_name, h.at,
                           h.reason, h.message) for h in lines),
    }


def test_set_based_plans_what_the_message_plans(backend_app, tmp_path):
    ids = world(backend_app)
    results = list(plan_due_batches(backend_app, T0))
    assert sum(r.planned for r in results) == len(ids)
    fast = state_of(backend_app)

    with open_app(Settings(state={"url": f"sqlite:///{tmp_path / 'slow.db'}"}), now=T0) as slow:
        SEEN.clear()
        slow.pipeline.register(seen)
        assert world(slow) == ids
        assert sum(r.planned for r in plan_due_batches(slow, T0)) == len(ids)
        assert len(SEEN) >= len(ids)  # the plugin saw every item (the call twice: its wait)
        assert state_of(slow) == fast

    by_record = {r[0]: r for r in fast["outbox"]}
    conns = {c.record_id: c for c in backend_app_connections(backend_app)}
    assert by_record[ids[1]][3:5] == ("task", "Follow up")
    assert conns[ids[2]].activity_id == activity_id_for(conns[ids[2]].id, "step-email", 1)
    assert all(c.state == "waiting" for c in conns.values())
    assert list(plan_due_batches(backend_app, T0)) == []  # nothing planned twice


def backend_app_connections(app):
    with app.store.begin() as db:
        return list(db.execute(select(connections)))


def test_slices_commit_one_by_one(backend_app, monkeypatch):
    monkeypatch.setitem(plan_module.PLAN_SLICE_ROWS, backend_app.store.dialect, 3)
    seq = add_sequence(backend_app)
    ids = add_records(backend_app, 14)  # more than 4 slices due: PostgreSQL walks the ids
    backend_app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
    results = list(plan_due_batches(backend_app, T0))
    assert [r.planned for r in results] == [3, 3, 3, 3, 2]
    with backend_app.store.begin() as db:
        assert sorted(r.record_id for r in db.execute(select(outbox))) == sorted(ids)


def test_inactive_sequences_and_future_steps_are_left_alone(backend_app):
    seq = add_sequence(backend_app, active=False)
    later = add_sequence(backend_app, name="Later")
    ids = add_records(backend_app, 4)
    backend_app.execute(Message.CONNECT, ConnectRequest(later.id, ids[:2]))
    with backend_app.store.begin() as db:
        db.execute(update(connections).values(due_at=T0 + timedelta(hours=1)))
    assert seq.status.value == "inactive"
    assert list(plan_due_batches(backend_app, T0)) == []


def _watch_set_based(monkeypatch) -> list[int]:
    """Counts the set-based slices planning asks for (the real function still runs)."""
    calls: list[int] = []
    real = plan_module.plan_due_slice

    def counted(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(plan_module, "plan_due_slice", counted)
    return calls


@pytest.mark.parametrize("pacing", [{}, {"business_days": True}])
def test_pacing_without_a_say_on_activities_keeps_the_set_based_plan(state_url, monkeypatch,
                                                                      pacing):
    calls = _watch_set_based(monkeypatch)
    with open_app(Settings(state={"url": state_url}, pacing=pacing), now=T0) as app:
        seq = add_sequence(app)
        ids = add_records(app, 4)
        app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
        assert sum(r.planned for r in plan_due_batches(app, T0)) == 4
    assert calls


def test_a_daily_cap_goes_through_the_message_and_holds_back(state_url, monkeypatch):
    calls = _watch_set_based(monkeypatch)
    settings = Settings(state={"url": state_url}, pacing={"max_per_owner_per_day": 1})
    with open_app(settings, now=T0) as app:
        seq = add_sequence(app)
        ids = add_records(app, 3)
        with app.store.begin() as db:  # one owner for all three
            db.execute(update(records).values(owner_id="00000000-0000-0000-0000-00000000beef"))
        app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))
        results = list(plan_due_batches(app, T0))
    assert calls == []
    assert sum(r.planned for r in results) == 1
    assert sum(r.held_back for r in results) == 2


def test_working_hours_go_through_the_message(state_url, monkeypatch):
    calls = _watch_set_based(monkeypatch)
    settings = Settings(state={"url": state_url},
                        pacing={"working_hours": True, "start_hour": 12, "end_hour": 17})
    with open_app(settings, now=T0) as app:  # 10:00 UTC: before the owners' day starts
        seq = add_sequence(app)
        app.execute(Message.CONNECT, ConnectRequest(seq.id, add_records(app, 2)))
        results = list(plan_due_batches(app, T0))
    assert calls == []
    assert sum(r.planned for r in results) == 0
    assert sum(r.deferred for r in results) == 2
