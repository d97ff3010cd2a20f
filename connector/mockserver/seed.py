"""Seed files: custom column and alternate-key declarations, then rows in Web API shape."""

from __future__ import annotations

from . import errors
from .errors import ApiError
from .schema import BY_SET, make_attr
from .service import Dataverse, lookup_column
from .store import Table


def load_seed(dv: Dataverse, seed: dict[str, object]) -> dict[str, int]:
    """Load seed JSON: `_columns` and `_keys` declarations first, then rows in an order that
    lets lookups resolve. The rows load all or nothing."""
    counts: dict[str, int] = {}
    # Users and customers first so that lookups in later tables resolve.
    order = sorted((s for s in seed if not s.startswith("_")),
                   key=lambda s: list(BY_SET).index(s) if s in BY_SET else 99)
    with dv.store.transaction():
        _declare(dv, seed.get("_columns"), seed.get("_keys"))
        for entity_set in order:
            rows = seed[entity_set]
            if entity_set not in BY_SET:
                raise errors.bad_request(f"Seed: unknown entity set '{entity_set}'.")
            if not isinstance(rows, list):
                raise errors.bad_request(f"Seed: '{entity_set}' must be a list of rows.")
            for index, row in enumerate(rows):
                if not isinstance(row, dict):
                    raise errors.bad_request(f"Seed: a row in '{entity_set}' is not an object.")
                try:
                    dv.insert_raw(entity_set, row)
                except ApiError as exc:
                    where = f"{entity_set}[{index}]" + (f".{exc.field}" if exc.field else "")
                    raise errors.bad_request(f"Seed: {where}: {exc.message}",
                                             exc.code) from None
            counts[entity_set] = len(rows)
    return counts


def _declare(dv: Dataverse, columns: object, keys: object) -> None:
    """Seed `_columns` ({set: {column: type}}) and `_keys` ({set: {name: [columns]}})."""
    for what, given in (("_columns", columns), ("_keys", keys)):
        if given is not None and not isinstance(given, dict):
            raise errors.bad_request(f"Seed: '{what}' must be an object keyed by entity set.")
    for entity_set, declared in (columns or {}).items():  # type: ignore[attr-defined]
        table = _seed_table(dv, entity_set, "_columns", declared)
        for name, spec in declared.items():
            if not isinstance(spec, str | dict):
                raise errors.bad_request(
                    f"Seed: _columns.{entity_set}.{name} must be a type name or an object."
                )
            try:
                attr = make_attr(name, spec, custom=True)
            except ValueError as exc:
                raise errors.bad_request(f"Seed: _columns.{entity_set}: {exc}.") from None
            if attr.column in table.attrs and not table.attrs[attr.column].custom:
                raise errors.bad_request(
                    f"Seed: _columns.{entity_set}.{name} is a standard column already."
                )
            table.attrs.pop(attr.column, None)
            if attr.column in table.columns:
                table.columns.remove(attr.column)
            table.add_column(attr)
            if attr.kind == "File":
                table.add_column(make_attr(f"{name}_name", {"type": "String", "max": 260,
                                                            "readonly": True}, custom=True))
    for entity_set, declared in (keys or {}).items():  # type: ignore[attr-defined]
        table = _seed_table(dv, entity_set, "_keys", declared)
        for name, key_columns in declared.items():
            if not isinstance(key_columns, list) or not key_columns or any(
                table.attrs.get(c) is None and lookup_column(table.columns, c) is None
                for c in key_columns
            ):
                raise errors.bad_request(
                    f"Seed: _keys.{entity_set}.{name} must list existing columns."
                )
            table.keys[name] = tuple(
                c if c in table.attrs else str(lookup_column(table.columns, c))
                for c in key_columns
            )

def _seed_table(dv: Dataverse, entity_set: str, what: str, declared: object) -> Table:
    if entity_set not in dv.store.tables:
        raise errors.bad_request(f"Seed: {what}: unknown entity set '{entity_set}'.")
    if not isinstance(declared, dict):
        raise errors.bad_request(f"Seed: {what}.{entity_set} must be an object.")
    return dv.store.tables[entity_set]
