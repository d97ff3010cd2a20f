"""Shared by the mapping models: strict pydantic configuration and reading a row's key."""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from connector.mapping.errors import RowError
from connector.mapping.values import ValueProblem, parse_guid


class Strict(BaseModel):
    # strict: TOML has real types, so "yes" for a bool or "0" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def problem(self) -> tuple[str, str] | None:
        """The first rule that spans several keys and is broken, as (key, message)."""
        return None


def row_key(row: Mapping[str, object], table: str, key: str) -> str:
    """A CRM row's primary key as a lower-case GUID, or a RowError naming table and column."""
    raw = row.get(key)
    if raw is None:
        raise RowError(table, None, key, "primary key missing")
    try:
        return parse_guid(raw)
    except ValueProblem as exc:
        raise RowError(table, None, key, str(exc)) from None
