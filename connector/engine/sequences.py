"""Sequence rules: step validation, structure on every path, and step edits. Pure: no I/O.

Steps are addressed by id or by position: "2" is the second top-level step, "3.then.1" the
first step of the `then` branch of step 3.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import replace
from typing import Any

from connector.engine.models import (
    ALL_EXITS,
    MAX_WAIT,
    PREVIOUS_OUTCOMES,
    Branch,
    ConditionKind,
    ExitCriterion,
    Op,
    Sequence,
    SequenceStatus,
    Step,
    StepType,
    TableColumns,
    all_steps,
)
from connector.engine.tree import TooManyPaths, layout, paths
from connector.errors import InvalidInput, NotFound, RuleViolation

MAX_WAIT_DAYS = 30
MAX_WAIT_HOURS = 23
MAX_REPLY_DAYS = 365
STEP_TYPES = ", ".join(t.value for t in StepType)
NO_ACTIVITY = "the sequence needs at least one email, phonecall or task step"


def new_id() -> str:
    return str(uuid.uuid4())


def parse_step_type(value: object, where: str = "step") -> StepType:
    try:
        return StepType(str(value).strip().lower())
    except ValueError:
        raise InvalidInput(
            f"{where}: unknown step type {value!r} (expected one of: {STEP_TYPES})"
        ) from None


def describe(step: Step, position: int | str) -> str:
    label = f"step {position} ({step.type.value}"
    return label + (f" {step.name!r})" if step.name else ")")


def _check_wait(step: Step, where: str) -> None:
    if not 0 <= step.days <= MAX_WAIT_DAYS:
        raise InvalidInput(f"{where}: wait days must be 0-{MAX_WAIT_DAYS} (got {step.days})")
    if not 0 <= step.hours <= MAX_WAIT_HOURS:
        raise InvalidInput(f"{where}: wait hours must be 0-{MAX_WAIT_HOURS} (got {step.hours})")
    if step.wait.total_seconds() <= 0:
        raise InvalidInput(f"{where}: a wait must be longer than 0 (set --days or --hours)")
    if step.wait > MAX_WAIT:
        raise InvalidInput(f"{where}: a wait can be at most {MAX_WAIT_DAYS} days")


def _check_condition(step: Step, where: str) -> None:
    cond = step.condition
    if cond is None:
        raise InvalidInput(f"{where}: a condition step needs `if`")
    if cond.kind is ConditionKind.PREVIOUS and cond.previous not in PREVIOUS_OUTCOMES:
        raise InvalidInput(
            f"{where}: previous must be one of {', '.join(PREVIOUS_OUTCOMES)} "
            f"(got {cond.previous!r})"
        )
    if cond.kind is ConditionKind.REPLIED_WITHIN_DAYS and not 1 <= cond.days <= MAX_REPLY_DAYS:
        raise InvalidInput(
            f"{where}: replied_within_days must be 1-{MAX_REPLY_DAYS} (got {cond.days})"
        )
    if cond.kind is ConditionKind.COLUMN:
        if not cond.column.strip():
            raise InvalidInput(f"{where}: a column condition needs `column`")
        if cond.op is Op.IN and not (isinstance(cond.value, tuple) and cond.value):
            raise InvalidInput(f"{where}: op \"in\" needs a non-empty list as `value`")
        if cond.op is Op.NULL and not isinstance(cond.value, bool):
            raise InvalidInput(f"{where}: op \"null\" takes value true or false")
        if cond.op in (Op.EQ, Op.NE, Op.GT, Op.LT) and (
            cond.value is None or isinstance(cond.value, tuple)
        ):
            raise InvalidInput(f"{where}: op {cond.op.value!r} needs a single `value`")
        if cond.op in (Op.GT, Op.LT) and (
            isinstance(cond.value, bool) or not isinstance(cond.value, int | float | str)
        ):
            raise InvalidInput(f"{where}: op {cond.op.value!r} compares numbers or text")


def check_step(step: Step, position: int | str) -> None:
    """Raise InvalidInput naming the step when its own fields are out of bounds."""
    where = describe(step, position)
    if (step.then or step.otherwise) and not step.is_condition:
        raise InvalidInput(f"{where}: only condition steps have then/else branches")
    if step.template and step.type is not StepType.EMAIL:
        raise InvalidInput(f"{where}: only email steps take a template")
    if step.is_wait:
        _check_wait(step, where)
        return
    if step.is_condition:
        _check_condition(step, where)
        return
    if step.type is StepType.UPDATE_RECORD:
        if not step.values:
            raise InvalidInput(f"{where}: an update_record step needs `set` (column = value)")
        return
    if step.type is StepType.MOVE_TO_SEQUENCE:
        if not step.sequence.strip():
            raise InvalidInput(f"{where}: a move_to_sequence step needs `sequence`")
        return
    if not step.name.strip():
        raise InvalidInput(f"{where}: an {step.type.value} step needs a name")


def _check_paths(steps: tuple[Step, ...], exit_on: frozenset[ExitCriterion],
                 where: Callable[[Step], str]) -> None:
    try:
        every = list(paths(steps))
    except TooManyPaths:
        raise InvalidInput("the sequence has too many paths: use fewer conditions") from None
    for path in every:
        if path.steps and path.steps[0].is_wait:
            raise InvalidInput(f"{where(path.steps[0])}: a sequence cannot start with a wait")
        if path.steps and path.steps[-1].is_wait:
            raise InvalidInput(f"{where(path.steps[-1])}: a sequence cannot end with a wait")
        if not any(s.is_activity for s in path.steps):
            if not path.choices:
                raise InvalidInput(NO_ACTIVITY)
            last = path.choices[-1]
            raise InvalidInput(
                f"{where(last.condition)}: its {last.branch.value} branch leads to a path "
                "without an email, phonecall or task step"
            )
        for choice in path.choices:
            cond = choice.condition.condition
            if cond is None:
                continue
            if cond.kind is ConditionKind.PREVIOUS and not any(
                s.is_activity for s in path.before(choice)
            ):
                raise InvalidInput(
                    f"{where(choice.condition)}: a `previous` condition needs an email, "
                    "phonecall or task step before it on every path"
                )


def check_structure(
    steps: tuple[Step, ...] | list[Step], exit_on: frozenset[ExitCriterion] = ALL_EXITS
) -> None:
    """Every path has an activity and neither starts nor ends with a wait; ids are unique."""
    steps = tuple(steps)
    if not steps:
        raise InvalidInput(NO_ACTIVITY)
    every = all_steps(steps)
    ids = [s.id for s in every]
    if len(set(ids)) != len(ids):
        raise InvalidInput("two steps share one id")
    address = layout(Sequence(id="", name="", entity="", steps=steps)).address

    def where(step: Step) -> str:
        return describe(step, address[step.id])

    for step in every:
        check_step(step, address[step.id])
        cond = step.condition
        if (cond is not None and cond.kind is ConditionKind.REPLIED_WITHIN_DAYS
                and ExitCriterion.REPLY in exit_on):
            raise InvalidInput(
                f"{where(step)}: replied_within_days needs a sequence that does not exit on "
                "reply (leave \"reply\" out of exit_on)"
            )
    _check_moves_last(steps, where)
    _check_paths(steps, exit_on, where)


def _check_moves_last(steps: tuple[Step, ...], where: Callable[[Step], str]) -> None:
    for index, step in enumerate(steps):
        if step.type is StepType.MOVE_TO_SEQUENCE and index + 1 < len(steps):
            raise InvalidInput(
                f"{where(steps[index + 1])}: never reached, it comes after a move_to_sequence"
            )
        if step.is_condition:
            _check_moves_last(step.then, where)
            _check_moves_last(step.otherwise, where)


def structure_problem(seq: Sequence) -> str | None:
    """Why `seq` cannot be activated, or None when it can."""
    try:
        check_structure(seq.steps, seq.exit_on)
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
    **tree: Any,
) -> Step:
    """A new step; `tree` holds condition / then / otherwise / values / sequence."""
    step_type = type if isinstance(type, StepType) else parse_step_type(type)
    step_id = id or new_id()
    if step_type is StepType.WAIT:
        return Step(id=step_id, type=step_type, name=name, description=description,
                    days=days, hours=hours)
    if step_type is StepType.CONDITION:
        return Step(id=step_id, type=step_type, name=name, description=description,
                    condition=tree.get("condition"), then=tuple(tree.get("then", ())),
                    otherwise=tuple(tree.get("otherwise", ())))
    if step_type is StepType.UPDATE_RECORD:
        return Step(id=step_id, type=step_type, name=name, description=description,
                    values=tuple(tree.get("values", ())))
    if step_type is StepType.MOVE_TO_SEQUENCE:
        return Step(id=step_id, type=step_type, name=name, description=description,
                    sequence=str(tree.get("sequence", "")))
    return Step(id=step_id, type=step_type, name=name, description=description,
                template=template or None)


# Editing the tree ----------------------------------------------------------------------------

BranchPath = tuple[tuple[str, Branch], ...]  # (condition id, branch) from the top down


def _branch_steps(seq: Sequence, where: BranchPath) -> tuple[Step, ...]:
    steps = seq.steps
    for condition_id, branch in where:
        condition = next(s for s in steps if s.id == condition_id)
        steps = condition.branch(branch)
    return steps


def _with_branch(steps: tuple[Step, ...], where: BranchPath,
                 change: Callable[[list[Step]], None]) -> tuple[Step, ...]:
    if not where:
        edited = list(steps)
        change(edited)
        return tuple(edited)
    (condition_id, branch), rest = where[0], where[1:]
    out: list[Step] = []
    for step in steps:
        if step.id == condition_id:
            inner = _with_branch(step.branch(branch), rest, change)
            step = replace(step, then=inner) if branch is Branch.THEN else replace(
                step, otherwise=inner)
        out.append(step)
    return tuple(out)


def _locate(seq: Sequence, step_id: str) -> tuple[BranchPath, int]:
    def search(steps: tuple[Step, ...], where: BranchPath) -> tuple[BranchPath, int] | None:
        for index, step in enumerate(steps):
            if step.id == step_id:
                return where, index
            if step.is_condition:
                for branch in Branch:
                    found = search(step.branch(branch), (*where, (step.id, branch)))
                    if found:
                        return found
        return None

    found = search(seq.steps, ())
    assert found is not None, step_id
    return found


def find_step(seq: Sequence, ref: str) -> tuple[int, Step]:
    """The 0-based index in its branch and the step, for a step id or a position."""
    ref = str(ref).strip()
    lay = layout(seq)
    step = lay.steps.get(ref) or next(
        (lay.steps[i] for i, address in lay.address.items() if address == ref.lower()), None
    )
    if step is None:
        count = len(seq.steps)
        raise NotFound(f"sequence {seq.name!r} has no step {ref!r} ({count} steps)")
    return _locate(seq, step.id)[1], step


def address_of(seq: Sequence, step_id: str) -> str:
    return layout(seq).address[step_id]


def parse_branch(seq: Sequence, ref: str) -> BranchPath:
    """A branch named as "<condition step>.then" or "<condition step>.else"."""
    head, _, tail = str(ref).strip().rpartition(".")
    try:
        branch = Branch(tail.lower())
    except ValueError:
        raise InvalidInput(
            f"--branch {ref!r}: expected <condition step>.then or <condition step>.else"
        ) from None
    _, condition = find_step(seq, head)
    if not condition.is_condition:
        raise InvalidInput(f"--branch {ref!r}: step {head} is not a condition step")
    where, _ = _locate(seq, condition.id)
    return (*where, (condition.id, branch))


def _positioned(count: int, position: int) -> None:
    if not 1 <= position <= count + 1:
        raise InvalidInput(f"--position must be between 1 and {count + 1} (got {position})")


def insert_step(seq: Sequence, step: Step, position: int | None = None,
                branch: BranchPath = ()) -> Sequence:
    """Add `step` at 1-based `position` of a branch (default: the top level; at the end)."""
    count = len(_branch_steps(seq, branch))
    at = count + 1 if position is None else position
    _positioned(count, at)
    return replace(seq, steps=_with_branch(seq.steps, branch,
                                           lambda steps: steps.insert(at - 1, step)))


def change_step(seq: Sequence, ref: str, changes: dict[str, Any]) -> Sequence:
    """Edit one step's fields; a `position` key moves it in its branch. It keeps its id."""
    index, step = find_step(seq, ref)
    changes = {k: v for k, v in changes.items() if v is not None}
    position = changes.pop("position", None)
    if "type" in changes:
        changes["type"] = parse_step_type(changes["type"], describe(step, index + 1))
    updated = replace(step, **changes)
    if updated.is_wait:
        updated = replace(updated, template=None)
    where, _ = _locate(seq, step.id)
    count = len(_branch_steps(seq, where)) - 1
    target = index + 1 if position is None else position
    _positioned(count, target)

    def move(steps: list[Step]) -> None:
        del steps[index]
        steps.insert(target - 1, updated)

    return replace(seq, steps=_with_branch(seq.steps, where, move))


