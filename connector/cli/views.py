"""Turning sequences, connections and records into JSON values and tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from connector.cli.output import Output
from connector.engine.models import Branch, ConditionKind, Sequence, Step, StepType
from connector.engine.sequences import structure_problem
from connector.labels import step_detail, when
from connector.sequence_sections import enroll_table, enroll_text

# Per step id: connections on it now, and how many took each branch of a condition.
Counts = dict[str, dict[str, int]]


def step_json(step: Step, position: int | str, counts: Counts | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"position": position, "id": step.id, "type": step.type.value}
    if step.is_wait:
        data.update(days=step.days, hours=step.hours)
    else:
        data.update(name=step.name, description=step.description)
    if step.is_activity:
        data["template"] = step.template
    if step.condition is not None:
        c = step.condition
        test: dict[str, Any] = {"kind": c.kind.value}
        if c.kind is ConditionKind.PREVIOUS:
            test["previous"] = c.previous
        elif c.kind is ConditionKind.REPLIED_WITHIN_DAYS:
            test["replied_within_days"] = c.days
        else:
            test.update(column=c.column, op=c.op.value,
                        value=list(c.value) if isinstance(c.value, tuple) else c.value)
        data["if"] = test
        for branch in Branch:
            data[branch.value] = [
                step_json(s, f"{position}.{branch.value}.{n}", counts)
                for n, s in enumerate(step.branch(branch), start=1)
            ]
    if step.type is StepType.UPDATE_RECORD:
        data["set"] = dict(step.values)
    if step.type is StepType.MOVE_TO_SEQUENCE:
        data["sequence"] = step.sequence
    if counts is not None:
        data["on_step"] = counts.get(step.id, {}).get("on_step", 0)
        if step.is_condition:
            data["took"] = {b.value: counts.get(step.id, {}).get(b.value, 0) for b in Branch}
    return data


def _enroll_json(seq: Sequence) -> dict[str, Any] | None:
    table = enroll_table(seq.enroll)
    if table and "created_after" in table:
        table["created_after"] = table["created_after"].isoformat()
    return table


def sequence_json(seq: Sequence, connected: int | None = None,
                  counts: Counts | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": seq.id, "name": seq.name, "description": seq.description, "entity": seq.entity,
        "status": seq.status.value, "owner": seq.owner, "tags": list(seq.tags),
        "pacing": {"max_per_owner_per_day": seq.pacing.max_per_owner_per_day,
                   "business_days": seq.pacing.business_days},
        "enroll": _enroll_json(seq),
        "created_on": seq.created_on.isoformat() if seq.created_on else None,
        "modified_on": seq.modified_on.isoformat() if seq.modified_on else None,
        "activities": seq.activity_count,
        "exit_on": sorted(e.value for e in seq.exit_on),
        "steps": [step_json(s, n, counts) for n, s in enumerate(seq.steps, start=1)],
    }
    if connected is not None:
        data["connected_records"] = connected
    problem = structure_problem(seq)
    data["ready_to_activate"] = problem is None
    if problem:
        data["problem"] = problem
    return data


def _tree_rows(steps: tuple[Step, ...], prefix: str, depth: int,
               counts: Counts) -> list[list[object]]:
    rows: list[list[object]] = []
    indent = "  " * depth
    for n, s in enumerate(steps, start=1):
        address = f"{prefix}{n}"
        mine = counts.get(s.id, {})
        took = (f"then {mine.get('then', 0)} / else {mine.get('else', 0)}"
                if s.is_condition else "")
        name = s.name if s.name and not s.is_wait else ""
        rows.append([address, f"{indent}{s.type.value}", name, step_detail(s) if
                     step_detail(s) != s.name else "", s.template or "",
                     mine.get("on_step", 0), took, s.id])
        for branch in Branch:
            if s.is_condition:
                rows.append(["", f"{indent}  {branch.value}:", "", "", "", "", "", ""])
                rows += _tree_rows(s.branch(branch), f"{address}.{branch.value}.", depth + 2,
                                   counts)
    return rows


def steps_table(out: Output, seq: Sequence, counts: Counts | None = None) -> Table:
    """The steps as an indented tree, with how many records are on each and branch counts."""
    return out.table(
        ["#", "type", "name", "does", "template", "on it", "took", "step id"],
        _tree_rows(seq.steps, "", 0, counts or {}),
        title="Steps",
    )


def properties_table(out: Output, seq: Sequence, connected: int) -> Table:
    rows = [
        ("name", seq.name), ("id", seq.id), ("owner", seq.owner), ("status", seq.status.value),
        ("tags", ", ".join(seq.tags)),
        ("pacing", (f"at most {seq.pacing.max_per_owner_per_day} activities per owner a day"
                    if seq.pacing.max_per_owner_per_day else "no cap of its own")
         + ("; waits in business days" if seq.pacing.business_days else "")),
        ("enrolment rule", enroll_text(seq.enroll) if seq.enroll else "none (connect by hand)"),
        ("entity", seq.entity), ("description", seq.description),
        ("exit on", ", ".join(sorted(e.value for e in seq.exit_on)) or "(never)"),
        ("activities", seq.activity_count), ("connected records", connected),
        ("modified", when(seq.modified_on)),
    ]
    problem = structure_problem(seq)
    if problem:
        rows.append(("not ready", problem))
    return out.table(["property", "value"], rows, title=f"Sequence {seq.name!r}")
