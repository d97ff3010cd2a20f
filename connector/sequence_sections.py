"""The optional tables of a sequence file beyond its steps: [pacing] and [enroll] (and their
export)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from connector.engine.models import EnrollRule, Pacing
from connector.errors import InvalidInput

PACING_KEYS = ("max_per_owner_per_day", "business_days")
ENROLL_KEYS = ("where", "created_after", "max_per_run", "reenroll_after_days")


def _table(data: dict[str, Any], key: str, origin: str) -> dict[str, Any] | None:
    raw = data.get(key)
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise InvalidInput(f"{origin}: [{key}] must be a table")
    return raw


def pacing_from(data: dict[str, Any], origin: str) -> Pacing:
    raw = _table(data, "pacing", origin)
    if raw is None:
        return Pacing()
    for key in raw:
        if key not in PACING_KEYS:
            raise InvalidInput(
                f"{origin}: [pacing] unknown key {key!r} (expected: {', '.join(PACING_KEYS)})")
    cap = raw.get("max_per_owner_per_day")
    if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
        raise InvalidInput(
            f"{origin}: [pacing] max_per_owner_per_day must be a whole number of at least 1 "
            f"(got {cap!r})")
    business = raw.get("business_days", False)
    if not isinstance(business, bool):
        raise InvalidInput(f"{origin}: [pacing] business_days must be true or false")
    return Pacing(max_per_owner_per_day=cap, business_days=business)


def pacing_table(pacing: Pacing) -> dict[str, Any] | None:
    if pacing == Pacing():
        return None
    table: dict[str, Any] = {"business_days": pacing.business_days}
    if pacing.max_per_owner_per_day is not None:
        table["max_per_owner_per_day"] = pacing.max_per_owner_per_day
    return table


def _positive(raw: dict[str, Any], key: str, origin: str, default: int | None) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInput(
            f"{origin}: [enroll] {key} must be a whole number of at least 1 (got {value!r})")
    return value


def _created_after(raw: dict[str, Any], origin: str) -> date | None:
    value = raw.get("created_after")
    if value is None or (isinstance(value, date) and not isinstance(value, datetime)):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InvalidInput(
        f"{origin}: [enroll] created_after must be a date like 2026-01-31 (got {value!r})")


def enroll_from(data: dict[str, Any], origin: str) -> EnrollRule | None:
    raw = _table(data, "enroll", origin)
    if raw is None:
        return None
    for key in raw:
        if key not in ENROLL_KEYS:
            raise InvalidInput(
                f"{origin}: [enroll] unknown key {key!r} (expected: {', '.join(ENROLL_KEYS)})")
    where = raw.get("where", [])
    if not isinstance(where, list) or not all(isinstance(w, str) for w in where):
        raise InvalidInput(
            f"{origin}: [enroll] where must be an array of \"COLUMN=VALUE\" texts, as "
            "`connect --where` takes them")
    pairs = []
    for condition in where:
        column, sep, value = condition.partition("=")
        if not sep or not column.strip():
            raise InvalidInput(f"{origin}: [enroll] where {condition!r}: expected COLUMN=VALUE")
        pairs.append((column.strip(), value))
    return EnrollRule(
        where=tuple(pairs), created_after=_created_after(raw, origin),
        max_per_run=_positive(raw, "max_per_run", origin, 500) or 500,
        reenroll_after_days=_positive(raw, "reenroll_after_days", origin, None),
    )


def enroll_table(rule: EnrollRule | None) -> dict[str, Any] | None:
    if rule is None:
        return None
    table: dict[str, Any] = {"where": [f"{c}={v}" for c, v in rule.where]}
    if rule.created_after is not None:
        table["created_after"] = rule.created_after
    table["max_per_run"] = rule.max_per_run
    if rule.reenroll_after_days is not None:
        table["reenroll_after_days"] = rule.reenroll_after_days
    return table


def enroll_text(rule: EnrollRule) -> str:
    """The rule in one line, for people."""
    parts = [f"{c} = {v!r}" for c, v in rule.where]
    if rule.created_after:
        parts.append(f"created on or after {rule.created_after}")
    which = " and ".join(parts) or "every open record"
    again = (f"again {rule.reenroll_after_days} days after it ended"
             if rule.reenroll_after_days else "never twice")
    return f"{which}; at most {rule.max_per_run} a sync; a record {again}"