def remove_step(seq: Sequence, ref: str) -> Sequence:
    """Remove a step (a condition goes with its branches)."""
    index, step = find_step(seq, ref)
    where, _ = _locate(seq, step.id)
    return replace(seq, steps=_with_branch(seq.steps, where, lambda steps: steps.pop(index)))


def index_of(seq: Sequence, step_id: str) -> int | None:
    for index, step in enumerate(seq.steps):
        if step.id == step_id:
            return index
    return None


# Whole edits, as a designer makes them (CLI and web alike): each checks what it can before
# the save, and returns the sequence to save with one Update message (whose plugins check the
# rest). Steps are named by id or tree address; `branch` puts a new step into a condition's
# branch.


def add_step(seq: Sequence, step: Step, position: int | None = None,
             branch: BranchPath = ()) -> Sequence:
    require_inactive(seq)
    after = insert_step(seq, step, position, branch)
    check_step(step, address_of(after, step.id))
    return after


def edit_step(seq: Sequence, ref: str, changes: dict[str, Any]) -> Sequence:
    """`changes` may hold a `position` (1-based, in the step's branch) to move the step; the
    step keeps its id."""
    require_inactive(seq)
    _, current = find_step(seq, ref)
    changed = change_step(seq, current.id, changes)
    check_step(find_step(changed, current.id)[1], address_of(changed, current.id))
    return changed


