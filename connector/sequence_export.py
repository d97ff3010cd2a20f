"""Writing a sequence as the TOML file `sequence apply` reads: sequences as code."""

from __future__ import annotations

from typing import Any

import tomli_w

from connector.engine.models import ACTIVITY_STEP_TYPES, Sequence, Step, StepType
from connector.errors import InvalidInput
from connector.sequence_sections import enroll_table, pacing_table

# The step types sequence files can hold today.
WRITABLE = ACTIVITY_STEP_TYPES | {StepType.WAIT}


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
    return table


def sequence_data(seq: Sequence) -> dict[str, Any]:
    """The file's tables for `seq` (everything but its id, status and times)."""
    data: dict[str, Any] = {"name": seq.name, "entity": seq.entity}
    if seq.description:
        data["description"] = seq.description
    if seq.owner:
        data["owner"] = seq.owner
    data["tags"] = list(seq.tags)
    pacing = pacing_table(seq.pacing)
    if pacing:
        data["pacing"] = pacing
    enroll = enroll_table(seq.enroll)
    if enroll:
        data["enroll"] = enroll
    data["steps"] = [_step_table(s) for s in seq.steps]
    return data


def sequence_toml(seq: Sequence) -> str:
    unwritable = sorted({s.type.value for s in seq.steps if s.type not in WRITABLE})
    if unwritable:
        raise InvalidInput(
            f"sequence {seq.name!r} has {', '.join(unwritable)} steps, which sequence files "
            "cannot describe yet"
        )
    header = (
        f"# Sequence {seq.name!r}, exported by seqsync. Apply it with:\n"
        "#   seqsync sequence apply FILE [--activate]\n"
    )
    return header + tomli_w.dumps(sequence_data(seq), multiline_strings=False)
