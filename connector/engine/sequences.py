"""Sequence rules: step validation, structure, and step edits. Pure: no I/O, no clock."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from connector.engine.models import MAX_WAIT, Sequence, SequenceStatus, Step, StepType
from connector.errors import InvalidInput, NotFound, RuleViolation

MAX_WAIT_DAYS = 30
MAX_WAIT_HOURS = 23
STEP_TYPES = ", ".join(t.value for t in StepType)


def new_id() -> str:
    return str(uuid.uuid4())


def parse_step_type(value: object, where: str = "step") -> StepType:
    try:
        return StepType(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"{where}: unknown step type {value!r} (expected one of: {STEP_TYPES})"
        ) from None


def describe(step: Step, position: int) -> str:
    label = f"step {position} ({step.type.value}"
    return label + (f" {step.name!r})" if step.name else ")")


def check_step(step: Step, position: int) -> None:
    """Raise InvalidInput naming the step when its own fields are out of bounds."""
    where = describe(step, position)
    if step.is_wait:
        if not 0 <= step.days <= MAX_WAIT_DAYS:
            raise InvalidInput(f"{where}: wait days must be 0-{MAX_WAIT_DAYS} (got {step.days})")
        if not 0 <= step.hours <= MAX_WAIT_HOURS:
            raise InvalidInput(
                f"{where}: wait hours must be 0-{MAX_WAIT_HOURS} (got {step.hours})"
            )
        if step.wait.total_seconds() <= 0:
            raise InvalidInput(f"{where}: a wait must be longer than 0 (set --days or --hours)")
        if step.wait > MAX_WAIT:
            raise InvalidInput(f"{where}: a wait can be at most {MAX_WAIT_DAYS} days")
        return
    if not step.name.strip():
        raise InvalidInput(f"{where}: an {step.type.value} step needs a name")
    if step.template and step.type is not StepType.EMAIL:
        raise InvalidInput(f"{where}: only email steps take a template")


def check_structure(steps: tuple[Step, ...] | list[Step]) -> None:
    """A sequence is valid with >= 1 activity step and no wait first or last."""
    for position, step in enumerate(steps, start=1):
        check_step(step, position)
    if not steps:
        raise InvalidInput("the sequence needs at least one email, phonecall or task step")
    # Neither first nor last is a wait, so at least one activity step is in there.
    if steps[0].is_wait:
        raise InvalidInput(f"{describe(steps[0], 1)}: a sequence cannot start with a wait")
    if steps[-1].is_wait:
        raise InvalidInput(
            f"{describe(steps[-1], len(steps))}: a sequence cannot end with a wait"
        )
    ids = [s.id for s in steps]
    if len(set(ids)) != len(ids):
        raise InvalidInput("two steps share one id")


def structure_problem(seq: Sequence) -> str | None:
    """Why `seq` cannot be activated, or None when it can."""
    try:
        check_structure(seq.steps)
    except InvalidInput as exc:
        return str(exc)
    return None


def require_inactive(seq: Sequence) -> None:
    if seq.status is SequenceStatus.ACTIVE:
        raise RuleViolation(f"sequence {seq.name!r} is active: deactivate it first to edit it")


def make_step(
    type: StepType | str,
    *,
    name: str = "",
    description: str = "",
    template: str | None = None,
    days: int = 0,
    hours: int = 0,
    id: str | None = None,
) -> Step:
    step_type = type if isinstance(type, StepType) else parse_step_type(type)
    if step_type is StepType.WAIT:
        return Step(id=id or new_id(), type=step_type, name=name, description=description,
                    days=days, hours=hours)
    return Step(id=id or new_id(), type=step_type, name=name, description=description,
                template=template or None)


def find_step(seq: Sequence, ref: str) -> tuple[int, Step]:
    """The 0-based index and step for a step id or a 1-based position."""
    ref = str(ref).strip()
    for index, step in enumerate(seq.steps):
        if step.id == ref:
            return index, step
    if ref.isdigit() and 1 <= int(ref) <= len(seq.steps):
        return int(ref) - 1, seq.steps[int(ref) - 1]
    raise NotFound(f"sequence {seq.name!r} has no step {ref!r} ({len(seq.steps)} steps)")


def insert_step(seq: Sequence, step: Step, position: int | None = None) -> Sequence:
    """Add `step` at 1-based `position` (default: at the end)."""
    steps = list(seq.steps)
    if position is None:
        position = len(steps) + 1
    if not 1 <= position <= len(steps) + 1:
        raise InvalidInput(f"--position must be between 1 and {len(steps) + 1} (got {position})")
    steps.insert(position - 1, step)
    return replace(seq, steps=tuple(steps))


def change_step(seq: Sequence, ref: str, changes: dict[str, Any]) -> Sequence:
    """Edit one step's fields; a `position` key moves it. The step keeps its id."""
    index, step = find_step(seq, ref)
    changes = {k: v for k, v in changes.items() if v is not None}
    position = changes.pop("position", None)
    if "type" in changes:
        changes["type"] = parse_step_type(changes["type"], describe(step, index + 1))
    updated = replace(step, **changes)
    if updated.is_wait:
        updated = replace(updated, template=None)
    steps = list(seq.steps)
    del steps[index]
    target = index + 1 if position is None else position
    if not 1 <= target <= len(steps) + 1:
        raise InvalidInput(f"--position must be between 1 and {len(steps) + 1} (got {target})")
    steps.insert(target - 1, updated)
    return replace(seq, steps=tuple(steps))


def remove_step(seq: Sequence, ref: str) -> Sequence:
    index, _ = find_step(seq, ref)
    return replace(seq, steps=seq.steps[:index] + seq.steps[index + 1 :])


def index_of(seq: Sequence, step_id: str) -> int | None:
    for index, step in enumerate(seq.steps):
        if step.id == step_id:
            return index
    return None


MAX_TAG = 64


def normalize_tags(values: Iterable[str]) -> tuple[str, ...]:
    """Tags as stored: trimmed, unique case-insensitively, sorted; an empty tag is a mistake."""
    seen: dict[str, str] = {}
    for value in values:
        tag = value.strip()
        if not tag:
            raise InvalidInput("a tag cannot be empty")
        if len(tag) > MAX_TAG:
            raise InvalidInput(f"tag {tag[:20]!r}... is longer than {MAX_TAG} characters")
        seen.setdefault(tag.lower(), tag)
    return tuple(sorted(seen.values(), key=str.lower))
