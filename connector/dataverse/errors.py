"""Typed Dataverse errors, and the mapping from an HTTP reply to one of them.

Each error carries the HTTP status, the Dataverse error code, the CRM's message and the request
id, so a user (or a support ticket) can find the failing call. Messages never include headers,
so a bearer token cannot leak through an error.
"""

from __future__ import annotations

import json
import re
from typing import Any

from connector import errors as base

# Dataverse codes as unsigned 32-bit integers; replies carry them as hex or signed decimal.
CODE_NOT_FOUND = 0x80040217
CODE_DUPLICATE_KEY = 0x80040237
DUPLICATE_TEXT = "matching key values already exists"
EXPIRED_DELTA_TEXT = "version stamp associated with the client has expired"
_MAX_MESSAGE = 400


def code_value(code: str | None) -> int | None:
    """The unsigned value of a Dataverse error code given as `0x8004...` or `-2147...`."""
    if not code:
        return None
    text = code.strip()
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        return None
    return value & 0xFFFFFFFF


def one_line(text: str, limit: int = _MAX_MESSAGE) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class DataverseError(base.SeqsyncError):
    """The CRM answered, but not with what we asked for."""

    def __init__(
        self,
        status: int | None,
        code: str | None,
        message: str,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code or ""
        self.message = one_line(message)
        self.request_id = request_id
        super().__init__(self._describe())

    def _describe(self) -> str:
        parts = ["CRM"]
        if self.status is not None:
            parts.append(str(self.status))
        if self.code:
            parts.append(self.code)
        text = " ".join(parts) + f": {self.message}"
        if self.request_id:
            text += f" (request id {self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.status, self.code, self.message, self.request_id))


class NotFound(DataverseError, base.NotFound):
    """404, or code 0x80040217: the row does not exist."""


class DuplicateKey(DataverseError):
    """The row already exists (0x80040237, or 412 "matching key values already exists")."""


class PreconditionFailed(DataverseError):
    """412: the row's version did not match the If-Match ETag."""


class DeltaTokenExpired(DataverseError):
    """The saved change-tracking token is too old: a full re-read is needed."""


class ServerBusy(DataverseError, base.CrmUnavailable):
    """A reply that asks us to come back later, possibly saying when (`Retry-After`)."""

    def __init__(
        self,
        status: int | None,
        code: str | None,
        message: str,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, code, message, request_id)

    def __reduce__(self) -> tuple[Any, ...]:
        args = (self.status, self.code, self.message, self.request_id, self.retry_after)
        return (self.__class__, args)


class Throttled(ServerBusy):
    """429 service protection; still throttled once retries ran out."""


class TransientError(ServerBusy):
    """5xx: the CRM failed and kept failing after retries."""


class AuthFailed(DataverseError, base.CrmUnavailable):
    """401 after one token refresh, or 403: the CRM refused our identity."""


class BadResponse(DataverseError):
    """The reply cannot be trusted: not JSON, truncated, an error in a 200, a looping link.

    Exit code 3 like CrmUnavailable, but deliberately not one: the CRM is there and answering,
    so callers may set the one spoiled request aside (a table's pull, a chunk's create) and
    carry on with the rest of the run, where an unreachable CRM ends it.
    """

    exit_code = base.EXIT_CRM


class CrmUnreachable(DataverseError, base.CrmUnavailable):
    """No reply at all: connection refused, DNS failure, TLS verification failure, timeout."""

    def __init__(self, message: str, request_id: str | None = None) -> None:
        super().__init__(None, None, message, request_id)

    def __reduce__(self) -> tuple[Any, ...]:
        return (self.__class__, (self.message, self.request_id))


def is_busy(exc: BaseException | None) -> bool:
    """The one classification of a failed call: the CRM was busy (throttled, or a 5xx), so the
    same request may succeed later. Retries, and deferring work to the next run, go by it."""
    return isinstance(exc, ServerBusy)


def means_exists(exc: BaseException | None) -> bool:
    """A create refused because a row with that id exists already (412 on If-None-Match)."""
    return isinstance(exc, DuplicateKey | PreconditionFailed)


def parse_error_body(text: str) -> tuple[str, str] | None:
    """(code, message) from a Dataverse error body, or None when it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("error"), dict):
        return None
    err = data["error"]
    code = err.get("code")
    message = err.get("message")
    return (
        code if isinstance(code, str) else "",
        message if isinstance(message, str) else "(no message)",
    )


_TAG = re.compile(r"<[^>]*>")


def _snippet(text: str) -> str:
    """A short readable excerpt of a non-JSON body (HTML error pages from proxies)."""
    stripped = one_line(_TAG.sub(" ", text), 160)
    return stripped or "(empty body)"


def error_for(
    status: int,
    body: str,
    request_id: str | None,
    retry_after: float | None = None,
) -> DataverseError:
    """The typed error for a non-2xx reply."""
    parsed = parse_error_body(body)
    if parsed is None:
        code, message = "", f"non-JSON error reply: {_snippet(body)}"
    else:
        code, message = parsed
    value = code_value(code)
    lowered = message.lower()
    if EXPIRED_DELTA_TEXT in lowered:
        return DeltaTokenExpired(status, code, message, request_id)
    if status == 429:
        return Throttled(status, code, message, request_id, retry_after)
    if status in (401, 403):
        hint = "check client id/secret" if status == 401 else "check the application user's role"
        return AuthFailed(status, code, f"CRM refused authentication ({message}): {hint}",
                          request_id)
    if status >= 500:
        return TransientError(status, code, message, request_id, retry_after)
    if value == CODE_DUPLICATE_KEY or (status == 412 and DUPLICATE_TEXT in lowered):
        return DuplicateKey(status, code, message, request_id)
    if status == 412:
        return PreconditionFailed(status, code, message, request_id)
    if status == 404 or value == CODE_NOT_FOUND:
        if parsed is None:
            return BadResponse(status, code, f"{message} (is [crm] url right?)", request_id)
        return NotFound(status, code, message, request_id)
    if parsed is None:
        return BadResponse(status, code, message, request_id)
    return DataverseError(status, code, message, request_id)
