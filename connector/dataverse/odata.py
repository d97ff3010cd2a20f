"""OData literals, ids and query strings: user text never changes the shape of a URL."""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import quote

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Sub-delimiters that OData readers expect verbatim and that cannot split a query string.
# `&`, `=`, `+`, `#`, `%`, `;`, spaces and controls are always percent-encoded.
_SAFE = "$'(),:@!*/"


def guid(value: object) -> str:
    """A canonical lower-case GUID string, or ValueError: ids must be GUIDs before URLs."""
    if isinstance(value, uuid.UUID):
        return str(value)
    if not isinstance(value, str) or not _GUID.fullmatch(value):
        raise ValueError(f"not a GUID: {value!r}")
    return value.lower()


def name(value: str) -> str:
    """An entity set, property or logical name: letters, digits and underscores only."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise ValueError(f"not a valid OData name: {value!r}")
    return value


def literal(value: Any) -> str:
    """An OData v4 literal for a $filter expression."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"no OData literal for {value!r}")
        return repr(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"no OData literal for {value!r}")
        return format(value, "f")
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"datetime without a time zone: {value.isoformat()}")
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise TypeError(f"no OData literal for {type(value).__name__}")


def entity_path(entity_set: str, record_id: object) -> str:
    """`leads(<guid>)`, with both parts validated."""
    return f"{name(entity_set)}({guid(record_id)})"


def in_filter(prop: str, values: Iterable[object]) -> str:
    """`Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=["a","b"])`."""
    items = [str(v) if isinstance(v, uuid.UUID) else v for v in values]
    if not items:
        raise ValueError("in_filter needs at least one value")
    if not all(isinstance(v, str) for v in items):
        raise TypeError("in_filter values must be strings or UUIDs")
    array = ",".join(json.dumps(v, ensure_ascii=False) for v in items)
    return f"Microsoft.Dynamics.CRM.In(PropertyName='{name(prop)}',PropertyValues=[{array}])"


def encode(value: str) -> str:
    """Percent-encode one query value (spaces as %20, `+` as %2B, `&` as %26, ...)."""
    return quote(value, safe=_SAFE)


def query_string(params: Mapping[str, str | None]) -> str:
    """`$select=a,b&$filter=...` from options; None values are left out."""
    parts = []
    for key, value in params.items():
        if value is None:
            continue
        parts.append(f"{encode(key)}={encode(value)}")
    return "&".join(parts)


def select_option(columns: Iterable[str]) -> str:
    return ",".join(name(c) for c in columns)