def drop_step(seq: Sequence, ref: str) -> Sequence:
    """Remove a step (a condition goes with its branches)."""
    require_inactive(seq)
    return remove_step(seq, ref)


def has_step(seq: Sequence, step_id: str) -> bool:
    return step_id in layout(seq).steps


def step_ids(steps: Iterable[Step]) -> set[str]:
    return {s.id for s in all_steps(tuple(steps))}


_VALUE_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,), "guid": (str,), "datetime": (str,), "int": (int,),
    "float": (int, float), "bool": (bool,),
}


def _fits(kind: str, value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) and kind != "bool":
        return False
    return isinstance(value, _VALUE_TYPES.get(kind, (object,)))


def check_columns(seq: Sequence, columns: TableColumns) -> None:
    """Column conditions and update_record steps name columns of the table's mapping, with
    values of the column's type. The error names the step."""
    address = layout(seq).address
    known = ", ".join(sorted(columns.types))
    for step in all_steps(seq.steps):
        where = describe(step, address[step.id])
        wanted: list[tuple[str, tuple[object, ...]]] = []
        cond = step.condition
        if cond is not None and cond.kind is ConditionKind.COLUMN:
            if cond.op is Op.IN:
                wanted.append((cond.column, tuple(cond.value)))  # type: ignore[arg-type]
            elif cond.op is not Op.NULL:
                wanted.append((cond.column, (cond.value,)))
            else:
                wanted.append((cond.column, ()))
        wanted.extend((column, (value,)) for column, value in step.values)
        for column, values in wanted:
            kind = columns.types.get(column)
            if kind is None:
                raise InvalidInput(
                    f"{where}: unknown column {column!r} for {seq.entity} "
                    f"(the mapping has: {known})"
                )
            bad = next((v for v in values if not _fits(kind, v)), None)
            if bad is not None:
                raise InvalidInput(
                    f"{where}: column {column!r} holds {kind} values, not {bad!r}"
                )


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
