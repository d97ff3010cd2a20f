"""Turning sequences, connections and records into JSON values and tables."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from connector.cli.output import Output, when
from connector.engine.models import (
    Branch,
    Condition,
    ConditionKind,
    Connection,
    Op,
    Sequence,
    Step,
    StepType,
)
from connector.engine.sequences import structure_problem
from connector.engine.tree import layout
from connector.sequence_sections import enroll_table, enroll_text

# Per step id: connections on it now, and how many took each branch of a condition.
Counts = dict[str, dict[str, int]]


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


def position_text(connection: Connection, seq: Sequence | None) -> str:
    if seq is None:
        return connection.step_id
    lay = layout(seq)
    step = lay.steps.get(connection.step_id)
    if step is None:
        return connection.step_id
    return f"{lay.address[step.id]}/{len(seq.steps)} {step_label(step)}"


def state_text(connection: Connection, seq: Sequence | None) -> str:
    if seq is not None and not seq.is_active:
        return "paused (sequence inactive)"
    if connection.state.value == "waiting":
        return "activity open in the CRM (or queued)"
    return f"due {when(connection.due_at)}"


def steps_after(seq: Sequence, step_id: str) -> list[str]:
    """The steps that follow `step_id`, up to the next condition (whose branch is not known)."""
    lay = layout(seq)
    labels: list[str] = []
    current: str | None = step_id if step_id in lay.steps else None
    while current is not None and not lay.steps[current].is_condition:
        current = lay.following[current]
        if current is not None:
            labels.append(step_label(lay.steps[current]))
    return labels


PATH_EVENTS = {"step_completed": "completed", "step_skipped": "skipped",
               "step_planned": "planned", "replied": "replied"}


def connection_paths(history: list[Any], activities: list[Any]) -> list[dict[str, Any]]:
    """Each connection of a record (newest last): the path it took through its sequence (steps
    with what happened on them and the branches chosen), its CRM activity ids, and why it
    ended (None while it runs)."""
    by_connection: dict[str, dict[str, Any]] = {}
    for h in history:
        entry = by_connection.setdefault(h.connection_id, {
            "connection_id": h.connection_id, "sequence": h.sequence_name, "path": [],
            "activity_ids": [], "ended": None, "end_message": None,
        })
        if h.event == "branch":
            entry["path"].append({"step": h.step_name, "took": h.message, "at": h.at})
        elif h.event in PATH_EVENTS:
            entry["path"].append({"step": h.step_name, "event": PATH_EVENTS[h.event], "at": h.at})
        elif h.event == "ended":
            entry["ended"], entry["end_message"] = h.reason, h.message
    for a in activities:
        if a.connection_id in by_connection:
            by_connection[a.connection_id]["activity_ids"].append(a.activity_id)
    return list(by_connection.values())


def path_text(path: list[dict[str, Any]]) -> str:
    return " -> ".join(
        f"{p['step']} [{p['took']}]" if "took" in p else f"{p['step']} ({p['event']})"
        for p in path
    )
