"""How a connection moves through its sequence. Pure functions of state and `now`.

A connection in state `scheduled` has its current step due at `due_at`. A due activity step is
planned (a PlanActivity effect) and the connection then waits for that activity; a due wait step
completes by itself at its due time. Times chain from scheduled times, not from when a sync run
happened to look, so a late run produces the same schedule as a punctual one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from connector.engine.connections import end
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    CancelPendingActivity,
    Connection,
    ConnectionState,
    Effect,
    EndReason,
    HistoryEvent,
    PlanActivity,
    Sequence,
    Step,
    activity_id_for,
)
from connector.engine.sequences import index_of

# Maps an activity step's due time to the time it may really be planned (business hours...).
DueAdjuster = Callable[[Step, datetime], datetime]


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


def enter_step(
    connection: Connection, seq: Sequence, index: int, at: datetime
) -> Connection | None:
    """Put `connection` on step `index` started at `at`; None when there is no such step."""
    if index >= len(seq.steps):
        return None
    step = seq.steps[index]
    return replace(
        connection,
        step_id=step.id,
        state=ConnectionState.SCHEDULED,
        due_at=at + step.wait if step.is_wait else at,
        step_started_on=at,
        activity_id=None,
        attempt=0,
    )


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


def plan_due(
    connection: Connection, seq: Sequence, now: datetime, adjust: DueAdjuster | None = None
) -> Transition:
    """Plan everything of `connection` due at `now`: completes due waits, plans the activity.

    Does nothing for an inactive sequence or a connection that is waiting on an activity.
    """
    if not seq.is_active:
        return Transition(connection)
    effects: list[Effect] = []
    events: list[HistoryEvent] = []
    deferred = False
    while (connection.state is ConnectionState.SCHEDULED and connection.due_at
           and connection.due_at <= now):
        index = index_of(seq, connection.step_id)
        if index is None:
            return _lost(connection, now)
        step = seq.steps[index]
        if step.is_wait:
            events.append(_event(connection, "step_completed", connection.due_at))
            following = enter_step(connection, seq, index + 1, connection.due_at)
            if following is None:
                return _finish(connection, connection.due_at, effects, events)
            connection = following
            continue
        due = adjust(step, connection.due_at) if adjust else connection.due_at
        if due > now:
            connection = replace(connection, due_at=due)  # planned on a later run
            deferred = True
            break
        activity_id = activity_id_for(connection.id, step.id, connection.attempt)
        effects.append(PlanActivity(
            activity_id=activity_id, connection_id=connection.id, record_id=connection.record_id,
            step_id=step.id, activity_type=step.type, subject=step.name,
            description=step.description, template=step.template, due_at=due,
        ))
        events.append(_event(connection, "step_planned", now))
        # Built directly: dataclasses.replace was a tenth of planning a due connection.
        connection = Connection(
            connection.id, connection.record_id, connection.sequence_id, connection.step_id,
            ConnectionState.WAITING, due, connection.connected_on, connection.step_started_on,
            activity_id, connection.attempt,
        )
    return Transition(connection, tuple(effects), tuple(events), deferred=deferred)


def advance_on_outcome(connection: Connection, seq: Sequence, result: ActivityResult) -> Transition:
    """The waited-on activity was completed or canceled at `result.at`: go to the next step.

    Anything else (another activity, a connection not waiting) is ignored: calling it twice is
    harmless.
    """
    if (connection.state is not ConnectionState.WAITING
            or connection.activity_id != result.activity_id):
        return Transition(connection)
    index = index_of(seq, connection.step_id)
    if index is None:
        return _lost(connection, result.at)
    name = "step_completed" if result.outcome is ActivityOutcome.COMPLETED else "step_skipped"
    events = [_event(connection, name, result.at)]
    following = enter_step(connection, seq, index + 1, result.at)
    if following is None:
        return _finish(connection, result.at, [], events)
    return Transition(following, (), tuple(events))


def move_off_removed_step(
    connection: Connection, old: Sequence, new: Sequence, now: datetime
) -> Transition:
    """`connection`'s step was removed while the sequence was inactive: go to the next
    surviving step.

    An unpushed activity of the removed step is cancelled; one already in the CRM stays there.
    """
    if index_of(new, connection.step_id) is not None:
        return Transition(connection)
    old_index = index_of(old, connection.step_id)
    surviving = {s.id for s in new.steps}
    effects: list[Effect] = []
    if connection.activity_id:
        effects.append(CancelPendingActivity(connection.activity_id))
    events = [_event(connection, "step_skipped", now, message="step removed from the sequence")]
    start = -1 if old_index is None else old_index
    for step in old.steps[start + 1 :]:
        if step.id in surviving:
            moved = enter_step(connection, new, index_of(new, step.id) or 0, now)
            return Transition(moved, tuple(effects), tuple(events))
    return _finish(connection, now, effects, events)
