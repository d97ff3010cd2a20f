"""The sync-facing messages, as the sync layer calls them."""

from dataclasses import replace
from datetime import timedelta

import pytest
from pipeline_helpers import STEPS, T0, add_records, add_sequence, make_settings, rid
from sqlalchemy import event, select, update

from connector.app import open_app
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    ConnectRequest,
    DisconnectRequest,
    EndReason,
    Record,
)
from connector.errors import NotFound, RuleViolation
from connector.pipeline import operations
from connector.pipeline.context import Message, PluginStep, Stage
from connector.store.schema import connection_history, connections, outbox, records
from connector.sync.plan import plan_due_batches


def rows(app, table, *where):
    with app.store.begin() as db:
        return [r._asdict() for r in db.execute(select(table).where(*where))]


def history(app, record_id):
    return [
        (h["event"], h["reason"], h["step_name"])
        for h in rows(app, connection_history, connection_history.c.record_id == record_id)
    ]


def connect(app, seq, ids):
    return app.execute(Message.CONNECT, ConnectRequest(seq.id, ids))


def test_record_changed_upserts(app):
    assert app.execute(Message.RECORD_CHANGED, [Record(id=rid(1), table="lead", name="A"),
                                                Record(id=rid(2), table="lead", name="B")],
                       table="lead").inserted == 2
    result = app.execute(Message.RECORD_CHANGED, [
        Record(id=rid(1), table="lead", name="A2", columns={"city": "Lyon"}),
        Record(id=rid(3), table="lead", name="C"),
    ])
    assert (result.inserted, result.updated) == (1, 1)
    (row,) = rows(app, records, records.c.id == rid(1))
    assert row["name"] == "A2" and row["columns"] == {"city": "Lyon"} and row["synced_on"] == T0


def test_closed_record_is_disconnected_with_record_closed(app):
    seq = add_sequence(app)
    ids = add_records(app, 2)
    connect(app, seq, ids)
    result = app.execute(Message.RECORD_CHANGED, [
        Record(id=ids[0], table="lead", name="won", is_open=False, statecode=1),
        Record(id=ids[1], table="lead", name="still open"),
    ])
    assert result.disconnected == 1
    assert history(app, ids[0])[-1] == ("ended", "record_closed", "Intro")
    assert len(rows(app, connections)) == 1


def test_disconnect_on_close_can_be_turned_off(tmp_path):
    settings = make_settings(tmp_path, sync={"disconnect_on_close": False})
    with open_app(settings, now=T0) as app:
        seq = add_sequence(app)
        ids = add_records(app, 1)
        connect(app, seq, ids)
        app.execute(Message.RECORD_CHANGED, [Record(id=ids[0], table="lead", is_open=False)])
        assert len(rows(app, connections)) == 1


def test_record_deleted_disconnects_and_ignores_unknown_ids(app):
    seq = add_sequence(app)
    ids = add_records(app, 2)
    connect(app, seq, ids[:1])
    result = app.execute(Message.RECORD_DELETED, [ids[0], ids[1], rid(777)])
    assert (result.deleted, result.disconnected) == (2, 1)
    assert history(app, ids[0])[-1][:2] == ("ended", "record_deleted")
    assert all(r["is_deleted"] for r in rows(app, records))


def test_connect_reports_each_record(app):
    seq = add_sequence(app)
    other = add_sequence(app, name="Warm")
    leads = add_records(app, 3)
    opp = add_records(app, 1, table="opportunity", start=50)
    closed = add_records(app, 1, start=60, is_open=False)
    connect(app, other, leads[2:])
    result = connect(app, seq, [leads[0], leads[1], leads[0], opp[0], closed[0], leads[2],
                                rid(999)])
    assert [(o.record_id, o.status) for o in result.outcomes] == [
        (leads[0], "connected"), (leads[1], "connected"), (opp[0], "skipped"),
        (closed[0], "skipped"), (leads[2], "skipped"), (rid(999), "skipped"),
    ]
    reasons = [o.reason for o in result.skipped]
    assert "is an opportunity, but sequence 'Cold' is for lead records" in reasons[0]
    assert "is closed" in reasons[1]
    assert reasons[2] == f"record {leads[2]} is already connected to sequence 'Warm': " \
                         "disconnect it first"
    assert "not known locally" in reasons[3]
    assert result.succeeded == 2


def test_connect_to_inactive_or_missing_sequence_is_refused(app):
    seq = add_sequence(app, active=False)
    with pytest.raises(RuleViolation, match="'Cold' is inactive: activate it first"):
        connect(app, seq, add_records(app, 1))
    with pytest.raises(NotFound):
        app.execute(Message.CONNECT, ConnectRequest("no-such-id", []))


