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


def enter_step(conn: Connection, seq: Sequence, index: int, at: datetime) -> Connection | None:
    """Put `conn` on step `index` started at `at`; None when there is no such step."""
    if index >= len(seq.steps):
        return None
    step = seq.steps[index]
    return replace(
        conn,
        step_id=step.id,
        state=ConnectionState.SCHEDULED,
        due_at=at + step.wait if step.is_wait else at,
        step_started_on=at,
        activity_id=None,
        attempt=0,
    )


def _event(conn: Connection, name: str, at: datetime, step_id: str | None = None,
           message: str | None = None) -> HistoryEvent:
    return HistoryEvent(conn.id, conn.record_id, conn.sequence_id, name, at,
                        step_id=step_id or conn.step_id, message=message)


def _finish(conn: Connection, at: datetime, effects: list[Effect],
            events: list[HistoryEvent]) -> Transition:
    events.append(end(conn, EndReason.COMPLETED, at))
    return Transition(None, tuple(effects), tuple(events), EndReason.COMPLETED)


def _lost(conn: Connection, now: datetime) -> Transition:
    event = end(conn, EndReason.ERROR, now, "the current step no longer exists")
    return Transition(None, (), (event,), EndReason.ERROR)


def plan_due(
    conn: Connection, seq: Sequence, now: datetime, adjust: DueAdjuster | None = None
) -> Transition:
    """Plan everything of `conn` that is due at `now`: completes due waits, plans the activity.

    Does nothing for an inactive sequence or a connection that is waiting on an activity.
    """
    if not seq.is_active:
        return Transition(conn)
    effects: list[Effect] = []
    events: list[HistoryEvent] = []
    deferred = False
    while conn.state is ConnectionState.SCHEDULED and conn.due_at and conn.due_at <= now:
        index = index_of(seq, conn.step_id)
        if index is None:
            return _lost(conn, now)
        step = seq.steps[index]
        if step.is_wait:
            events.append(_event(conn, "step_completed", conn.due_at))
            following = enter_step(conn, seq, index + 1, conn.due_at)
            if following is None:
                return _finish(conn, conn.due_at, effects, events)
            conn = following
            continue
        due = adjust(step, conn.due_at) if adjust else conn.due_at
        if due > now:
            conn = replace(conn, due_at=due)  # planned on a later run
            deferred = True
            break
        activity_id = activity_id_for(conn.id, step.id, conn.attempt)
        effects.append(PlanActivity(
            activity_id=activity_id, connection_id=conn.id, record_id=conn.record_id,
            step_id=step.id, activity_type=step.type, subject=step.name,
            description=step.description, template=step.template, due_at=due,
        ))
        events.append(_event(conn, "step_planned", now))
        # Built directly: dataclasses.replace was a tenth of planning a due connection.
        conn = Connection(
            conn.id, conn.record_id, conn.sequence_id, conn.step_id, ConnectionState.WAITING,
            due, conn.connected_on, conn.step_started_on, activity_id, conn.attempt,
        )
    return Transition(conn, tuple(effects), tuple(events), deferred=deferred)


def advance_on_outcome(conn: Connection, seq: Sequence, result: ActivityResult) -> Transition:
    """The waited-on activity was completed or canceled at `result.at`: go to the next step.

    Anything else (another activity, a connection not waiting) is ignored: calling it twice is
    harmless.
    """
    if conn.state is not ConnectionState.WAITING or conn.activity_id != result.activity_id:
        return Transition(conn)
    index = index_of(seq, conn.step_id)
    if index is None:
        return _lost(conn, result.at)
    name = "step_completed" if result.outcome is ActivityOutcome.COMPLETED else "step_skipped"
    events = [_event(conn, name, result.at)]
    following = enter_step(conn, seq, index + 1, result.at)
    if following is None:
        return _finish(conn, result.at, [], events)
    return Transition(following, (), tuple(events))


def move_off_removed_step(
    conn: Connection, old: Sequence, new: Sequence, now: datetime
) -> Transition:
    """`conn`'s step was removed while the sequence was inactive: go to the next surviving step.

    An unpushed activity of the removed step is cancelled; one already in the CRM stays there.
    """
    if index_of(new, conn.step_id) is not None:
        return Transition(conn)
    old_index = index_of(old, conn.step_id)
    surviving = {s.id for s in new.steps}
    effects: list[Effect] = []
    if conn.activity_id:
        effects.append(CancelPendingActivity(conn.activity_id))
    events = [_event(conn, "step_skipped", now, message="step removed from the sequence")]
    start = -1 if old_index is None else old_index
    for step in old.steps[start + 1 :]:
        if step.id in surviving:
            moved = enter_step(conn, new, index_of(new, step.id) or 0, now)
            return Transition(moved, tuple(effects), tuple(events))
    return _finish(conn, now, effects, events)
