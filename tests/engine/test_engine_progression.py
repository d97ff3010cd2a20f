from dataclasses import replace
from datetime import timedelta

from engine_helpers import T0, call, email, sequence, task, wait

from connector.engine.connections import start
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    CancelPendingActivity,
    ConnectionState,
    EndReason,
    PlanActivity,
    activity_id_for,
)
from connector.engine.progression import advance_on_outcome, move_off_removed_step, plan_due

SEQ = sequence(email(), wait(days=2), call(), wait(hours=5, id="s-wait2"), task())


def connected():
    conn, _ = start(SEQ, "r-1", T0, connection_id="c-1")
    return conn


def test_plan_due_plans_the_activity_with_a_deterministic_id():
    tr = plan_due(connected(), SEQ, T0)
    (effect,) = tr.effects
    assert isinstance(effect, PlanActivity)
    assert effect.activity_id == activity_id_for("c-1", "s-email", 0)
    assert (effect.subject, effect.due_at) == ("Intro", T0)
    assert tr.connection.state is ConnectionState.WAITING
    assert tr.connection.activity_id == effect.activity_id
    assert [e.event for e in tr.events] == ["step_planned"]


def test_not_due_yet_or_inactive_or_waiting_does_nothing():
    conn = connected()
    assert not plan_due(conn, SEQ, T0 - timedelta(seconds=1)).changed
    assert not plan_due(conn, replace(SEQ, status="inactive"), T0).changed
    waiting = plan_due(conn, SEQ, T0).connection
    assert not plan_due(waiting, SEQ, T0 + timedelta(days=9)).changed


def test_completion_advances_and_wait_chains_from_scheduled_times():
    waiting = plan_due(connected(), SEQ, T0).connection
    done_at = T0 + timedelta(hours=3)
    tr = advance_on_outcome(
        waiting, SEQ, ActivityResult(waiting.activity_id, ActivityOutcome.COMPLETED, done_at)
    )
    assert [e.event for e in tr.events] == ["step_completed"]
    on_wait = tr.connection
    assert (on_wait.step_id, on_wait.due_at) == ("s-wait", done_at + timedelta(days=2))
    # A sync run three days late still schedules from the wait's due time.
    late = done_at + timedelta(days=5)
    tr = plan_due(on_wait, SEQ, late)
    (effect,) = tr.effects
    assert effect.step_id == "s-call" and effect.due_at == done_at + timedelta(days=2)
    assert [e.event for e in tr.events] == ["step_completed", "step_planned"]
    assert tr.events[0].at == done_at + timedelta(days=2)


def test_cancelled_activity_is_skipped_and_last_step_completes():
    seq = sequence(email(), call())
    conn, _ = start(seq, "r-1", T0, connection_id="c-1")
    waiting = plan_due(conn, seq, T0).connection
    tr = advance_on_outcome(
        waiting, seq, ActivityResult(waiting.activity_id, ActivityOutcome.CANCELED, T0)
    )
    assert [e.event for e in tr.events] == ["step_skipped"]
    waiting = plan_due(tr.connection, seq, T0).connection
    tr = advance_on_outcome(
        waiting, seq, ActivityResult(waiting.activity_id, ActivityOutcome.COMPLETED, T0)
    )
    assert tr.connection is None and tr.ended is EndReason.COMPLETED
    assert [e.event for e in tr.events] == ["step_completed", "ended"]
    assert tr.events[-1].reason is EndReason.COMPLETED


def test_outcome_of_another_activity_is_ignored_and_repeat_is_harmless():
    waiting = plan_due(connected(), SEQ, T0).connection
    assert not advance_on_outcome(
        waiting, SEQ, ActivityResult("other", ActivityOutcome.COMPLETED, T0)
    ).changed
    result = ActivityResult(waiting.activity_id, ActivityOutcome.COMPLETED, T0)
    once = advance_on_outcome(waiting, SEQ, result).connection
    assert not advance_on_outcome(once, SEQ, result).changed


def test_adjuster_defers_and_due_time_is_adjusted():
    later = T0 + timedelta(hours=20)
    tr = plan_due(connected(), SEQ, T0, adjust=lambda step, due: later)
    assert tr.deferred and not tr.effects
    assert tr.connection.due_at == later and tr.connection.state is ConnectionState.SCHEDULED
    tr = plan_due(tr.connection, SEQ, later, adjust=lambda step, due: due)
    assert tr.effects[0].due_at == later


def test_removed_step_moves_to_next_surviving_or_completes():
    waiting = plan_due(connected(), SEQ, T0).connection
    without_email = replace(SEQ, steps=SEQ.steps[2:])  # drop email and the wait after it
    tr = move_off_removed_step(waiting, SEQ, without_email, T0)
    assert tr.connection.step_id == "s-call" and tr.connection.due_at == T0
    assert tr.effects == (CancelPendingActivity(waiting.activity_id),)
    only_email = replace(SEQ, steps=SEQ.steps[:1])
    on_task = replace(waiting, step_id="s-task", activity_id=None)
    tr = move_off_removed_step(on_task, SEQ, only_email, T0)
    assert tr.connection is None and tr.ended is EndReason.COMPLETED
    assert not move_off_removed_step(waiting, SEQ, SEQ, T0).changed


def test_step_that_vanished_ends_with_error():
    conn = replace(connected(), step_id="gone")
    tr = plan_due(conn, SEQ, T0)
    assert tr.ended is EndReason.ERROR and tr.connection is None
