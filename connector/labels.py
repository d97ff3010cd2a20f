"""Words for people: times, steps and where a record is on its sequence. Shared by the CLI's
tables and the web console's pages, so both say the same thing."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from connector.engine.models import (
    Condition,
    ConditionKind,
    Connection,
    Op,
    Sequence,
    Step,
    StepType,
)
from connector.engine.tree import layout


def when(value: datetime | None, zone: tzinfo | None = None) -> str:
    """A time for people, minutes precision: UTC, or in `zone` ([display] timezone)."""
    if value is None:
        return "-"
    if zone is None:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def when_text(value: str | None, zone: tzinfo | None = None) -> str:
    """`when` for an ISO 8601 string (run summaries keep their times as text)."""
    return when(datetime.fromisoformat(value), zone) if value else "-"


def condition_text(cond: Condition) -> str:
    if cond.kind is ConditionKind.PREVIOUS:
        return f"if previous activity {cond.previous}"
    if cond.kind is ConditionKind.REPLIED_WITHIN_DAYS:
        return f"if replied within {cond.days} day{'s' if cond.days != 1 else ''}"
    if cond.op is Op.NULL:
        return f"if {cond.column} is {'' if cond.value else 'not '}empty"
    value = list(cond.value) if isinstance(cond.value, tuple) else cond.value
    return f"if {cond.column} {cond.op.value} {value!r}"


def step_detail(step: Step) -> str:
    """What a step does, in a few words (its name is shown beside it)."""
    if step.is_wait:
        parts = [f"{step.days} day{'s' if step.days != 1 else ''}"] if step.days else []
        if step.hours:
            parts.append(f"{step.hours} hour{'s' if step.hours != 1 else ''}")
        return "wait " + " ".join(parts)
    if step.condition is not None:
        return condition_text(step.condition)
    if step.type is StepType.UPDATE_RECORD:
        return "set " + ", ".join(f"{c} = {v!r}" for c, v in step.values)
    if step.type is StepType.MOVE_TO_SEQUENCE:
        return f"move to {step.sequence!r}"
    return step.name


def step_label(step: Step) -> str:
    if step.is_wait:
        return step_detail(step)
    detail = step_detail(step)
    if step.name and detail != step.name:
        return f"{step.type.value}: {step.name} ({detail})"
    return f"{step.type.value}: {detail}"


def position_text(connection: Connection, seq: Sequence | None) -> str:
    """Where a connection is: the step's tree address (2, 3.then.1, ...) out of the top-level
    step count, and the step."""
    if seq is None:
        return connection.step_id
    lay = layout(seq)
    step = lay.steps.get(connection.step_id)
    if step is None:
        return connection.step_id
    return f"{lay.address[step.id]}/{len(seq.steps)} {step_label(step)}"


def state_text(connection: Connection, seq: Sequence | None, zone: tzinfo | None = None) -> str:
    if seq is not None and not seq.is_active:
        return "paused (sequence inactive)"
    if connection.state.value == "waiting":
        return "activity open in the CRM (or queued)"
    return f"due {when(connection.due_at, zone)}"


def path_text(path: list[dict[str, Any]]) -> str:
    """A connection's path: the steps with what happened on them and the branches taken."""
    return " -> ".join(
        f"{p['step']} [{p['took']}]" if "took" in p else f"{p['step']} ({p['event']})"
        for p in path
    )
