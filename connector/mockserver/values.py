"""Column values: type checks on write (with Dataverse's error codes) and formatted values."""

from __future__ import annotations

import re
from datetime import datetime

from . import errors
from .odata_filter import normalize_date
from .schema import Attr

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_EDM = {"Integer": "Edm.Int32", "BigInt": "Edm.Int64", "Decimal": "Edm.Decimal",
        "Money": "Edm.Decimal", "Double": "Edm.Double", "Boolean": "Edm.Boolean",
        "DateTime": "Edm.DateTimeOffset", "Picklist": "Edm.Int32", "State": "Edm.Int32",
        "Status": "Edm.Int32", "Uniqueidentifier": "Edm.Guid", "String": "Edm.String",
        "Memo": "Edm.String", "EntityName": "Edm.String"}
_INT_RANGE = {"Integer": (-2147483648, 2147483647), "BigInt": (-(2**63), 2**63 - 1),
              "Picklist": (-2147483648, 2147483647)}


def payload_error(entity_set: str, value: object, attr: Attr) -> errors.ApiError:
    """What Dataverse answers when a JSON value cannot be read as the column's Edm type."""
    return errors.ApiError(
        400, errors.PAYLOAD_INVALID,
        f"Error identified in Payload provided by the user for Entity :'{entity_set}', For "
        "more information on this error please follow this help link "
        "https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : "
        f"Microsoft.OData.ODataException: Cannot convert the literal '{value}' to the expected "
        f"type '{_EDM.get(attr.kind, 'Edm.String')}'.",
        field=attr.logical,
    )


def _range_error(logical: str, attr: Attr, value: object, accepted: str) -> errors.ApiError:
    return errors.bad_request(
        f"A validation error occurred.  The value {value} of '{attr.logical}' on record of type "
        f"'{logical}' is outside the valid range. Accepted Values: {accepted}",
        errors.VALIDATION,
    )


def check(attr: Attr, value: object, logical: str, entity_set: str) -> object:
    """The value to store for a written column, or a Dataverse-shaped 400."""
    if value is None:
        return None
    kind = attr.kind
    if kind == "File":
        raise errors.bad_request(
            f"The file column '{attr.logical}' is written by uploading to "
            f"{entity_set}(<id>)/{attr.logical}, not in a record's JSON.",
            errors.VALIDATION,
        )
    if kind in ("String", "Memo", "EntityName"):
        if not isinstance(value, str):
            raise payload_error(entity_set, value, attr)
        if attr.max_length is not None and len(value) > attr.max_length:
            raise errors.bad_request(
                f"A validation error occurred.  The length of the '{attr.logical}' attribute of "
                f"the '{logical}' entity exceeded the maximum allowed length of "
                f"'{attr.max_length}'.",
                errors.VALIDATION,
            )
        return value
    if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer() and kind in ("Integer", "BigInt"):
                value = int(value)
            else:
                raise payload_error(entity_set, value, attr)
        low, high = _INT_RANGE.get(kind, (-2147483648, 2147483647))
        if attr.min_value is not None:
            low = int(attr.min_value)
        if attr.max_value is not None:
            high = int(attr.max_value)
        if kind == "Picklist" and attr.options and value not in attr.options:
            raise _range_error(logical, attr, value, ",".join(str(k) for k in attr.options))
        if not low <= value <= high:
            raise _range_error(logical, attr, value, f"{low} to {high}")
        return value
    if kind in ("Decimal", "Money", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise payload_error(entity_set, value, attr)
        low = attr.min_value if attr.min_value is not None else -100000000000000.0
        high = attr.max_value if attr.max_value is not None else 100000000000000.0
        if not low <= value <= high:
            raise _range_error(logical, attr, value, f"{low:g} to {high:g}")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise payload_error(entity_set, value, attr)
        return value
    if kind == "DateTime":
        if not isinstance(value, str):
            raise payload_error(entity_set, value, attr)
        try:
            return normalize_date(value)
        except ValueError:
            raise payload_error(entity_set, value, attr) from None
    if kind == "Uniqueidentifier" or attr.is_lookup:
        if not isinstance(value, str) or not _GUID.match(value):
            raise payload_error(entity_set, value, attr)
        return value.lower()
    return value


def infer_kind(value: object) -> str:
    """The column type of an undeclared custom column, from its first value."""
    if isinstance(value, bool):
        return "Boolean"
    if isinstance(value, int):
        return "Integer"
    if isinstance(value, float):
        return "Double"
    return "String"


def formatted(attr: Attr, value: object) -> str | None:
    """`OData.Community.Display.V1.FormattedValue` for a non-lookup column (lookups: caller)."""
    if value is None:
        return None
    kind = attr.kind
    if kind in ("Picklist", "State", "Status"):
        return attr.options.get(value)  # type: ignore[call-overload]
    if kind == "Boolean":
        if attr.labels is None:
            return "Yes" if value else "No"
        return attr.labels[1] if value else attr.labels[0]
    if kind == "Money" and isinstance(value, int | float):
        return f"${value:,.2f}"
    if kind in ("Integer", "BigInt") and isinstance(value, int):
        return f"{value:,}"
    if kind in ("Decimal", "Double") and isinstance(value, int | float):
        return f"{value:,.2f}"
    if kind == "DateTime" and isinstance(value, str):
        moment = datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ")
        hour = moment.hour % 12 or 12
        return (f"{moment.month}/{moment.day}/{moment.year} {hour}:{moment.minute:02d} "
                f"{'PM' if moment.hour >= 12 else 'AM'}")
    return None
