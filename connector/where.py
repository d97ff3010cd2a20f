"""COLUMN=VALUE filters of records (the CLI's `--where`, the web console's filter box): only
columns a record has, or the filter silently matches nothing."""

from __future__ import annotations

from collections.abc import Iterable

from connector.config import Settings
from connector.errors import InvalidInput, printable
from connector.mapping import load_for_settings
from connector.store import records as record_store


def known_columns(settings: Settings, table: str | None) -> list[str]:
    """Record fields, then the extra columns the mappings of the synced tables declare."""
    mappings = load_for_settings(settings)
    extra: list[str] = []
    for mapping in mappings.targets:
        if table is None or mapping.logical_name == table:
            extra += [c for c in mapping.columns if c not in extra]
    return [*record_store.FIELDS, *(c for c in extra if c not in record_store.FIELDS)]


def parse_where(
    pairs: Iterable[str], settings: Settings, table: str | None, option: str = "--where"
) -> dict[str, str]:
    """`option` names the filter in the error, as the person typed it."""
    conditions = record_store.parse_where(pairs)
    known = known_columns(settings, table)
    for column in conditions:
        if column not in known:
            on = f" of {table} records" if table else ""
            raise InvalidInput(
                f"{option} {printable(column)}=...: no such column{on} (known: {', '.join(known)})"
            )
    return conditions
