"""What differs between two versions of a sequence, phrased for people. Pure."""

from __future__ import annotations

from connector.engine.models import Sequence, Step, all_steps
from connector.engine.sequences import describe
from connector.engine.tree import layout

SEQUENCE_FIELDS = ("name", "description", "entity", "owner", "tags", "exit_on", "pacing", "enroll")
# A condition's branches are not compared as a whole: each step in them is compared itself.
STEP_FIELDS = ("type", "name", "description", "template", "days", "hours", "condition",
               "values", "sequence")


def _shown(value: object) -> str:
    if isinstance(value, frozenset):
        value = tuple(sorted(getattr(v, "value", v) for v in value))
    if isinstance(value, tuple):
        return "[" + ", ".join(_shown(v) for v in value) + "]"
    return repr(value.value if hasattr(value, "value") else value)



def differences(before: Sequence, after: Sequence) -> list[str]:
    """Every change from `before` to `after`, one phrase each; [] when they are the same.

    Steps are matched by id, so a renamed or moved step is a change of that step.
    """
    found = [
        f"{name} {_shown(getattr(before, name))} -> {_shown(getattr(after, name))}"
        for name in SEQUENCE_FIELDS
        if getattr(before, name) != getattr(after, name)
    ]
    old_at, new_at = layout(before).address, layout(after).address
    old = {s.id: (old_at[s.id], s) for s in all_steps(before.steps)}
    new = {s.id: (new_at[s.id], s) for s in all_steps(after.steps)}
    for step_id, (position, step) in old.items():
        if step_id not in new:
            found.append(f"{describe(step, position)} removed")
    for step_id, (position, step) in new.items():
        if step_id not in old:
            found.append(f"new {describe(step, position)}")
            continue
        was_at, was = old[step_id]
        found.extend(_step_changes(was, step, was_at, position))
    return found


def _step_changes(was: Step, now: Step, was_at: str, position: str) -> list[str]:
    where = describe(now, position)
    changes = [f"{where}: moved from position {was_at}"] if was_at != position else []
    changes.extend(
        f"{where}: {name} {_shown(getattr(was, name))} -> {_shown(getattr(now, name))}"
        for name in STEP_FIELDS
        if getattr(was, name) != getattr(now, name)
    )
    return changes
