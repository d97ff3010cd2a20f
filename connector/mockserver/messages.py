"""Request and response values shared by the HTTP layer, the Web API and `$batch`."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

JSON_TYPE = "application/json; odata.metadata=minimal"


@dataclass
class ApiRequest:
    method: str
    path: str  # below the API root, percent-decoded, without a leading slash
    query: list[tuple[str, str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes = b""
    caller: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)

    def option(self, name: str) -> str | None:
        for key, value in self.query:
            if key == name:
                return value
        return None

    def json(self) -> dict[str, object]:
        from .errors import bad_request

        if not self.body.strip():
            return {}
        try:
            data = json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise bad_request(f"The request body is not valid JSON: {exc}.") from None
        if not isinstance(data, dict):
            raise bad_request("The request body must be a JSON object.")
        return data

    def prefer(self) -> dict[str, str]:
        """`Prefer: odata.track-changes,odata.maxpagesize=500` -> {name: value}."""
        out: dict[str, str] = {}
        # Commas inside a quoted value (`odata.include-annotations="a,b"`) do not split.
        for raw in re.split(r',(?=(?:[^"]*"[^"]*")*[^"]*$)', self.header("prefer")):
            item = raw.strip()
            if not item:
                continue
            name, _, value = item.partition("=")
            out[name.strip().lower()] = value.strip().strip('"')
        return out


@dataclass
class ApiResponse:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""

    @classmethod
    def json(
        cls, status: int, payload: object, headers: dict[str, str] | None = None
    ) -> ApiResponse:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return cls(status, {"Content-Type": JSON_TYPE, **(headers or {})}, body)
