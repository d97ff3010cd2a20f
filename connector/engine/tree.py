"""The shape of a step tree: where each step is, what follows it, and every path through it.

Steps form a tree: a condition step holds a `then` and an `else` branch, and when a branch runs
out the sequence continues after the condition. Pure: no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from connector.engine.models import Branch, Sequence, Step

# A sequence is checked path by path; past this many paths the file is refused as unreadable.
MAX_PATHS = 4096


@dataclass(frozen=True, slots=True)
class Layout:
    """Lookups over one sequence's steps, built once per sequence object."""

    steps: dict[str, Step]
    following: dict[str, str | None]  # step id -> the step after it (None: the end)
    address: dict[str, str]  # step id -> "3", "3.then.1", ...
    first: str | None

    def entry(self, condition: Step, branch: Branch) -> str | None:
        """Where a condition's branch starts (after the condition when the branch is empty)."""
        chosen = condition.branch(branch)
        return chosen[0].id if chosen else self.following[condition.id]


def _build(seq: Sequence) -> Layout:
    steps: dict[str, Step] = {}
    following: dict[str, str | None] = {}
    address: dict[str, str] = {}

    def walk(branch: tuple[Step, ...], after: str | None, prefix: str) -> None:
        for index, step in enumerate(branch):
            steps[step.id] = step
            address[step.id] = f"{prefix}{index + 1}"
            nxt = branch[index + 1].id if index + 1 < len(branch) else after
            following[step.id] = nxt
            if step.is_condition:
                walk(step.then, nxt, f"{address[step.id]}.then.")
                walk(step.otherwise, nxt, f"{address[step.id]}.else.")

    walk(seq.steps, None, "")
    return Layout(steps, following, address, seq.steps[0].id if seq.steps else None)


_CACHE: dict[int, tuple[Sequence, Layout]] = {}
_CACHE_SIZE = 512


def layout(seq: Sequence) -> Layout:
    """The layout of `seq`, cached by identity: planning asks once per due connection."""
    hit = _CACHE.get(id(seq))
    if hit is not None and hit[0] is seq:
        return hit[1]
    if len(_CACHE) >= _CACHE_SIZE:
        _CACHE.clear()
    built = _build(seq)
    _CACHE[id(seq)] = (seq, built)
    return built


@dataclass(frozen=True, slots=True)
class Choice:
    """A condition on a path, the branch taken, and how many path steps ran before it."""

    condition: Step
    branch: Branch
    after: int


@dataclass(frozen=True, slots=True)
class Path:
    """One way through a sequence: the steps that run, and the branches chosen to get there."""

    steps: tuple[Step, ...]
    choices: tuple[Choice, ...]

    def before(self, choice: Choice) -> tuple[Step, ...]:
        return self.steps[:choice.after]


class TooManyPaths(Exception):
    pass


def paths(steps: tuple[Step, ...]) -> Iterator[Path]:
    """Every path through `steps` (conditions are choices, not steps of the path)."""
    count = 0

    def walk(todo: tuple[Step, ...], done: tuple[Step, ...],
             choices: tuple[Choice, ...]) -> Iterator[Path]:
        nonlocal count
        for index, step in enumerate(todo):
            if step.is_condition:
                rest = todo[index + 1:]
                for branch in Branch:
                    yield from walk(step.branch(branch) + rest, done,
                                    (*choices, Choice(step, branch, len(done))))
                return
            done = (*done, step)
        count += 1
        if count > MAX_PATHS:
            raise TooManyPaths
        yield Path(done, choices)

    yield from walk(steps, (), ())
