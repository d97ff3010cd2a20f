"""The optional tables of a sequence file beyond its steps: [pacing] (and their export)."""

from __future__ import annotations

from typing import Any

from connector.engine.models import Pacing
from connector.errors import InvalidInput

PACING_KEYS = ("max_per_owner_per_day", "business_days")


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
