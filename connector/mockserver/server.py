"""`MockDataverse`: the HTTPS server, its lifecycle, and direct table access for tests."""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import socket
import ssl
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from . import certs, mailbox
from .app import App
from .auth import Entra
from .errors import ApiError, bad_request
from .generate import generate as generate_rows
from .limits import Limits, Stats
from .messages import ApiResponse
from .query import DeltaTokens
from .schema import ACTIVITY_SETS
from .seed import load_seed
from .service import Dataverse, merge
from .webapi import WebApi

log = logging.getLogger("seqsync.mockserver")

DEFAULT_TENANT = "8c1b0d5e-7d2a-4c3f-9e4b-5a6d7c8e9f01"
DEFAULT_CLIENT_ID = "5f3e2d1c-0b9a-4876-a5b4-c3d2e1f0a9b8"
_KEEP: Any = object()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "MockDataverse/1.0"
    timeout = 120  # idle keep-alive connections end eventually
    # Buffer the response so headers and body leave in one write (no Nagle/delayed-ACK stall).
    wbufsize = 1 << 16
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _serve(self) -> None:
        try:
            body = self._body()
        except ValueError:
            self._send(ApiResponse.json(400, {"error": {"code": "", "message": "Bad body."}}))
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        try:
            resp = self.server.app.dispatch(self.command, self.path, headers, body)
        except Exception:  # a bug in the mock must answer 500, not kill the connection
            log.exception("mock server error on %s %s", self.command, self.path)
            resp = ApiResponse.json(
                500, {"error": {"code": "0x80040216", "message": "Mock server internal error."}}
            )
        if resp is None:
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self._send(resp)

    def _send(self, resp: ApiResponse) -> None:
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        body = b"" if resp.status == 304 else resp.body
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = do_HEAD = _serve


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    app: App

    def __init__(self, address: tuple[str, int], context: ssl.SSLContext) -> None:
        super().__init__(address, _Handler)
        self.context = context
        self.open_connections: set[socket.socket] = set()
        self.lock = threading.Lock()

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The TLS handshake runs in the handler thread, so a slow client blocks nobody.
        tls = self.context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self.lock:
            self.open_connections.add(tls)
        return tls, addr

    def shutdown_request(self, request: Any) -> None:
        with self.lock:
            self.open_connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client disconnects and TLS handshake failures are normal for a test server.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)


