"""`$batch`: multipart/mixed requests with atomic change sets and `Content-ID` references."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

from . import errors
from .errors import bad_request
from .messages import ApiRequest, ApiResponse
from .store import Store

MAX_OPERATIONS = 1000
_BOUNDARY = re.compile(r'boundary="?([^";,\s]+)"?', re.IGNORECASE)
API_ROOT = "/api/data/v9.2/"

Handler = Callable[[ApiRequest, Callable[[str], str | None]], ApiResponse]


@dataclass
class Operation:
    request: ApiRequest
    content_id: str | None


@dataclass
class ChangeSet:
    operations: list[Operation] = field(default_factory=list)


def boundary_of(content_type: str) -> str:
    m = _BOUNDARY.search(content_type)
    if m is None or "multipart/mixed" not in content_type.lower():
        raise bad_request(
            "The $batch request needs 'Content-Type: multipart/mixed; boundary=...'.",
            errors.BATCH_INVALID,
        )
    return m.group(1)


def split_parts(text: str, boundary: str) -> list[str]:
    """Parts between `--boundary` lines (CRLF or LF), without the closing delimiter."""
    delimiter = "--" + boundary
    parts: list[str] = []
    current: list[str] | None = None
    for line in text.split("\n"):
        stripped = line.rstrip("\r").rstrip()
        if stripped == delimiter:
            if current is not None:
                parts.append("\n".join(current))
            current = []
        elif stripped == delimiter + "--":
            if current is not None:
                parts.append("\n".join(current))
            current = None
            break
        elif current is not None:
            current.append(line.rstrip("\r"))
    return parts


def _headers_and_body(block: str) -> tuple[dict[str, str], str]:
    head, _, body = block.lstrip("\n").partition("\n\n")
    headers = {}
    for line in head.split("\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers, body


def _parse_request(block: str, caller: str) -> ApiRequest:
    text = block.lstrip("\n")
    request_line, _, remainder = text.partition("\n")
    bits = request_line.split()
    if len(bits) < 2:
        raise bad_request(f"Invalid request line in $batch part: '{request_line}'.",
                          errors.BATCH_INVALID)
    # The URL may hold unencoded spaces (`$filter=LogicalName eq 'x'`, as the SDK sends):
    # it is everything between the method and the trailing HTTP version.
    if len(bits) > 2 and bits[-1].upper().startswith("HTTP/"):
        bits = [bits[0], " ".join(request_line.split(None, 1)[1].rsplit(None, 1)[:1]), bits[-1]]
    method, url = bits[0].upper(), bits[1]
    if remainder.startswith("\n") or not remainder.strip():
        headers, body = {}, remainder
    else:
        headers, body = _headers_and_body(remainder)
    parts = urlsplit(url)
    path = unquote(parts.path)
    if API_ROOT in path:
        path = path.split(API_ROOT, 1)[1]
    elif path.startswith("/"):
        raise bad_request(f"URL '{url}' in $batch is outside the Web API.", errors.BATCH_INVALID)
    return ApiRequest(
        method=method, path=path, query=parse_qsl(parts.query, keep_blank_values=True),
        headers=headers, body=body.strip("\n").encode(), caller=caller,
    )


def parse_batch(req: ApiRequest) -> list[Operation | ChangeSet]:
    boundary = boundary_of(req.header("content-type"))
    text = req.body.decode("utf-8", errors="replace")
    items: list[Operation | ChangeSet] = []
    for part in split_parts(text, boundary):
        headers, body = _headers_and_body(part)
        content_type = headers.get("content-type", "")
        if "multipart/mixed" in content_type.lower():
            change_set = ChangeSet()
            for inner in split_parts(body, boundary_of(content_type)):
                inner_headers, inner_body = _headers_and_body(inner)
                op = Operation(_parse_request(inner_body, req.caller),
                               inner_headers.get("content-id"))
                if op.request.method == "GET":
                    raise bad_request("A change set may not contain GET requests.",
                                      errors.BATCH_INVALID)
                if op.request.path == "$batch":
                    raise bad_request("Nested $batch requests are not allowed.",
                                      errors.BATCH_INVALID)
                change_set.operations.append(op)
            items.append(change_set)
        elif "application/http" in content_type.lower() or not content_type:
            op = Operation(_parse_request(body, req.caller), headers.get("content-id"))
            if op.request.path == "$batch":
                raise bad_request("Nested $batch requests are not allowed.",
                                  errors.BATCH_INVALID)
            items.append(op)
        else:
            raise bad_request(f"Unsupported part Content-Type '{content_type}' in $batch.",
                              errors.BATCH_INVALID)
    count = sum(len(i.operations) if isinstance(i, ChangeSet) else 1 for i in items)
    if count > MAX_OPERATIONS:
        raise bad_request(
            f"The number of requests in the batch ({count}) exceeds the limit of "
            f"{MAX_OPERATIONS}.",
            errors.BATCH_INVALID,
        )
    return items


def _http_part(resp: ApiResponse, content_id: str | None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id is not None:
        lines.append(f"Content-ID: {content_id}")
    try:
        reason = HTTPStatus(resp.status).phrase
    except ValueError:
        reason = "Unknown"
    lines += ["", f"HTTP/1.1 {resp.status} {reason}", "OData-Version: 4.0"]
    if resp.status >= 400:
        lines.append(f"REQ_ID: {uuid.uuid4()}")
    lines += [f"{k}: {v}" for k, v in resp.headers.items()]
    lines += ["", resp.body.decode()]
    return "\r\n".join(lines)


class _Rollback(Exception):
    def __init__(self, response: ApiResponse, content_id: str | None) -> None:
        super().__init__("change set failed")
        self.response = response
        self.content_id = content_id


class BatchRunner:
    """Runs parsed batch items in order against the Web API handler."""

    def __init__(
        self, store: Store, handler: Handler, api_url: str,
        on_operation: Callable[[ApiRequest, ApiResponse], None],
    ) -> None:
        self.store = store
        self.handler = handler
        self.api_url = api_url
        self.on_operation = on_operation

    def run(self, req: ApiRequest) -> ApiResponse:
        items = parse_batch(req)
        keep_going = "odata.continue-on-error" in req.prefer()
        refs: dict[str, str] = {}

        def resolve(ref: str) -> str | None:
            return refs.get(ref.lstrip("$"))

        def run_one(op: Operation) -> ApiResponse:
            resp = self.handler(op.request, resolve)
            self.on_operation(op.request, resp)
            entity = resp.headers.get("OData-EntityId")
            if op.content_id and entity and resp.status < 400:
                refs[op.content_id] = entity.removeprefix(self.api_url + "/")
            return resp

        boundary = f"batchresponse_{uuid.uuid4()}"
        chunks: list[str] = []
        failed = False
        for item in items:
            if isinstance(item, Operation):
                resp = run_one(item)
                chunks.append(_http_part(resp, item.content_id))
                failed = resp.status >= 400
            else:
                added: list[str] = []
                try:
                    with self.store.transaction():
                        results = []
                        for op in item.operations:
                            resp = run_one(op)
                            if op.content_id:
                                added.append(op.content_id)
                            if resp.status >= 400:
                                raise _Rollback(resp, op.content_id)
                            results.append(_http_part(resp, op.content_id))
                except _Rollback as rollback:
                    for cid in added:
                        refs.pop(cid, None)
                    chunks.append(_http_part(rollback.response, rollback.content_id))
                    failed = True
                else:
                    inner = f"changesetresponse_{uuid.uuid4()}"
                    body = "".join(f"--{inner}\r\n{r}\r\n" for r in results) + f"--{inner}--"
                    chunks.append(
                        f"Content-Type: multipart/mixed; boundary={inner}\r\n\r\n{body}"
                    )
                    failed = False
            if failed and not keep_going:
                break
        body = "".join(f"--{boundary}\r\n{c}\r\n" for c in chunks) + f"--{boundary}--\r\n"
        status = 400 if failed and not keep_going else 200
        return ApiResponse(
            status, {"Content-Type": f"multipart/mixed; boundary={boundary}"}, body.encode()
        )
