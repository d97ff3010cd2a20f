"""How a connection moves through its sequence. Pure functions of state, input and `now`.

A connection in state `scheduled` has its current step due at `due_at`. A due activity step is
planned (a PlanActivity effect) and the connection then waits for that activity; a due wait step
completes by itself at its due time; a condition step chooses its branch and a command step
acts (UpdateRecord, MoveToSequence) the moment they are reached. Times chain from scheduled
times, not from when a sync run happened to look, so a late run produces the same schedule as a
punctual one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from connector.engine.connections import end
from connector.engine.models import (
    EXIT_REASONS,
    ActivityOutcome,
    ActivityResult,
    Branch,
    CancelCrmActivity,
    CancelPendingActivity,
    Condition,
    ConditionKind,
    Connection,
    ConnectionState,
    Effect,
    EndReason,
    ExitCriterion,
    HistoryEvent,
    MoveToSequence,
    Op,
    PlanActivity,
    Sequence,
    Signal,
    Step,
    StepType,
    UpdateRecord,
    activity_id_for,
)
from connector.engine.tree import layout

# Maps an activity step's due time to the time it may really be planned (business hours...).
DueAdjuster = Callable[[Step, datetime], datetime]
# When a wait step started at the given time really ends (business days: see engine.pacing).
WaitEnd = Callable[[Step, datetime], datetime]

# A record's column values by Web API column name, for column conditions.
Columns = Mapping[str, object]


@dataclass(frozen=True, slots=True)
class Transition:
    """The result of one engine step: the connection afterwards (None once it ended)."""

    connection: Connection | None
    effects: tuple[Effect, ...] = ()
    events: tuple[HistoryEvent, ...] = ()
    ended: EndReason | None = None
    deferred: bool = False  # a due activity step was moved later by a DueAdjuster

    @property
    def changed(self) -> bool:
        return bool(self.events) or bool(self.effects)


def enter(
    connection: Connection, seq: Sequence, step_id: str | None, at: datetime
) -> Connection | None:
    """Put `connection` on step `step_id` started at `at`; None when there is no step (the end)."""
    if step_id is None:
        return None
    step = layout(seq).steps[step_id]
    return replace(
        connection,
        step_id=step.id,
        state=ConnectionState.SCHEDULED,
        due_at=at + step.wait if step.is_wait else at,
        step_started_on=at,
        activity_id=None,
        attempt=0,
    )


def enter_step(
    connection: Connection, seq: Sequence, index: int, at: datetime
) -> Connection | None:
    """Put `connection` on top-level step `index` started at `at`; None past the last one."""
    if index >= len(seq.steps):
        return None
    return enter(connection, seq, seq.steps[index].id, at)


def _event(connection: Connection, name: str, at: datetime, step_id: str | None = None,
           message: str | None = None) -> HistoryEvent:
    return HistoryEvent(connection.id, connection.record_id, connection.sequence_id, name, at,
                        step_id=step_id or connection.step_id, message=message)


def _finish(connection: Connection, at: datetime, effects: list[Effect],
            events: list[HistoryEvent]) -> Transition:
    events.append(end(connection, EndReason.COMPLETED, at))
    return Transition(None, tuple(effects), tuple(events), EndReason.COMPLETED)


def _lost(connection: Connection, now: datetime) -> Transition:
    event = end(connection, EndReason.ERROR, now, "the current step no longer exists")
    return Transition(None, (), (event,), EndReason.ERROR)


def _compare(op: Op, actual: object, expected: object) -> bool:
    if op is Op.NULL:
        return (actual is None) is bool(expected)
    if actual is None:
        return op is Op.NE
    if op is Op.EQ:
        return bool(actual == expected)
    if op is Op.NE:
        return bool(actual != expected)
    if op is Op.IN:
        return actual in expected  # type: ignore[operator]
    try:
        return bool(actual > expected) if op is Op.GT else bool(actual < expected)  # type: ignore[operator]
    except TypeError:
        return False  # a text column against a number: never true, like SQL on mixed types


def holds(cond: Condition, connection: Connection, at: datetime, columns: Columns | None) -> bool:
    """Whether `cond` is true for `connection` at `at`."""
    if cond.kind is ConditionKind.PREVIOUS:
        return connection.last_outcome == cond.previous
    if cond.kind is ConditionKind.REPLIED_WITHIN_DAYS:
        replied = connection.replied_on
        return (replied is not None and replied >= connection.connected_on
                and at - timedelta(days=cond.days) <= replied <= at)
    return _compare(cond.op, (columns or {}).get(cond.column), cond.value)


def plan_due(
    connection: Connection,
    seq: Sequence,
    now: datetime,
    adjust: DueAdjuster | None = None,
    columns: Columns | None = None,
    wait_end: WaitEnd | None = None,
) -> Transition:
    """Run everything of `connection` that is due at `now`: completes due waits, chooses branches,
    carries out commands, plans the next activity.

    Does nothing for an inactive sequence or a connection that is waiting on an activity.
    `columns` are the record's values for column conditions. `wait_end` counts a wait in
    business time (pacing); a wait then ends when both it and the plain wait are over.
    """
    if not seq.is_active:
        return Transition(connection)
    lay = layout(seq)
    effects: list[Effect] = []
    events: list[HistoryEvent] = []
    deferred = False
    while (connection.state is ConnectionState.SCHEDULED and connection.due_at
           and connection.due_at <= now):
        step = lay.steps.get(connection.step_id)
        if step is None:
            return _lost(connection, now)
        at = connection.due_at
        if step.is_wait and wait_end is not None:
            over = wait_end(step, connection.step_started_on)
            if over > now:
                connection = replace(connection, due_at=over)  # completes on a later run
                deferred = True
                break
            at = max(at, over)
        if step.type is StepType.CONDITION:
            assert step.condition is not None
            branch = Branch.THEN if holds(step.condition, connection, at, columns) else Branch.ELSE
            events.append(_event(connection, "branch", at, message=branch.value))
            following = enter(connection, seq, lay.entry(step, branch), at)
        elif step.type is StepType.MOVE_TO_SEQUENCE:
            effects.append(MoveToSequence(connection.record_id, step.sequence, at))
            events.append(end(connection, EndReason.MOVED, at, f"to {step.sequence}"))
            return Transition(None, tuple(effects), tuple(events), EndReason.MOVED)
        elif step.is_wait or step.type is StepType.UPDATE_RECORD:
            if step.type is StepType.UPDATE_RECORD:
                effects.append(UpdateRecord(
                    activity_id_for(connection.id, step.id, connection.attempt), connection.id,
                    connection.record_id, step.id, step.values,
                ))
            events.append(_event(connection, "step_completed", at))
            following = enter(connection, seq, lay.following[step.id], at)
        else:
            due = adjust(step, at) if adjust else at
            if due > now:
                connection = replace(connection, due_at=due)  # planned on a later run
                deferred = True
                break
            activity_id = activity_id_for(connection.id, step.id, connection.attempt)
            effects.append(PlanActivity(
                activity_id=activity_id, connection_id=connection.id,
                record_id=connection.record_id,
                step_id=step.id, activity_type=step.type, subject=step.name,
                description=step.description, template=step.template, due_at=due,
            ))
            events.append(_event(connection, "step_planned", now))
            # Built directly: dataclasses.replace was a tenth of planning a due connection.
            connection = Connection(
                connection.id, connection.record_id, connection.sequence_id, connection.step_id,
                ConnectionState.WAITING, due, connection.connected_on, connection.step_started_on,
                activity_id, connection.attempt, connection.last_outcome, connection.replied_on,
            )
            continue
        if following is None:
            return _finish(connection, at, effects, events)
        connection = following
    return Transition(connection, tuple(effects), tuple(events), deferred=deferred)


def advance_on_outcome(connection: Connection, seq: Sequence, result: ActivityResult) -> Transition:
    """The waited-on activity was completed or canceled at `result.at`: go to the next step.

    Anything else (another activity, a connection not waiting) is ignored: calling it twice is
    harmless.
    """
    if (connection.state is not ConnectionState.WAITING
            or connection.activity_id != result.activity_id):
        return Transition(connection)
    lay = layout(seq)
    if connection.step_id not in lay.steps:
        return _lost(connection, result.at)
    completed = result.outcome is ActivityOutcome.COMPLETED
    events = [_event(connection, "step_completed" if completed else "step_skipped", result.at)]
    outcome = "completed" if completed else "skipped"
    following = enter(connection, seq, lay.following[connection.step_id], result.at)
    if following is None:
        return _finish(connection, result.at, [], events)
    return Transition(replace(following, last_outcome=outcome), (), tuple(events))


def on_signal(connection: Connection, seq: Sequence, signal: Signal) -> Transition:
    """The buyer replied, booked a meeting or an email bounced.

    When the sequence exits on that signal the connection ends with its reason, and the current
    step's activity is cancelled (in the outbox if never sent, in the CRM otherwise). A reply
    that does not end it is remembered for `replied_within_days` conditions. Signals from
    before the connection started, and bounces of other emails, change nothing.
    """
    if signal.at < connection.connected_on:
        return Transition(connection)
    if signal.kind is ExitCriterion.BOUNCE and (
        signal.activity_id is None or signal.activity_id != connection.activity_id
    ):
        return Transition(connection)
    if signal.kind in seq.exit_on:
        reason = EXIT_REASONS[signal.kind]
        effects: list[Effect] = []
        step = layout(seq).steps.get(connection.step_id)
        if connection.activity_id and step is not None and step.is_activity:
            effects.append(CancelPendingActivity(connection.activity_id))
            effects.append(CancelCrmActivity(connection.activity_id, step.type))
        event = end(connection, reason, signal.at)
        return Transition(None, tuple(effects), (event,), reason)
    if signal.kind is ExitCriterion.REPLY:
        if connection.replied_on is not None and connection.replied_on >= signal.at:
            return Transition(connection)
        return Transition(replace(connection, replied_on=signal.at),
                          events=(_event(connection, "replied", signal.at),))
    return Transition(connection)


def move_off_removed_step(
    connection: Connection, old: Sequence, new: Sequence, now: datetime
) -> Transition:
    """`connection`'s step was removed while the sequence was inactive: go to the next
    surviving step.

    An unpushed activity of the removed step is cancelled; one already in the CRM stays there.
    """
    kept = layout(new).steps
    if connection.step_id in kept:
        return Transition(connection)
    effects: list[Effect] = []
    if connection.activity_id:
        effects.append(CancelPendingActivity(connection.activity_id))
    events = [_event(connection, "step_skipped", now, message="step removed from the sequence")]
    old_following = layout(old).following
    nxt = old_following.get(connection.step_id)
    while nxt is not None:
        if nxt in kept:
            return Transition(enter(connection, new, nxt, now), tuple(effects), tuple(events))
        nxt = old_following.get(nxt)
    return _finish(connection, now, effects, events)
