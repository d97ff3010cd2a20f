"""Sequence files (TOML): parse, check, and match their steps to an existing sequence's ids.
(connector/sequence_export.py writes them.)

The shape is documented in docs/sequences.md. Every error is one line naming the file and the
step ("steps[3].then[1] (step 3.then.1)").
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

from connector.engine.models import (
    ALL_EXITS,
    Condition,
    ConditionKind,
    ExitCriterion,
    Op,
    Sequence,
    Step,
    StepType,
    all_steps,
)
from connector.engine.sequences import (
    check_step,
    check_structure,
    make_step,
    normalize_tags,
    parse_step_type,
)
from connector.errors import InvalidInput
from connector.sequence_sections import enroll_from, pacing_from
from connector.tomlfile import read_toml
from connector.wording import article

T = TypeVar("T")
TOP_KEYS = {"name", "description", "entity", "exit_on", "owner", "tags", "pacing", "enroll",
            "steps"}
COMMON_KEYS = {"type", "name", "description", "id"}
KEYS: dict[StepType, set[str]] = {
    StepType.EMAIL: COMMON_KEYS | {"template"},
    StepType.PHONECALL: COMMON_KEYS,
    StepType.TASK: COMMON_KEYS,
    StepType.WAIT: COMMON_KEYS | {"days", "hours"},
    StepType.CONDITION: COMMON_KEYS | {"if", "then", "else"},
    StepType.UPDATE_RECORD: COMMON_KEYS | {"set"},
    StepType.MOVE_TO_SEQUENCE: COMMON_KEYS | {"sequence"},
}
CONDITION_KEYS = {
    ConditionKind.PREVIOUS: {"previous"},
    ConditionKind.REPLIED_WITHIN_DAYS: {"replied_within_days"},
    ConditionKind.COLUMN: {"column", "op", "value"},
}
EXITS = ", ".join(e.value for e in ExitCriterion)


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: expected text, got {type(value).__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}: expected a whole number, got {value!r}")
    return value


def _scalar(value: Any, where: str) -> object:
    if isinstance(value, list):
        return tuple(_scalar(v, where) for v in value)
    if not isinstance(value, str | int | float | bool):
        raise InvalidInput(f"{where}: expected text, a number or true/false, got {value!r}")
    return value


def _condition(raw: Any, where: str) -> Condition:
    if not isinstance(raw, dict):
        raise InvalidInput(
            f"{where}: `if` must be a table, e.g. if = {{ previous = \"completed\" }}"
        )
    kinds = [k for k, keys in CONDITION_KEYS.items() if keys & set(raw)]
    if len(kinds) != 1:
        raise InvalidInput(
            f"{where}: `if` takes one of: previous, replied_within_days, or column/op/value"
        )
    kind = kinds[0]
    for key in raw:
        if key not in CONDITION_KEYS[kind]:
            raise InvalidInput(f"{where}: unknown key {key!r} in `if` for a {kind.value} test")
    if kind is ConditionKind.PREVIOUS:
        return Condition(kind, previous=_text(raw["previous"], f"{where} if.previous"))
    if kind is ConditionKind.REPLIED_WITHIN_DAYS:
        days = _int(raw["replied_within_days"], f"{where} if.replied_within_days")
        return Condition(kind, days=days)
    if "column" not in raw:
        raise InvalidInput(f"{where}: a column test needs `column`")
    op_text = _text(raw.get("op", "eq"), f"{where} if.op")
    try:
        op = Op(op_text.strip().lower())
    except ValueError:
        raise InvalidInput(
            f"{where}: unknown op {op_text!r} (expected one of: {', '.join(o.value for o in Op)})"
        ) from None
    value = _scalar(raw["value"], f"{where} if.value") if "value" in raw else (
        True if op is Op.NULL else None)
    return Condition(kind, column=_text(raw["column"], f"{where} if.column").strip(), op=op,
                     value=value)


def _values(raw: Any, where: str) -> tuple[tuple[str, object], ...]:
    if not isinstance(raw, dict) or not raw:
        raise InvalidInput(f"{where}: `set` must be a table of column = value")
    return tuple((str(column), _scalar(value, f"{where} set.{column}"))
                 for column, value in raw.items())


def _branch(raw: Any, key: str, origin: str, label: str, address: str) -> tuple[Step, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise InvalidInput(f"{origin}: {label}: {key!r} must be an array of [[...]] tables")
    return tuple(
        _step(item, f"{label}.{key}[{n}]", f"{address}.{key}.{n}", origin)
        for n, item in enumerate(raw, start=1)
    )


def _step(raw: Any, label: str, address: str, origin: str) -> Step:
    where = f"{origin}: {label} (step {address})"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected a [[steps]] table")
    if "type" not in raw:
        types = ", ".join(t.value for t in StepType)
        raise InvalidInput(f"{where}: missing key 'type' ({types})")
    step_type = parse_step_type(raw["type"], where)
    for key in raw:
        if key not in KEYS[step_type]:
            raise InvalidInput(f"{where}: unknown key {key!r} for {article(step_type.value)} step")
    step = make_step(
        step_type,
        name=_text(raw.get("name", ""), f"{where} name"),
        description=_text(raw.get("description", ""), f"{where} description"),
        template=_text(raw["template"], f"{where} template") if raw.get("template") else None,
        days=_int(raw.get("days", 0), f"{where} days"),
        hours=_int(raw.get("hours", 0), f"{where} hours"),
        id=_text(raw["id"], f"{where} id") if raw.get("id") else None,
        condition=_condition(raw["if"], where) if "if" in raw else None,
        then=_branch(raw.get("then"), "then", origin, label, address),
        otherwise=_branch(raw.get("else"), "else", origin, label, address),
        values=_values(raw["set"], where) if "set" in raw else (),
        sequence=_text(raw.get("sequence", ""), f"{where} sequence").strip(),
    )
    try:
        check_step(step, address)
    except InvalidInput as exc:
        raise InvalidInput(f"{origin}: {exc}") from None
    return step


def _exit_on(raw: Any, origin: str) -> frozenset[ExitCriterion]:
    if raw is None:
        return ALL_EXITS
    if not isinstance(raw, list):
        raise InvalidInput(f"{origin}: exit_on must be a list (some of: {EXITS})")
    found: set[ExitCriterion] = set()
    for item in raw:
        try:
            found.add(ExitCriterion(str(item).strip().lower()))
        except ValueError:
            raise InvalidInput(
                f"{origin}: exit_on: unknown exit criterion {item!r} (expected: {EXITS})"
            ) from None
    return frozenset(found)


def load_sequence_file(path: Path) -> Sequence:
    """The complete, valid sequence a file describes (new step ids; no id or status yet)."""
    return sequence_from_data(read_toml(path, "sequence"), str(path))


def _tags(value: Any, origin: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise InvalidInput(f"{origin}: tags: expected an array of text, like [\"emea\", \"q3\"]")
    try:
        return normalize_tags(_text(v, "tag") for v in value)
    except InvalidInput as exc:
        raise InvalidInput(f"{origin}: tags: {exc}") from None


def sequence_from_data(data: dict[str, Any], origin: str) -> Sequence:
    """The sequence a parsed file describes; `origin` names the file in errors."""
    for key in data:
        if key not in TOP_KEYS:
            raise InvalidInput(f"{origin}: unknown key {key!r} (expected: {', '.join(TOP_KEYS)})")
    for key in ("name", "entity"):
        if key not in data:
            raise InvalidInput(f"{origin}: missing key {key!r}")
    raw_steps = data.get("steps", [])
    if not isinstance(raw_steps, list):
        raise InvalidInput(f"{origin}: 'steps' must be an array of [[steps]] tables")
    seq = Sequence(
        id="",
        name=_text(data["name"], f"{origin}: name").strip(),
        entity=_text(data["entity"], f"{origin}: entity").strip().lower(),
        description=_text(data.get("description", ""), f"{origin}: description"),
        owner=_text(data.get("owner", ""), f"{origin}: owner").strip(),
        tags=_tags(data.get("tags", []), origin),
        pacing=pacing_from(data, origin),
        enroll=enroll_from(data, origin),
        steps=tuple(_step(raw, f"steps[{n}]", str(n), origin)
                    for n, raw in enumerate(raw_steps, start=1)),
        exit_on=_exit_on(data.get("exit_on"), origin),
    )
    # A file is a whole sequence, so it must be ready to activate: checked before any save.
    try:
        check_structure(seq.steps, seq.exit_on)
    except InvalidInput as exc:
        raise InvalidInput(f"{origin}: [[steps]]: {exc}") from None
    return seq


def load_sequence_files(paths: list[Path]) -> list[Sequence]:
    """Several files, in an order where a move's target is saved before the sequence moving
    records to it."""
    return [seq for _, seq in targets_first([(path, load_sequence_file(path)) for path in paths])]


def _name_key(name: str) -> str:
    return name.strip().lower()


def targets_first(loaded: list[tuple[T, Sequence]]) -> list[tuple[T, Sequence]]:
    """The files in an order where a sequence another one moves records to comes first (its
    move step needs it to exist); otherwise as given."""
    names = {_name_key(seq.name) for _, seq in loaded}

    def targets(seq: Sequence) -> set[str]:
        return {_name_key(s.sequence) for s in all_steps(seq.steps)
                if s.type is StepType.MOVE_TO_SEQUENCE} & names

    ordered: list[tuple[T, Sequence]] = []
    placed: set[str] = set()
    waiting = list(loaded)
    while waiting:
        ready = [item for item in waiting if targets(item[1]) - {_name_key(
            item[1].name)} <= placed] or waiting[:1]  # a cycle: as given
        for item in ready:
            ordered.append(item)
            placed.add(_name_key(item[1].name))
            waiting.remove(item)
    return ordered


def keep_step_ids(new: tuple[Step, ...], old: tuple[Step, ...]) -> tuple[Step, ...]:
    """Give file steps the ids of the existing steps they correspond to, anywhere in the tree.

    An `id` written in the file wins; then a step takes the id of an unused old step of the same
    type and name; then that of an unused old step of the same type at the same place in the
    reading order (a renamed step). So reordering, renaming or inserting steps keeps connected
    records on their step; only steps that really went away move their records on.
    """
    flat_new, flat_old = all_steps(new), all_steps(old)
    unused = {s.id: s for s in flat_old}
    ids: dict[int, str] = {}
    for n, step in enumerate(flat_new):
        if step.id in unused:
            del unused[step.id]
            ids[n] = step.id
            continue
        match = next((o for o in unused.values()
                      if o.type is step.type and o.name == step.name), None)
        if match is not None:
            del unused[match.id]
            ids[n] = match.id
    for n, step in enumerate(flat_new):
        if n not in ids and n < len(flat_old):
            same_place = flat_old[n]
            if same_place.id in unused and same_place.type is step.type:
                del unused[same_place.id]
                ids[n] = same_place.id
    renamed = {flat_new[n].id: i for n, i in ids.items()}

    def rebuild(steps: tuple[Step, ...]) -> tuple[Step, ...]:
        return tuple(
            replace(s, id=renamed.get(s.id, s.id), then=rebuild(s.then),
                    otherwise=rebuild(s.otherwise))
            for s in steps
        )

    return rebuild(new)

