"""File columns: upload in one PATCH or in chunks (`x-ms-transfer-mode: chunked`), download
from `$value`, delete. The column holds the file's id and `<column>_name` its name."""

from __future__ import annotations

import re
import uuid
from urllib.parse import quote

from . import errors
from .errors import ApiError, bad_request
from .messages import ApiRequest, ApiResponse
from .service import Dataverse, merge
from .store import Table

CHUNK_SIZE = 4 * 1024 * 1024
_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


class Files:
    def __init__(self, dv: Dataverse, api_url: str) -> None:
        self.dv = dv
        self.api_url = api_url
        # session token -> (entity set, row id, column, file name, bytes so far)
        self.sessions: dict[str, tuple[str, str, str, str, bytearray]] = {}

    @staticmethod
    def column_of(table: Table, rest: str) -> str | None:
        """The file column a `{set}(id)/<rest>` path names, if it is one."""
        name = rest.split("/")[0]
        attr = table.attrs.get(name)
        return name if attr is not None and attr.kind == "File" else None

    def handle(self, req: ApiRequest, entity_set: str, row_id: str, rest: str) -> ApiResponse:
        table = self.dv.table(entity_set)
        column = rest.split("/")[0]
        with self.dv.store.lock:
            row = table.rows.get(row_id)
            if row is None:
                raise errors.not_found(table.definition.logical, row_id)
            if req.method == "GET":
                return self._download(entity_set, row_id, column)
            if req.method == "DELETE":
                if (entity_set, row_id, column) not in self.dv.files:
                    raise ApiError(404, errors.NOT_FOUND, f"No file is attached to {column}.")
                del self.dv.files[(entity_set, row_id, column)]
                self._set(entity_set, row_id, column, None)
                return ApiResponse(204)
            if req.method != "PATCH":
                raise ApiError(405, "", f"{req.method} is not allowed on a file column.")
            token = req.option("sessiontoken")
            if token is not None:
                return self._chunk(req, token)
            name = req.header("x-ms-file-name") or req.option("x-ms-file-name") or ""
            if not name:
                raise bad_request("The x-ms-file-name header is required.", errors.VALIDATION)
            if req.header("if-none-match") == "*" and (
                    entity_set, row_id, column) in self.dv.files:
                raise ApiError(412, errors.DUPLICATE_KEY, "A file already exists.")
            if req.header("x-ms-transfer-mode").lower() == "chunked":
                token = str(uuid.uuid4())
                self.sessions[token] = (entity_set, row_id, column, name, bytearray())
                location = (f"{self.api_url}/{entity_set}({row_id})/{column}"
                            f"?sessiontoken={quote(token)}")
                return ApiResponse(200, {"Location": location,
                                         "x-ms-chunk-size": str(CHUNK_SIZE)})
            self._store(entity_set, row_id, column, name, req.body)
            return ApiResponse(204)

    def _chunk(self, req: ApiRequest, token: str) -> ApiResponse:
        session = self.sessions.get(token)
        if session is None:
            raise bad_request("The upload session token is not valid.", errors.VALIDATION)
        entity_set, row_id, column, name, data = session
        m = _RANGE.match(req.header("content-range"))
        if m is None:
            raise bad_request("A chunk needs 'Content-Range: bytes start-end/total'.",
                              errors.VALIDATION)
        start, end, total = (int(g) for g in m.groups())
        if start != len(data) or end - start + 1 != len(req.body) or end >= total:
            raise bad_request(f"Chunk bytes {start}-{end}/{total} does not follow the "
                              f"{len(data)} bytes received.", errors.VALIDATION)
        data.extend(req.body)
        if len(data) < total:
            return ApiResponse(206)
        del self.sessions[token]
        self._store(entity_set, row_id, column, name, bytes(data))
        return ApiResponse(204)

    def _store(self, entity_set: str, row_id: str, column: str, name: str,
               data: bytes) -> None:
        self.dv.files[(entity_set, row_id, column)] = (name, data)
        self._set(entity_set, row_id, column, name)

    def _set(self, entity_set: str, row_id: str, column: str, name: str | None) -> None:
        table = self.dv.table(entity_set)
        changes = {column: str(uuid.uuid4()) if name else None, f"{column}_name": name,
                   "modifiedon": self.dv.now()}
        self.dv.store.put(entity_set, row_id, merge(table.rows[row_id], changes))

    def _download(self, entity_set: str, row_id: str, column: str) -> ApiResponse:
        stored = self.dv.files.get((entity_set, row_id, column))
        if stored is None:
            raise ApiError(404, errors.NOT_FOUND, f"No file is attached to {column}.")
        name, data = stored
        return ApiResponse(200, {"Content-Type": "application/octet-stream",
                                 "x-ms-file-name": name, "x-ms-file-size": str(len(data))},
                           data)