def test_the_database_itself_holds_one_connection_per_record(app, monkeypatch):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    # Both the rule and the Connect operation's own re-check out of the way: the database.
    app.pipeline._steps = [s for s in app.pipeline._steps if s.name != "connect-preconditions"]
    monkeypatch.setattr(operations, "connect_refusals", lambda db, seq, ids: {})
    with pytest.raises(RuleViolation, match="refused by the database"):
        connect(app, seq, ids)


def _stage20_adds(app, record_id):
    """A PreOperation plugin that adds `record_id` to every Connect, after the rules ran."""
    def add(ctx):
        ctx.target = replace(ctx.target, record_ids=[*ctx.target.record_ids, record_id])
    app.pipeline.register(PluginStep(Message.CONNECT, Stage.PRE_OPERATION, add, name="adds"))


@pytest.mark.parametrize("case", ["closed", "deleted", "wrong table", "connected"])
def test_a_stage_20_plugin_cannot_slip_a_record_past_the_connect_rules(app, case):
    seq = add_sequence(app)
    (good,) = add_records(app, 1)
    if case == "closed":
        (bad,) = add_records(app, 1, start=2, is_open=False)
        reason = f"record {bad} is closed"
    elif case == "deleted":
        (bad,) = add_records(app, 1, start=2)
        app.execute(Message.RECORD_DELETED, [bad], table="lead")
        reason = f"record {bad} was deleted in the CRM"
    elif case == "wrong table":
        (bad,) = add_records(app, 1, start=2, table="opportunity")
        reason = f"record {bad} is an opportunity, but sequence 'Cold' is for lead records"
    else:
        (bad,) = add_records(app, 1, start=2)
        connect(app, add_sequence(app, name="Other"), [bad])
        reason = (f"record {bad} is already connected to sequence 'Other': "
                  "disconnect it first")
    # The same record, given directly: what the rule says.
    direct = connect(app, seq, [bad])
    assert [(o.record_id, o.status, o.reason) for o in direct.outcomes] == [
        (bad, "skipped", reason)
    ]
    _stage20_adds(app, bad)
    result = connect(app, seq, [good])
    assert [(o.record_id, o.status, o.reason) for o in result.outcomes] == [
        (good, "connected", ""), (bad, "skipped", reason),
    ]
    assert [r["record_id"] for r in rows(app, connections, connections.c.sequence_id == seq.id)
            ] == [good]


def test_reconnect_after_an_ending(app):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    app.execute(Message.DISCONNECT, DisconnectRequest(ids, EndReason.USER_DISCONNECTED, "why"))
    assert connect(app, seq, ids).succeeded == 1
    assert [h[0] for h in history(app, ids[0])] == ["connected", "ended", "connected"]


def test_step_due_plans_outbox_rows(app):
    seq = add_sequence(app)
    ids = add_records(app, 5)
    connect(app, seq, ids)
    assert sum(r.planned for r in plan_due_batches(app, T0, batch_size=2)) == 5
    assert list(plan_due_batches(app, T0)) == []  # nothing due twice
    planned = rows(app, outbox)
    assert len(planned) == 5
    first = next(p for p in planned if p["record_id"] == ids[0])
    assert (first["subject"], first["description"], first["activity_type"]) == (
        "Intro", "Say hi", "email")
    assert (first["status"], first["record_table"], first["owner_id"], first["due_at"]) == (
        "pending", "lead", rid(9001), T0)
    assert all(c["state"] == "waiting" for c in rows(app, connections))


def test_completion_advances_through_the_wait_and_completes(app):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    list(plan_due_batches(app, T0))
    (activity,) = rows(app, outbox)
    done = T0 + timedelta(hours=4)
    result = ActivityResult(activity["activity_id"], ActivityOutcome.COMPLETED, done)
    first = app.execute(Message.ACTIVITY_COMPLETED, [result, result,
                                                    replace(result, activity_id=rid(5))])
    assert (first.advanced, first.ignored) == (1, 2)
    again = app.execute(Message.ACTIVITY_COMPLETED, [result])
    assert (again.advanced, again.ignored) == (0, 1)  # idempotent
    (conn,) = rows(app, connections)
    assert (conn["step_id"], conn["due_at"]) == ("step-wait", done + timedelta(days=2))
    assert rows(app, outbox)[0]["crm_state"] == "completed"
    assert list(plan_due_batches(app, done + timedelta(days=1))) == []
    (due,) = plan_due_batches(app, done + timedelta(days=2))
    assert (due.planned, due.waits_completed) == (1, 1)
    call = next(o for o in rows(app, outbox) if o["step_id"] == "step-call")
    assert call["due_at"] == done + timedelta(days=2)
    closed = app.execute(Message.ACTIVITY_COMPLETED, [
        ActivityResult(call["activity_id"], ActivityOutcome.CANCELED, done + timedelta(days=3))])
    assert closed.completed == 1 and rows(app, connections) == []
    assert [h[:2] for h in history(app, ids[0])] == [
        ("connected", None), ("step_planned", None), ("step_completed", None),
        ("step_completed", None), ("step_planned", None), ("step_skipped", None),
        ("ended", "completed"),
    ]


