"""Step trees: validation on every path, branches, command steps and buyer signals."""

import re
from dataclasses import replace
from datetime import timedelta

import pytest
from engine_helpers import T0, call, email, sequence, task, wait

from connector.engine import sequences as s
from connector.engine.connections import start
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    CancelCrmActivity,
    CancelPendingActivity,
    Condition,
    ConditionKind,
    EndReason,
    ExitCriterion,
    MoveToSequence,
    Op,
    PlanActivity,
    Record,
    Signal,
    Step,
    StepType,
    TableColumns,
    UpdateRecord,
)
from connector.engine.progression import (
    advance_on_outcome,
    move_off_removed_step,
    on_signal,
    plan_due,
)
from connector.errors import InvalidInput


def cond(kind=ConditionKind.PREVIOUS, id="s-if", then=(), otherwise=(), **fields) -> Step:
    if kind is ConditionKind.PREVIOUS:
        fields.setdefault("previous", "completed")
    return Step(id=id, type=StepType.CONDITION, name="Handled?",
                condition=Condition(kind, **fields), then=tuple(then), otherwise=tuple(otherwise))


def update(id="s-set", **values) -> Step:
    return Step(id=id, type=StepType.UPDATE_RECORD, values=tuple(values.items()))


def move(target="Nurture", id="s-move") -> Step:
    return Step(id=id, type=StepType.MOVE_TO_SEQUENCE, sequence=target)


def branching():
    """email, wait 2 days, if completed: call; else: task then update."""
    return sequence(
        email(), wait(days=2),
        cond(then=[call()], otherwise=[task(), update(leadqualitycode=1)]),
    )


def complete(conn, seq, at, outcome=ActivityOutcome.COMPLETED):
    return advance_on_outcome(conn, seq, ActivityResult(conn.activity_id, outcome, at))


# Validation ----------------------------------------------------------------------------------


def test_every_path_is_checked_and_the_step_is_named():
    s.check_structure(branching().steps)
    no_activity = (email(), cond(then=[call()], otherwise=[update(a=1)]))
    s.check_structure(no_activity)  # the email before the condition is on both paths
    empty = (cond(kind=ConditionKind.COLUMN, column="x", op=Op.EQ, value=1,
                  then=[call()], otherwise=[update(a=1)]),)
    with pytest.raises(InvalidInput, match=re.escape(
            "step 1 (condition 'Handled?'): its else branch leads to a path without an email")):
        s.check_structure(empty)
    with pytest.raises(InvalidInput, match=re.escape(
            "step 2.then.2 (wait): a sequence cannot end with a wait")):
        s.check_structure((email(), cond(then=[call(), wait(days=1)])))
    with pytest.raises(InvalidInput, match=re.escape(
            "step 1.else.1 (wait): a sequence cannot start with a wait")):
        s.check_structure((cond(kind=ConditionKind.COLUMN, column="x", value=1,
                                then=[call()], otherwise=[wait(hours=3), task()]),))


def test_condition_and_command_rules():
    with pytest.raises(InvalidInput, match=re.escape(
            "step 1 (condition 'Handled?'): a `previous` condition needs an email")):
        s.check_structure((cond(then=[call()], otherwise=[task()]),))
    with pytest.raises(InvalidInput, match="replied_within_days needs a sequence that does not"):
        s.check_structure((email(), cond(ConditionKind.REPLIED_WITHIN_DAYS, days=3)))
    s.check_structure((email(), cond(ConditionKind.REPLIED_WITHIN_DAYS, days=3)),
                      frozenset({ExitCriterion.MEETING}))
    with pytest.raises(InvalidInput, match=re.escape(
            "step 3 (task 'Task'): never reached, it comes after a move_to_sequence")):
        s.check_structure((email(), move(), task()))
    with pytest.raises(InvalidInput, match="wait days must be 0-30"):
        s.check_structure((email(), cond(then=[wait(days=31), call()])))
    with pytest.raises(InvalidInput, match="needs `set`"):
        s.check_step(Step(id="u", type=StepType.UPDATE_RECORD), 1)
    with pytest.raises(InvalidInput, match="needs `sequence`"):
        s.check_step(Step(id="m", type=StepType.MOVE_TO_SEQUENCE), 1)
    with pytest.raises(InvalidInput, match="op \"in\" needs a non-empty list"):
        s.check_step(cond(ConditionKind.COLUMN, column="c", op=Op.IN, value=3), 1)
    with pytest.raises(InvalidInput, match="only condition steps have then/else"):
        s.check_step(replace(email(), then=(call(),)), 1)
    with pytest.raises(InvalidInput, match="two steps share one id"):
        s.check_structure((email(), cond(then=[call(id="s-email")])))


