"""A sort key for rows: None first, mixed types compared as text, per-column direction."""

from __future__ import annotations


class SortKey:
    """Callers lower-case strings first, so text sorts without case as in Dataverse."""

    __slots__ = ("desc", "values")

    def __init__(self, values: tuple[object, ...], desc: tuple[bool, ...]) -> None:
        self.values = values
        self.desc = desc

    def __lt__(self, other: SortKey) -> bool:
        for a, b, d in zip(self.values, other.values, self.desc, strict=True):
            if a == b:
                continue
            if a is None or b is None:
                less = a is None
            else:
                try:
                    less = a < b  # type: ignore[operator]
                except TypeError:
                    less = str(a) < str(b)
            return less != d
        return False

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SortKey) and self.values == other.values

    __hash__ = None  # type: ignore[assignment]
