"""Writing a sequence as the TOML file `sequence apply` reads: sequences as code."""

from __future__ import annotations

from typing import Any

import tomli_w

from connector.engine.models import (
    ALL_EXITS,
    Condition,
    ConditionKind,
    Op,
    Sequence,
    Step,
    StepType,
)
from connector.sequence_sections import enroll_table, pacing_table


def _plain(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value


def _condition(cond: Condition) -> dict[str, Any]:
    if cond.kind is ConditionKind.PREVIOUS:
        return {"previous": cond.previous}
    if cond.kind is ConditionKind.REPLIED_WITHIN_DAYS:
        return {"replied_within_days": cond.days}
    table: dict[str, Any] = {"column": cond.column, "op": cond.op.value}
    if cond.value is not None and not (cond.op is Op.NULL and cond.value is True):
        table["value"] = _plain(cond.value)
    return table


def _step_table(step: Step) -> dict[str, Any]:
    # The id is written so that applying the file elsewhere, or again, keeps each step's
    # records on it: apply matches steps by id first.
    table: dict[str, Any] = {"type": step.type.value, "id": step.id}
    if step.name:
        table["name"] = step.name
    if step.description:
        table["description"] = step.description
    if step.is_wait:
        table.update(days=step.days, hours=step.hours)
    elif step.template:
        table["template"] = step.template
    if step.type is StepType.CONDITION and step.condition is not None:
        table["if"] = _condition(step.condition)
        if step.then:
            table["then"] = [_step_table(s) for s in step.then]
        if step.otherwise:
            table["else"] = [_step_table(s) for s in step.otherwise]
    if step.type is StepType.UPDATE_RECORD:
        table["set"] = {column: _plain(value) for column, value in step.values}
    if step.type is StepType.MOVE_TO_SEQUENCE:
        table["sequence"] = step.sequence
    return table


def sequence_data(seq: Sequence) -> dict[str, Any]:
    """The file's tables for `seq` (everything but its id, status and times)."""
    data: dict[str, Any] = {"name": seq.name, "entity": seq.entity}
    if seq.description:
        data["description"] = seq.description
    if seq.owner:
        data["owner"] = seq.owner
    data["tags"] = list(seq.tags)
    if seq.exit_on != ALL_EXITS:
        data["exit_on"] = sorted(e.value for e in seq.exit_on)
    pacing = pacing_table(seq.pacing)
    if pacing:
        data["pacing"] = pacing
    enroll = enroll_table(seq.enroll)
    if enroll:
        data["enroll"] = enroll
    data["steps"] = [_step_table(s) for s in seq.steps]
    return data


def sequence_toml(seq: Sequence) -> str:
    header = (
        f"# Sequence {seq.name!r}, exported by seqsync. Apply it with:\n"
        "#   seqsync sequence apply FILE [--activate]\n"
    )
    return header + tomli_w.dumps(sequence_data(seq), multiline_strings=False)
