"""Turning sequences, connections and records into JSON values and tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from connector.cli.output import Output, when
from connector.engine.models import Connection, Sequence, Step
from connector.engine.sequences import index_of, structure_problem


def step_label(step: Step) -> str:
    if step.is_wait:
        parts = [f"{step.days} day{'s' if step.days != 1 else ''}"] if step.days else []
        if step.hours:
            parts.append(f"{step.hours} hour{'s' if step.hours != 1 else ''}")
        return "wait " + " ".join(parts)
    return f"{step.type.value}: {step.name}"


def step_json(step: Step, position: int) -> dict[str, Any]:
    data: dict[str, Any] = {"position": position, "id": step.id, "type": step.type.value}
    if step.is_wait:
        data.update(days=step.days, hours=step.hours)
    else:
        data.update(name=step.name, description=step.description, template=step.template)
    return data


def sequence_json(seq: Sequence, connected: int | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": seq.id, "name": seq.name, "description": seq.description, "entity": seq.entity,
        "status": seq.status.value, "owner": seq.owner,
        "created_on": seq.created_on.isoformat() if seq.created_on else None,
        "modified_on": seq.modified_on.isoformat() if seq.modified_on else None,
        "activities": seq.activity_count,
        "steps": [step_json(s, n) for n, s in enumerate(seq.steps, start=1)],
    }
    if connected is not None:
        data["connected_records"] = connected
    problem = structure_problem(seq)
    data["ready_to_activate"] = problem is None
    if problem:
        data["problem"] = problem
    return data


def steps_table(out: Output, seq: Sequence) -> Table:
    return out.table(
        ["#", "type", "name / wait", "description", "template", "step id"],
        (
            [n, s.type.value, step_label(s).split(": ", 1)[-1], s.description, s.template, s.id]
            for n, s in enumerate(seq.steps, start=1)
        ),
        title="Steps",
    )


def properties_table(out: Output, seq: Sequence, connected: int) -> Table:
    rows = [
        ("name", seq.name), ("id", seq.id), ("owner", seq.owner), ("status", seq.status.value),
        ("entity", seq.entity), ("description", seq.description),
        ("activities", seq.activity_count), ("connected records", connected),
        ("modified", when(seq.modified_on)),
    ]
    problem = structure_problem(seq)
    if problem:
        rows.append(("not ready", problem))
    return out.table(["property", "value"], rows, title=f"Sequence {seq.name!r}")


def position_text(connection: Connection, seq: Sequence | None) -> str:
    if seq is None:
        return connection.step_id
    index = index_of(seq, connection.step_id)
    if index is None:
        return connection.step_id
    return f"{index + 1}/{len(seq.steps)} {step_label(seq.steps[index])}"


def state_text(connection: Connection, seq: Sequence | None) -> str:
    if seq is not None and not seq.is_active:
        return "paused (sequence inactive)"
    if connection.state.value == "waiting":
        return "activity open in the CRM (or queued)"
    return f"due {when(connection.due_at)}"