def test_disconnect_cancels_pending_and_optionally_open_crm_activities(tmp_path):
    settings = make_settings(tmp_path, sync={"cancel_open_activities_on_disconnect": True})
    with open_app(settings, now=T0) as app:
        seq = add_sequence(app)
        ids = add_records(app, 2)
        connect(app, seq, ids)
        list(plan_due_batches(app, T0))
        with app.store.begin() as db:  # the sync pushed the first record's activity
            db.execute(update(outbox).where(outbox.c.record_id == ids[0])
                       .values(status="pushed", crm_state="open"))
        result = app.execute(Message.DISCONNECT, DisconnectRequest([*ids, rid(404)]))
        assert [o.status for o in result.outcomes] == ["disconnected", "disconnected", "skipped"]
        assert (result.cancelled, result.to_cancel) == (1, 1)
        statuses = {o["record_id"]: o["status"] for o in rows(app, outbox)}
        assert statuses == {ids[0]: "to_cancel", ids[1]: "cancelled"}


def test_pushed_activities_stay_when_not_configured(app):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    list(plan_due_batches(app, T0))
    with app.store.begin() as db:
        db.execute(update(outbox).values(status="pushed", crm_state="open"))
    result = app.execute(Message.DISCONNECT, DisconnectRequest(ids))
    assert (result.cancelled, result.to_cancel) == (0, 0)
    assert rows(app, outbox)[0]["status"] == "pushed"


def test_delete_disassociates_every_record_and_keeps_history(app):
    seq = add_sequence(app)
    ids = add_records(app, 3)
    connect(app, seq, ids)
    list(plan_due_batches(app, T0))
    deleted = app.execute(Message.DELETE, seq.id)
    assert deleted.disconnected == 3
    assert rows(app, connections) == []
    assert {o["status"] for o in rows(app, outbox)} == {"cancelled"}
    for record_id in ids:
        assert history(app, record_id)[-1][:2] == ("ended", "sequence_deleted")


def test_deactivate_pauses_and_reactivate_continues(app):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    app.execute(Message.DEACTIVATE, seq.id)
    assert list(plan_due_batches(app, T0 + timedelta(days=1))) == []
    assert len(rows(app, connections)) == 1
    app.execute(Message.ACTIVATE, seq.id)
    (result,) = plan_due_batches(app, T0 + timedelta(days=1))
    assert result.planned == 1


def test_editing_an_active_sequence_is_refused(app):
    seq = add_sequence(app)
    with pytest.raises(RuleViolation, match="'Cold' is active: deactivate it first"):
        app.execute(Message.UPDATE, replace(seq, description="x"))


def test_removing_a_step_moves_connected_records_on(app):
    seq = add_sequence(app)
    ids = add_records(app, 1)
    connect(app, seq, ids)
    list(plan_due_batches(app, T0))
    app.execute(Message.DEACTIVATE, seq.id)
    app.execute(Message.UPDATE, replace(seq, steps=(STEPS[2],)))
    (conn,) = rows(app, connections)
    assert (conn["step_id"], conn["state"]) == ("step-call", "scheduled")
    assert rows(app, outbox)[0]["status"] == "cancelled"
    assert history(app, ids[0])[-1][0] == "step_skipped"


def test_step_due_uses_a_constant_number_of_statements(app):
    seq = add_sequence(app)

    def statements_for(count: int, start: int) -> int:
        ids = add_records(app, count, start=start)
        connect(app, seq, ids)
        seen = []
        listener = lambda *args: seen.append(1)  # noqa: E731
        event.listen(app.store.engine, "before_execute", listener)
        try:
            (result,) = plan_due_batches(app, T0, batch_size=5000)
        finally:
            event.remove(app.store.engine, "before_execute", listener)
        assert result.planned == count
        return len(seen)

    assert statements_for(40, 1) == statements_for(850, 1000)
