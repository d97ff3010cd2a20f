"""Small words for messages: "1 lead", "2 opportunities", "an email step"."""

from __future__ import annotations

_IRREGULAR = {"opportunity": "opportunities", "activity": "activities"}


def plural(noun: str) -> str:
    if noun in _IRREGULAR:
        return _IRREGULAR[noun]
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def count(n: int, noun: str) -> str:
    """`count(1, "lead")` -> "1 lead"; `count(2, "opportunity")` -> "2 opportunities"."""
    return f"{n} {noun if n == 1 else plural(noun)}"


def article(noun: str) -> str:
    """`article("email")` -> "an email"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"
