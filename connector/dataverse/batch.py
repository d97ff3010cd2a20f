"""$batch: build multipart/mixed requests and parse multipart replies defensively."""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from connector.dataverse.errors import BadResponse, DataverseError, error_for

CRLF = "\r\n"
MAX_OPERATIONS = 1000


@dataclass(frozen=True)
class BatchOperation:
    """One request inside a $batch. `url` is relative to the API root (`tasks(<id>)`) or a
    change-set reference (`$1`)."""

    method: str
    url: str
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_id: str | None = None
    idempotent: bool | None = None  # None: GET/PATCH/PUT/DELETE are, POST is not

    @property
    def is_idempotent(self) -> bool:
        if self.idempotent is not None:
            return self.idempotent
        return self.method.upper() != "POST"


@dataclass(frozen=True)
class BatchResult:
    status: int
    headers: dict[str, str]
    body: Any
    content_id: str | None = None
    error: DataverseError | None = None
    message: str = ""  # the error's one-line text; empty on success

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    @property
    def entity_id(self) -> str | None:
        """The id from OData-EntityId / Location on a create, if any."""
        link = self.headers.get("odata-entityid") or self.headers.get("location")
        if not link:
            return None
        match = re.search(r"\(([0-9a-fA-F-]{36})\)\s*$", link)
        return match.group(1).lower() if match else None


def _part(op: BatchOperation, api_url: str, in_changeset: bool) -> str:
    if any(c in op.url for c in " \t\r\n"):
        raise ValueError(f"batch url contains whitespace: {op.url!r}")
    method = op.method.upper()
    if in_changeset and method == "GET":
        raise ValueError("a change set (atomic batch) cannot contain GET")
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if op.content_id is not None:
        lines.append(f"Content-ID: {op.content_id}")
    target = op.url if op.url.startswith("$") else f"{api_url}/{op.url.lstrip('/')}"
    lines += ["", f"{method} {target} HTTP/1.1"]
    headers = dict(op.headers)
    for key, value in headers.items():
        if any(c in key + value for c in "\r\n"):
            raise ValueError(f"batch header {key!r} contains a line break")
    body = ""
    if op.body is not None:
        headers.setdefault("Content-Type", "application/json; type=entry")
        body = json.dumps(op.body, ensure_ascii=False)
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += ["", body]
    return CRLF.join(lines)


def build_batch(
    operations: list[BatchOperation], api_url: str, *, atomic: bool
) -> tuple[str, bytes]:
    """(Content-Type header, body) for POST {api}/$batch."""
    if not operations:
        raise ValueError("a batch needs at least one operation")
    if len(operations) > MAX_OPERATIONS:
        raise ValueError(f"a batch holds at most {MAX_OPERATIONS} operations")
    boundary = f"batch_{uuid.uuid4()}"
    out: list[str] = []
    if atomic:
        changeset = f"changeset_{uuid.uuid4()}"
        inner = [f"--{changeset}{CRLF}{_part(op, api_url, True)}" for op in operations]
        out.append(
            f"--{boundary}{CRLF}Content-Type: multipart/mixed; boundary=\"{changeset}\"{CRLF}{CRLF}"
            + CRLF.join(inner) + f"{CRLF}--{changeset}--{CRLF}"
        )
    else:
        out += [f"--{boundary}{CRLF}{_part(op, api_url, False)}{CRLF}" for op in operations]
    body = "".join(out) + f"--{boundary}--{CRLF}"
    return f'multipart/mixed; boundary="{boundary}"', body.encode("utf-8")


_BOUNDARY = re.compile(r'boundary=(?:"([^"]+)"|([^;\s]+))', re.IGNORECASE)


def _boundary(content_type: str) -> str:
    match = _BOUNDARY.search(content_type or "")
    if not content_type.lower().startswith("multipart/") or not match:
        raise BadResponse(None, None, f"batch reply is not multipart: {content_type[:80]!r}")
    return match.group(1) or match.group(2)


def _split_head(block: str) -> tuple[dict[str, str], str]:
    """Headers (lower-cased names) and the rest, for LF or CRLF text."""
    text = block.replace("\r\n", "\n")
    head, sep, rest = text.partition("\n\n")
    if not sep:
        head, rest = text, ""
    headers: dict[str, str] = {}
    for line in head.split("\n"):
        if not line.strip():
            continue
        key, colon, value = line.partition(":")
        if not colon:
            raise BadResponse(None, None, f"batch reply: bad header line {line[:60]!r}")
        headers[key.strip().lower()] = value.strip()
    return headers, rest


def _split_parts(text: str, boundary: str) -> list[str]:
    delimiter = f"--{boundary}"
    if f"{delimiter}--" not in text:
        raise BadResponse(None, None, "batch reply is truncated (no closing boundary)")
    body = text.split(f"{delimiter}--", 1)[0]
    chunks = body.split(delimiter)
    # Whatever precedes the first delimiter is preamble and is ignored.
    return [c.lstrip("\r\n") if c.startswith(("\r\n", "\n")) else c for c in chunks[1:]]


def _http_part(headers: dict[str, str], rest: str, request_id: str | None) -> BatchResult:
    rest = rest.lstrip("\r\n")
    status_line, _, after = rest.replace("\r\n", "\n").partition("\n")
    match = re.match(r"HTTP/\d\.\d\s+(\d{3})\b", status_line)
    if not match:
        raise BadResponse(None, None, f"batch reply: bad status line {status_line[:60]!r}")
    status = int(match.group(1))
    if not 100 <= status <= 599:
        raise BadResponse(None, None, f"batch reply: impossible status {status}")
    inner_headers, body_text = _split_head(after)
    body_text = body_text.strip()
    body: Any = None
    if body_text:
        try:
            body = json.loads(body_text)
        except ValueError:
            if 200 <= status < 300:
                raise BadResponse(status, None, "batch reply: part body is not JSON") from None
            body = body_text
    error = None
    if not 200 <= status < 300:
        part_id = inner_headers.get("req_id") or request_id
        error = error_for(status, body_text, part_id, None)
    message = str(error) if error else ""
    return BatchResult(status, inner_headers, body, headers.get("content-id"), error, message)


def parse_batch(content_type: str, payload: bytes, request_id: str | None = None,
                depth: int = 0) -> list[BatchResult]:
    """Results in reply order; anything malformed raises BadResponse, never another error."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise BadResponse(None, None, "batch reply is not UTF-8") from None
    results: list[BatchResult] = []
    for chunk in _split_parts(text, _boundary(content_type)):
        headers, rest = _split_head(chunk)
        kind = headers.get("content-type", "").lower()
        if kind.startswith("multipart/"):
            if depth > 0:
                raise BadResponse(None, None, "batch reply: change sets nested too deep")
            results += parse_batch(headers["content-type"], rest.encode("utf-8"),
                                   request_id, depth + 1)
        elif kind.startswith("application/http"):
            results.append(_http_part(headers, rest, request_id))
        else:
            raise BadResponse(None, None, f"batch reply: unexpected part type {kind[:60]!r}")
    return results
