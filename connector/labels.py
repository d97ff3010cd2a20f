"""Words for people: times, steps and where a record is on its sequence. Shared by the CLI's
tables and the web console's pages, so both say the same thing."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo

from connector.engine.models import Connection, Sequence, Step
from connector.engine.sequences import index_of


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


def step_label(step: Step) -> str:
    if step.is_wait:
        parts = [f"{step.days} day{'s' if step.days != 1 else ''}"] if step.days else []
        if step.hours:
            parts.append(f"{step.hours} hour{'s' if step.hours != 1 else ''}")
        return "wait " + " ".join(parts)
    return f"{step.type.value}: {step.name}"


def position_text(connection: Connection, seq: Sequence | None) -> str:
    if seq is None:
        return connection.step_id
    index = index_of(seq, connection.step_id)
    if index is None:
        return connection.step_id
    return f"{index + 1}/{len(seq.steps)} {step_label(seq.steps[index])}"


def state_text(connection: Connection, seq: Sequence | None, zone: tzinfo | None = None) -> str:
    if seq is not None and not seq.is_active:
        return "paused (sequence inactive)"
    if connection.state.value == "waiting":
        return "activity open in the CRM (or queued)"
    return f"due {when(connection.due_at, zone)}"
