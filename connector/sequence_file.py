"""Sequence files (TOML): parse, check, and match their steps to an existing sequence's ids."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from connector.engine.models import Sequence, Step, StepType
from connector.engine.sequences import check_step, check_structure, make_step, parse_step_type
from connector.errors import InvalidInput
from connector.tomlfile import read_toml

TOP_KEYS = {"name", "description", "entity", "steps"}
ACTIVITY_KEYS = {"type", "name", "description", "template", "id"}
WAIT_KEYS = {"type", "days", "hours", "name", "description", "id"}


def _text(value: Any, where: str) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{where}: expected text, got {type(value).__name__}")
    return value


def _int(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{where}: expected a whole number, got {value!r}")
    return value


def _step(raw: Any, position: int, origin: str) -> Step:
    where = f"{origin}: steps[{position}] (step {position})"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where}: expected a [[steps]] table")
    if "type" not in raw:
        raise InvalidInput(f"{where}: missing key 'type' (email, phonecall, task or wait)")
    step_type = parse_step_type(raw["type"], where)
    allowed = WAIT_KEYS if step_type is StepType.WAIT else ACTIVITY_KEYS
    for key in raw:
        if key not in allowed:
            raise InvalidInput(f"{where}: unknown key {key!r} for a {step_type.value} step")
    step = make_step(
        step_type,
        name=_text(raw.get("name", ""), f"{where} name"),
        description=_text(raw.get("description", ""), f"{where} description"),
        template=_text(raw["template"], f"{where} template") if raw.get("template") else None,
        days=_int(raw.get("days", 0), f"{where} days"),
        hours=_int(raw.get("hours", 0), f"{where} hours"),
        id=_text(raw["id"], f"{where} id") if raw.get("id") else None,
    )
    try:
        check_step(step, position)
    except InvalidInput as exc:
        raise InvalidInput(f"{origin}: {exc}") from None
    return step


def load_sequence_file(path: Path) -> Sequence:
    """The complete, valid sequence a file describes (new step ids; no id or status yet)."""
    origin = str(path)
    data = read_toml(path, "sequence")
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
        steps=tuple(_step(raw, n, origin) for n, raw in enumerate(raw_steps, start=1)),
    )
    # A file is a whole sequence, so it must be ready to activate: checked before any save.
    try:
        check_structure(seq.steps)
    except InvalidInput as exc:
        raise InvalidInput(f"{origin}: [[steps]]: {exc}") from None
    return seq


def keep_step_ids(new: tuple[Step, ...], old: tuple[Step, ...]) -> tuple[Step, ...]:
    """Give file steps the ids of the existing steps they correspond to.

    An `id` written in the file wins; then a step takes the id of an unused old step of the same
    type and name; then that of an unused old step of the same type at the same position (a
    renamed step). So reordering, renaming or inserting steps keeps connected records on their
    step; only steps that really went away move their records on.
    """
    unused = {s.id: s for s in old}
    ids: list[str | None] = []
    for step in new:
        if step.id in unused:
            del unused[step.id]
            ids.append(step.id)
            continue
        match = next((o for o in unused.values()
                      if o.type is step.type and o.name == step.name), None)
        if match is not None:
            del unused[match.id]
        ids.append(match.id if match else None)
    for position, step in enumerate(new):
        if ids[position] is None and position < len(old):
            same_place = old[position]
            if same_place.id in unused and same_place.type is step.type:
                del unused[same_place.id]
                ids[position] = same_place.id
    return tuple(replace(step, id=i) if i else step for step, i in zip(new, ids, strict=True))