class MockDataverse:
    """A mock Dataverse Web API and Entra token endpoint over HTTPS on loopback.

    `with MockDataverse(generate={"leads": 50}) as crm:` starts it; `crm.url`, `crm.authority`,
    `crm.ca_file`, `crm.client_id` and `crm.client_secret` are what a client needs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        seed: dict | str | Path | None = None,
        generate: dict[str, int] | None = None,
        ca_file: str | Path | None = None,
        client_id: str | None = None,
        client_secret: str | None = None,
        tenant: str | None = None,
        rate_limit: tuple[int, float] | None = None,
        concurrency_limit: int | None = None,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        delta_token_ttl: float | None = None,
        token_lifetime: int = 3599,
    ) -> None:
        self.host = host
        self._requested_port = port
        self.tenant = tenant or DEFAULT_TENANT
        self.client_id = client_id or DEFAULT_CLIENT_ID
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self._ca_file_arg = Path(ca_file) if ca_file else None
        self._token_lifetime = token_lifetime
        self.limits = Limits(rate_limit, concurrency_limit, latency_ms, fault_rate, fault_seed)
        self.stats_counter = Stats()
        self.tokens = DeltaTokens()
        self.tokens.ttl = delta_token_ttl
        self.dv = Dataverse(app_user_id=str(uuid.uuid5(uuid.NAMESPACE_URL, self.client_id)))
        self._certificates: list[bytes] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0
        if seed is not None:
            self.load_seed(seed)
        if generate:
            generate_rows(self.dv, generate)

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"https://{host}:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api/data/v9.2"

    @property
    def authority(self) -> str:
        return f"{self.url}/{self.tenant}"

    @property
    def ca_file(self) -> str:
        return str(self._ca_file_arg) if self._ca_file_arg else certs.default_ca_file()

    def start(self) -> MockDataverse:
        if self._server is not None:
            return self
        material = certs.tls_material()
        if self._ca_file_arg is not None:
            self._ca_file_arg.parent.mkdir(parents=True, exist_ok=True)
            self._ca_file_arg.write_bytes(material.ca_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(material.cert_file, material.key_file)
        server = _Server((self.host, self._requested_port), context)
        self.port = server.server_address[1]
        self.entra = Entra(self.url, self.tenant, self.client_id, self.client_secret,
                           self._token_lifetime)
        for pem in self._certificates:
            self.entra.register_certificate(pem)
        self.api = WebApi(self.dv, self.tokens, self.api_url)
        server.app = App(self.dv, self.entra, self.api, self.limits, self.stats_counter,
                         self._admin)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.02},
            name=f"mock-dataverse-{self.port}", daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.lock:
            connections = list(server.open_connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> MockDataverse:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait(self) -> None:
        """Block until stop() is called (used by the command line)."""
        if self._thread is not None:
            self._thread.join()

    # -- direct table access -----------------------------------------------------------------

    def rows(self, entity_set: str) -> list[dict[str, object]]:
        with self.dv.store.lock:
            table = self.dv.table(entity_set)
            return [_public(table.columns, r) for r in table.rows.values()]

    def get(self, entity_set: str, row_id: str) -> dict[str, object] | None:
        with self.dv.store.lock:
            table = self.dv.table(entity_set)
            row = table.rows.get(str(row_id).lower())
            return _public(table.columns, row) if row is not None else None

    def insert(self, entity_set: str, row: dict[str, object]) -> str:
        with self.dv.store.lock:
            return self.dv.insert_raw(entity_set, row)

    def update(self, entity_set: str, row_id: str, changes: dict[str, object]) -> None:
        """Edit a row as a seller would: new version and modifiedon, seen by change tracking."""
        with self.dv.store.transaction():
            table = self.dv.table(entity_set)
            row_id = str(row_id).lower()
            if row_id not in table.rows:
                raise KeyError(f"{entity_set}({row_id}) does not exist")
            for key in changes:
                if key not in table.columns and "@" not in key:
                    table.columns.append(key)
            values = {k: v for k, v in changes.items() if "@" not in k}
            state = {k: values.pop(k) for k in ("statecode", "statuscode") if k in values}
            row = merge(table.rows[row_id], values)
            # State rules (valid pairs, actualend on completion) apply as for an API write.
            self.dv._apply_state(table.definition, row, state, row_id)
            row["modifiedon"] = self.dv.now()
            self.dv.compute(table, row, changes)
            self.dv.store.put(entity_set, row_id, row)

    def delete(self, entity_set: str, row_id: str) -> None:
        self.dv.delete(entity_set, str(row_id).lower())

    def receive_email(
        self,
        sender: tuple[str, str] | str,
        subject: str,
        *,
        description: str = "",
        regarding: tuple[str, str] | None = None,
        in_reply_to: str | None = None,
    ) -> str:
        """A prospect's reply arriving (see `mailbox.receive_email`); returns its id."""
        return mailbox.receive_email(self.dv, sender, subject, description=description,
                                     regarding=regarding, in_reply_to=in_reply_to)

    def fail_email(self, email_id: str) -> None:
        """The mailbox could not deliver a sent email: it becomes Open / Failed (0/8)."""
        mailbox.fail_email(self.dv, email_id)

    def load_seed(self, seed: dict | str | Path) -> dict[str, int]:
        where = ""
        if not isinstance(seed, dict):
            where = f"seed file {seed}: "
            path = Path(seed)
            try:
                seed = json.loads(path.read_text(encoding="utf-8"))
            except OSError as exc:
                raise ValueError(f"seed file {path}: {exc.strerror}") from None
            except ValueError as exc:
                raise ValueError(f"seed file {path}: not valid JSON ({exc})") from None
            if not isinstance(seed, dict):
                raise ValueError(f"seed file {path}: must be a JSON object keyed by entity set")
        try:
            return load_seed(self.dv, seed)
        except ApiError as exc:
            raise ValueError(where + exc.message) from None

    def stats(self) -> dict[str, Any]:
        snap = self.stats_counter.snapshot()
        with self.dv.store.lock:
            snap["rows"] = {name: len(t.rows) for name, t in self.dv.store.tables.items()}
        snap["rows"]["activitypointers"] = sum(
            snap["rows"][s] for s in ACTIVITY_SETS
        )
        return snap

    def reset(self) -> None:
        """Empty every table (the built-in system users come back) and zero the stats."""
        self.dv.store.clear()
        self.dv.add_builtin_users()
        self.stats_counter.reset()
        self.tokens.forget()  # a delta token from before the reset is no longer valid
        self.dv.files.clear()

    def set_faults(
        self,
        *,
        rate_limit: tuple[int, float] | None = _KEEP,
        concurrency_limit: int | None = _KEEP,
        latency_ms: float | None = None,
        fault_rate: float | None = None,
        fault_seed: int | None = None,
        delta_token_ttl: float | None = _KEEP,
    ) -> None:
        self.limits.configure(
            rate_limit="keep" if rate_limit is _KEEP else rate_limit,
            concurrency_limit="keep" if concurrency_limit is _KEEP else concurrency_limit,
            latency_ms=latency_ms, fault_rate=fault_rate, fault_seed=fault_seed,
        )
        if delta_token_ttl is not _KEEP:
            self.tokens.ttl = delta_token_ttl

    def set_client_secret(self, new: str) -> None:
        self.client_secret = new
        if self._server is not None:
            self.entra.client_secret = new

    def expire_tokens(self) -> None:
        if self._server is not None:
            self.entra.expire_all()

    def register_certificate(self, cert_pem: bytes) -> None:
        self._certificates.append(cert_pem)
        if self._server is not None:
            self.entra.register_certificate(cert_pem)

    # -- admin surface -----------------------------------------------------------------------

    def _admin(self, method: str, name: str, data: dict[str, object]) -> ApiResponse:
        if name == "stats" and method == "GET":
            return ApiResponse.json(200, self.stats())
        if name == "reset" and method == "POST":
            self.reset()
            return ApiResponse.json(200, {"reset": True})
        if name == "seed" and method == "POST":
            return ApiResponse.json(200, {"loaded": self.load_seed(data)})
        if name == "faults" and method == "GET":
            return ApiResponse.json(200, self._fault_settings())
        if name == "faults" and method == "POST":
            self.set_faults(**parse_fault_settings(data))
            return ApiResponse.json(200, self._fault_settings())
        raise ApiError(404, "", f"No admin endpoint {method} /_mock/{name}.")

    def _fault_settings(self) -> dict[str, object]:
        return {**self.limits.settings(), "delta_token_ttl": self.tokens.ttl}


