"""Failures that need real sockets on loopback: refused connections and untrusted TLS."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from requests.certs import where as certifi_where

from connector.dataverse import CrmUnreachable, DataverseClient, MsalTokenProvider

from .conftest import FakeTokens, Sleeps, make_crm


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_is_retried_then_exit_three(tmp_path: Path) -> None:
    sleeps = Sleeps()
    crm = make_crm(tmp_path, url=f"https://127.0.0.1:{_free_port()}", max_retries=2,
                   connect_timeout=2.0)
    client = DataverseClient(crm, FakeTokens(), sleep=sleeps)
    with pytest.raises(CrmUnreachable, match=r"cannot reach CRM at 127\.0\.0\.1") as info:
        client.whoami()
    assert info.value.exit_code == 3
    assert len(sleeps) == 2 and client.metrics.snapshot()["by_kind"] == {"connection": 2}


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(7)
        .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "srv.pem", tmp_path / "srv.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[int]:
    """A TLS listener with an untrusted certificate that completes handshakes, then closes."""
    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    listener.settimeout(5)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (ssl.SSLError, OSError):
                conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield int(listener.getsockname()[1])
    stop.set()
    listener.close()
    thread.join(timeout=5)


class _EntraHandler(BaseHTTPRequestHandler):
    """Just enough Entra (OIDC discovery + client-credentials token) for MSAL."""

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, data: dict[str, object]) -> None:
        raw = json.dumps(data).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def do_GET(self) -> None:
        base = f"https://127.0.0.1:{self.server.server_address[1]}/tenant"
        self._json({"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/authorize",
                    "token_endpoint": f"{base}/oauth2/v2.0/token"})

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self._json({"token_type": "Bearer", "expires_in": 3599, "access_token": "real-tls"})


def test_msal_uses_ca_bundle_even_when_requests_ca_bundle_is_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = _self_signed(tmp_path)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _EntraHandler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    # An environment-wide bundle that does not know our CA: [crm] ca_bundle must still win.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(Path(certifi_where())))
    monkeypatch.setenv("SEQSYNC_CLIENT_SECRET", "x")
    try:
        crm = make_crm(tmp_path, authority_host=f"https://127.0.0.1:{server.server_address[1]}",
                       tenant_id="tenant", ca_bundle=cert)
        assert MsalTokenProvider(crm).get_token() == "real-tls"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_untrusted_certificate_is_not_retried(tmp_path: Path, tls_server: int) -> None:
    sleeps = Sleeps()
    crm = make_crm(tmp_path, url=f"https://127.0.0.1:{tls_server}", connect_timeout=5.0,
                   read_timeout=5.0)
    client = DataverseClient(crm, FakeTokens(), sleep=sleeps)
    with pytest.raises(CrmUnreachable, match=r"TLS verification failed .*ca_bundle") as info:
        client.whoami()
    assert info.value.exit_code == 3 and sleeps == []
