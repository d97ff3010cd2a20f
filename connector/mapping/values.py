"""Column value types a mapping can declare, and the conversions from Web API JSON values.

Converted values stay JSON-safe (datetimes become ISO-8601 UTC strings ending in `Z`) because
`Record.columns` is stored as JSON by the state store and must read back the same.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Literal

from pydantic import StringConstraints

ColumnType = Literal["string", "int", "float", "bool", "datetime", "guid"]

# Dataverse column logical names are lower-case; lookups read as `_<name>_value`.
Column = Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]*$", max_length=128)]
# Navigation properties and entity set names may carry a schema name's capitals.
Name = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]


class ValueProblem(ValueError):
    """A value that does not have the declared type; the caller adds the record and column."""


# A lone UTF-16 surrogate (an emoji cut in half, which the Web API accepts) cannot be encoded
# as UTF-8, so it can be neither stored nor sent: it is kept as U+FFFD, the rest as it is.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise ValueProblem(f"expected a string, got {_describe(value)}")
    if value.isascii():
        return value
    return _LONE_SURROGATE.sub("\ufffd", value)


def _int(value: object) -> int:
    # bool is an int in Python, but a Dataverse two-options value is not a whole number.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueProblem(f"expected a whole number, got {_describe(value)}")
    return value


def _float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueProblem(f"expected a number, got {_describe(value)}")
    return float(value)


def _bool(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueProblem(f"expected true or false, got {_describe(value)}")
    return value


def parse_datetime(value: object) -> datetime:
    """A Web API date-time string as an aware UTC datetime (naive input is taken as UTC)."""
    if not isinstance(value, str):
        raise ValueProblem(f"expected an ISO-8601 date-time string, got {_describe(value)}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueProblem(f"expected an ISO-8601 date-time, got {value!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """`2025-03-01T09:30:00Z`: the form Dataverse writes and accepts."""
    zone = moment.tzinfo
    if (zone is None or zone is UTC) and moment.year >= 1000:
        # Already UTC (what the store hands back): the C isoformat is several times quicker
        # than astimezone + strftime. strftime does not pad years before 1000, hence the test.
        return moment.isoformat(timespec="seconds")[:19] + "Z"
    if zone is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def _datetime(value: object) -> str:
    return iso_utc(parse_datetime(value))


_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")


def parse_guid(value: object) -> str:
    """A GUID as the lower-case string the rest of seqsync uses for ids."""
    if not isinstance(value, str):
        raise ValueProblem(f"expected a GUID string, got {_describe(value)}")
    if _GUID.match(value):
        return value.lower()
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise ValueProblem(f"expected a GUID, got {value!r}") from None


def _describe(value: object) -> str:
    text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{type(value).__name__} {text}"


CONVERTERS: dict[str, Callable[[object], object]] = {
    "string": _string,
    "int": _int,
    "float": _float,
    "bool": _bool,
    "datetime": _datetime,
    "guid": parse_guid,
}
