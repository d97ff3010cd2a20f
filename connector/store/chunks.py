"""Split long id lists so one IN (...) stays below SQLite's bound-parameter limits."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import TypeVar

T = TypeVar("T")

# Below SQLite's historical 999-parameter ceiling, with room for a few other parameters.
CHUNK = 900


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def unique(items: Sequence[T] | Iterable[T]) -> list[T]:
    """The items in their first-seen order, without repeats."""
    return list(dict.fromkeys(items))
