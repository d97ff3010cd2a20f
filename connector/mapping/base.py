"""Shared pydantic configuration for mapping files: strict types, unknown keys refused."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    # strict: TOML has real types, so "yes" for a bool or "0" for a number is a mistake to report.
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
