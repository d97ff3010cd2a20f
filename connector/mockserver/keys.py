"""Record keys in URLs: `(guid)`, `(leadid=guid)`, and alternate keys such as
`(emailaddress1='ann@example.com')` or `(key1=2,key2='x')`."""

from __future__ import annotations

import re

from . import errors
from .errors import ApiError
from .store import Table

_GUID = re.compile(r"^[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}$")
_PAIR = re.compile(r"\s*(?P<name>\w+)\s*=\s*(?P<value>'(?:[^']|'')*'|[^,]+?)\s*(?:,|$)")


def parse(text: str) -> dict[str, object] | str:
    """A bare GUID (returned as a string) or `{column: value}` pairs."""
    text = text.strip()
    if _GUID.match(text):
        return text.lower()
    pairs: dict[str, object] = {}
    pos = 0
    while pos < len(text):
        m = _PAIR.match(text, pos)
        if m is None or m.end() == pos:
            raise errors.bad_request(f"Invalid key segment '({text})'.")
        raw = m.group("value")
        value: object
        if raw.startswith("'"):
            value = raw[1:-1].replace("''", "'")
        elif _GUID.match(raw):
            value = raw.lower()
        else:
            try:
                value = float(raw) if "." in raw else int(raw)
            except ValueError:
                raise errors.bad_request(f"Invalid key value '{raw}' in '({text})'.") from None
        pairs[m.group("name")] = value
        pos = m.end()
    return pairs


def _same(a: object, b: object) -> bool:
    if isinstance(a, str) and isinstance(b, str):
        return a.lower() == b.lower()
    return a == b


def resolve(table: Table, text: str) -> tuple[str | None, dict[str, object]]:
    """(row id or None when no row matches, the alternate-key values or {} for a primary key)."""
    tdef = table.definition
    parsed = parse(text)
    if isinstance(parsed, str):
        return parsed, {}
    if set(parsed) == {tdef.primary_key}:
        value = parsed[tdef.primary_key]
        if not isinstance(value, str) or not _GUID.match(value):
            raise errors.bad_request(f"'{value}' is not a valid GUID for {tdef.primary_key}.")
        return value.lower(), {}
    if not any(set(cols) == set(parsed) for cols in table.keys.values()):
        resource = f"Microsoft.Dynamics.CRM.{tdef.logical}"
        raise ApiError(
            400, errors.KEY_NOT_DEFINED,
            f"The key in the request URI is not valid for resource '{resource}'. Ensure that "
            "the names and number of key properties match the declared or alternate key "
            f"properties for the resource '{resource}'.",
        )
    for row_id, row in table.rows.items():
        if all(_same(row.get(c), v) for c, v in parsed.items()):
            return row_id, parsed
    return None, parsed


def not_found(table: Table) -> ApiError:
    return ApiError(
        404, errors.KEY_NOT_FOUND,
        f"A record with the specified key values does not exist in "
        f"{table.definition.logical} entity",
    )
