"""Dataverse-shaped errors raised inside the mock and turned into JSON error bodies."""

from __future__ import annotations

# Hex codes as Dataverse reports them (see reference §3, §8, §12).
NOT_FOUND = "0x80040217"
DUPLICATE_KEY = "0x80040237"
VALIDATION = "0x80044331"
VERSION_MISMATCH = "0x80060882"
QUERY_INVALID = "0x80060888"
INVALID_STATE = "0x8004431a"
DELTA_EXPIRED = "0x80044352"
REQUEST_LIMIT = "0x80072322"
CONCURRENCY_LIMIT = "0x80072326"
BATCH_INVALID = "0x80048d19"
PAYLOAD_INVALID = "0x80048d19"  # "Error identified in Payload provided by the user for Entity"
INVALID_ARGUMENT = "0x80040203"
INVALID_FETCHXML = "0x80040303"
FETCH_NO_ATTRIBUTE = "0x80041103"
FETCH_NO_ENTITY = "0x80041102"
FETCH_BAD_OPERATOR = "0x80041120"
FETCH_BAD_COOKIE = "0x8004112A"
AGGREGATE_LIMIT = "0x8004E023"
INVALID_TEMPLATE = "0x80040313"
READ_ONLY = "0x8004022e"
KEY_NOT_DEFINED = "0x80060890"
KEY_NOT_FOUND = "0x80060891"
NOT_IMPLEMENTED = "0x80040800"
RESOURCE_NOT_FOUND = "0x8006088a"


class ApiError(Exception):
    """An error the Web API answers with `{"error": {"code", "message"}}`."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        headers: dict[str, str] | None = None,
        field: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.field = field  # the column at fault, for messages outside the Web API (seed files)

    def body(self) -> dict[str, object]:
        return {"error": {"code": self.code, "message": self.message}}


def bad_request(message: str, code: str = QUERY_INVALID) -> ApiError:
    return ApiError(400, code, message)


def not_found(logical: str, row_id: str) -> ApiError:
    return ApiError(404, NOT_FOUND, f"{logical} With Id = {row_id} Does Not Exist")


def unknown_property(name: str, logical: str) -> ApiError:
    return ApiError(
        400,
        QUERY_INVALID,
        f"The property '{name}' does not exist on type 'Microsoft.Dynamics.CRM.{logical}'. "
        "Make sure to only use property names that are defined by the type.",
    )


def not_implemented(feature: str) -> ApiError:
    """A request the mock understands but does not implement: loud, never a silent 200."""
    return ApiError(
        501, NOT_IMPLEMENTED,
        f"The mock Dataverse does not implement {feature}. See docs/mockserver.md for what it "
        "supports.",
    )