def test_columns_are_checked_against_the_mapping():
    columns = TableColumns("lead", {"name": "fullname"},
                           {"fullname": "string", "leadqualitycode": "int"})
    ok = sequence(email(), cond(ConditionKind.COLUMN, column="leadqualitycode", value=1,
                                then=[update(leadqualitycode=3)], otherwise=[call()]))
    s.check_columns(ok, columns)
    unknown = sequence(email(), cond(ConditionKind.COLUMN, column="budget", value=1))
    with pytest.raises(InvalidInput, match=re.escape(
            "step 2 (condition 'Handled?'): unknown column 'budget' for lead")):
        s.check_columns(unknown, columns)
    wrong = sequence(email(), update(leadqualitycode="hot"))
    with pytest.raises(InvalidInput, match="holds int values, not 'hot'"):
        s.check_columns(wrong, columns)
    record = Record(id="r", table="lead", name="Nancy", columns={"leadqualitycode": 2})
    assert columns.values(record) == {"leadqualitycode": 2, "fullname": "Nancy"}


def test_tree_edits_by_address_and_branch():
    seq = branching()
    assert s.find_step(seq, "3.else.2")[1].id == "s-set"
    where = s.parse_branch(seq, "3.then")
    seq = s.insert_step(seq, replace(wait(days=1), id="w2"), 1, where)
    assert s.address_of(seq, "w2") == "3.then.1"
    seq = s.change_step(seq, "w2", {"position": 2})
    assert [x.id for x in seq.steps[2].then] == ["s-call", "w2"]
    seq = s.remove_step(seq, "3.then.2")
    assert [x.id for x in seq.steps[2].then] == ["s-call"]
    with pytest.raises(InvalidInput, match="is not a condition step"):
        s.parse_branch(seq, "1.then")
    assert len(s.remove_step(seq, "3").steps) == 2  # a condition goes with its branches


# Progression ---------------------------------------------------------------------------------


def test_branches_follow_the_previous_outcome():
    seq = branching()
    for outcome, expected in ((ActivityOutcome.COMPLETED, "s-call"),
                              (ActivityOutcome.CANCELED, "s-task")):
        conn, _ = start(seq, "r-1", T0, "c-1")
        conn = plan_due(conn, seq, T0).connection
        conn = complete(conn, seq, T0 + timedelta(hours=1), outcome).connection
        assert conn.last_outcome == ("completed" if outcome is ActivityOutcome.COMPLETED
                                     else "skipped")
        tr = plan_due(conn, seq, T0 + timedelta(days=3))
        assert tr.connection.step_id == expected
        branch = [e for e in tr.events if e.event == "branch"]
        assert branch[0].message == ("then" if expected == "s-call" else "else")
        assert branch[0].at == T0 + timedelta(days=2, hours=1)  # when the wait ended


def test_update_record_then_completion():
    seq = branching()
    conn, _ = start(seq, "r-1", T0, "c-1")
    conn = plan_due(conn, seq, T0).connection
    conn = complete(conn, seq, T0, ActivityOutcome.CANCELED).connection
    conn = plan_due(conn, seq, T0 + timedelta(days=2)).connection  # the task is planned
    assert conn.step_id == "s-task"
    tr = complete(conn, seq, T0 + timedelta(days=2, hours=1))
    tr = plan_due(tr.connection, seq, T0 + timedelta(days=2, hours=1))
    updates = [e for e in tr.effects if isinstance(e, UpdateRecord)]
    assert [u.values for u in updates] == [(("leadqualitycode", 1),)]
    assert tr.connection is None and tr.ended is EndReason.COMPLETED