def _number(data: dict[str, object], name: str, low: float, high: float | None,
            *, integer: bool = False, nullable: bool = False) -> object:
    value = data[name]
    if value is None and nullable:
        return None
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    if ok and integer:
        ok = float(value).is_integer()  # type: ignore[arg-type]
    if ok and not (low <= value and (high is None or value <= high)):  # type: ignore[operator]
        ok = False
    if not ok:
        kind = "a whole number" if integer else "a number"
        bounds = f"between {low:g} and {high:g}" if high is not None else f"of at least {low:g}"
        null = " or null" if nullable else ""
        raise ValueError(f"{name} must be {kind} {bounds}{null}, not {json.dumps(value)}")
    return int(value) if integer else float(value)  # type: ignore[arg-type]


def parse_fault_settings(data: dict[str, object]) -> dict[str, Any]:
    """Checked keyword arguments for `set_faults` from a `/_mock/faults` JSON body."""
    known = ("rate_limit", "concurrency_limit", "latency_ms", "fault_rate", "fault_seed",
             "delta_token_ttl")
    unknown = set(data) - set(known)
    if unknown:
        raise bad_request(f"Unknown fault setting(s): {', '.join(sorted(unknown))}; "
                          f"use {', '.join(known)}.")
    out: dict[str, Any] = {}
    if "rate_limit" in data:
        out["rate_limit"] = (None if data["rate_limit"] is None
                             else parse_rate_limit(data["rate_limit"]))
    if "concurrency_limit" in data:
        out["concurrency_limit"] = _number(data, "concurrency_limit", 1, None, integer=True,
                                           nullable=True)
    if "latency_ms" in data:
        out["latency_ms"] = _number(data, "latency_ms", 0, 600000)
    if "fault_rate" in data:
        out["fault_rate"] = _number(data, "fault_rate", 0, 1)
    if "fault_seed" in data:
        out["fault_seed"] = _number(data, "fault_seed", 0, 2**63, integer=True)
    if "delta_token_ttl" in data:
        out["delta_token_ttl"] = _number(data, "delta_token_ttl", 0, None, nullable=True)
    return out


def parse_rate_limit(value: object) -> tuple[int, float]:
    """`"6000/300"` or `[6000, 300]` -> (6000, 300.0)."""
    if isinstance(value, str):
        count, sep, seconds = value.partition("/")
        if not sep:
            raise ValueError(f"rate limit '{value}' must look like REQUESTS/SECONDS, e.g. 6000/300")
        value = [count, seconds]
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise ValueError(f"rate limit {value!r} must be [requests, seconds]")
    try:
        count, seconds = int(value[0]), float(value[1])
    except (TypeError, ValueError):
        raise ValueError(f"rate limit {value!r} must be numbers") from None
    if count < 1 or seconds <= 0:
        raise ValueError("rate limit needs at least 1 request over a positive number of seconds")
    return count, seconds


def _public(columns: list[str], row: dict[str, object]) -> dict[str, object]:
    """A copy with every column of the table (null ones as None) and no annotations."""
    return {c: row.get(c) for c in columns}