def test_column_and_reply_conditions():
    seq = replace(sequence(email(), cond(ConditionKind.COLUMN, column="q", op=Op.IN,
                                         value=(2, 3), then=[call()], otherwise=[task()])))
    conn, _ = start(seq, "r-1", T0, "c-1")
    conn = complete(plan_due(conn, seq, T0).connection, seq, T0).connection
    assert plan_due(conn, seq, T0, columns={"q": 3}).connection.step_id == "s-call"
    assert plan_due(conn, seq, T0, columns={"q": 1}).connection.step_id == "s-task"
    assert plan_due(conn, seq, T0, columns={}).connection.step_id == "s-task"

    replies = replace(
        sequence(email(), cond(ConditionKind.REPLIED_WITHIN_DAYS, days=3, then=[call()],
                               otherwise=[task()])),
        exit_on=frozenset({ExitCriterion.BOUNCE}),
    )
    conn, _ = start(replies, "r-1", T0, "c-2")
    conn = plan_due(conn, replies, T0).connection
    noted = on_signal(conn, replies, Signal(ExitCriterion.REPLY, "r-1", T0 + timedelta(hours=5)))
    assert noted.connection.replied_on == T0 + timedelta(hours=5) and noted.ended is None
    conn = complete(noted.connection, replies, T0 + timedelta(days=1)).connection
    assert plan_due(conn, replies, T0 + timedelta(days=1)).connection.step_id == "s-call"
    late = replace(conn, step_started_on=T0 + timedelta(days=9), due_at=T0 + timedelta(days=9))
    assert plan_due(late, replies, T0 + timedelta(days=9)).connection.step_id == "s-task"


def test_exit_signals_end_and_cancel_the_open_activity():
    seq = sequence(email(), wait(days=1), call())
    conn, _ = start(seq, "r-1", T0, "c-1")
    conn = plan_due(conn, seq, T0).connection
    before = on_signal(conn, seq, Signal(ExitCriterion.REPLY, "r-1", T0 - timedelta(hours=1)))
    assert before.connection == conn and not before.changed
    tr = on_signal(conn, seq, Signal(ExitCriterion.REPLY, "r-1", T0 + timedelta(hours=1)))
    assert tr.ended is EndReason.REPLIED and tr.connection is None
    assert CancelPendingActivity(conn.activity_id) in tr.effects
    assert CancelCrmActivity(conn.activity_id, StepType.EMAIL) in tr.effects
    meeting = on_signal(conn, seq, Signal(ExitCriterion.MEETING, "r-1", T0 + timedelta(hours=1)))
    assert meeting.ended is EndReason.MEETING_BOOKED
    other = on_signal(conn, seq, Signal(ExitCriterion.BOUNCE, "r-1", T0, activity_id="x"))
    assert not other.changed
    bounced = on_signal(conn, seq, Signal(ExitCriterion.BOUNCE, "r-1", T0 + timedelta(1),
                                          activity_id=conn.activity_id))
    assert bounced.ended is EndReason.BOUNCED
    quiet = replace(seq, exit_on=frozenset())
    assert on_signal(conn, quiet, Signal(ExitCriterion.MEETING, "r-1", T0)).connection == conn


def test_move_to_sequence_ends_with_moved():
    seq = sequence(email(), wait(days=1), move("Nurture"))
    conn, _ = start(seq, "r-1", T0, "c-1")
    conn = complete(plan_due(conn, seq, T0).connection, seq, T0).connection
    tr = plan_due(conn, seq, T0 + timedelta(days=1))
    assert tr.ended is EndReason.MOVED and tr.connection is None
    assert MoveToSequence("r-1", "Nurture", T0 + timedelta(days=1)) in tr.effects
    assert [e.reason for e in tr.events if e.event == "ended"] == [EndReason.MOVED]


def test_removing_a_branch_step_moves_records_on():
    old = branching()
    new = replace(old, steps=(old.steps[0], old.steps[1],
                              replace(old.steps[2], otherwise=(old.steps[2].otherwise[1],))))
    conn, _ = start(old, "r-1", T0, "c-1")
    conn = replace(conn, step_id="s-task")
    moved = move_off_removed_step(conn, old, new, T0)
    assert moved.connection.step_id == "s-set"


def test_plans_each_activity_once_per_step():
    seq = branching()
    conn, _ = start(seq, "r-1", T0, "c-1")
    tr = plan_due(conn, seq, T0)
    again = plan_due(tr.connection, seq, T0 + timedelta(days=5))
    assert [type(e) for e in tr.effects] == [PlanActivity] and not again.effects
