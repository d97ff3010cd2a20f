"""The HTTP endpoint of `seqsync serve --metrics-port`: Prometheus `/metrics`, and the
`/healthz` and `/readyz` probes Kubernetes (or any monitor) asks, on one port."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

from connector.errors import InvalidInput


class Health:
    """What the probes answer: alive while the loop runs; ready once a run succeeded and the
    last run did not fail."""

    def __init__(self) -> None:
        self.stopping = False
        self.last_outcome: str | None = None

    def live(self) -> tuple[bool, str]:
        return (not self.stopping, "stopping" if self.stopping else "ok")

    def ready(self) -> tuple[bool, str]:
        if self.last_outcome is None:
            return False, "no run has finished yet"
        if self.last_outcome in ("ok", "partial", "skipped"):
            return True, f"last run: {self.last_outcome}"
        return False, f"last run: {self.last_outcome}"


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds
        return


class MetricsServer:
    """A small WSGI server in a daemon thread: prometheus-client's app plus two probes."""

    def __init__(self, registry: CollectorRegistry, health: Health, host: str, port: int
                 ) -> None:
        self.health = health
        prometheus = make_wsgi_app(registry)

        def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            path = environ.get("PATH_INFO", "")
            if path in ("/healthz", "/readyz"):
                ok, text = (health.live if path == "/healthz" else health.ready)()
                start_response("200 OK" if ok else "503 Service Unavailable",
                               [("Content-Type", "text/plain; charset=utf-8")])
                return [f"{text}\n".encode()]
            return prometheus(environ, start_response)  # type: ignore[no-any-return]

        try:
            self.server = make_server(host, port, app, ThreadingWSGIServer,
                                      handler_class=_QuietHandler)
        except OSError as exc:
            raise InvalidInput(f"--metrics-port {port}: cannot listen on {host}: "
                               f"{exc.strerror}") from None
        self.port = int(self.server.server_port)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True,
                                       name="seqsync-metrics")

    def start(self) -> MetricsServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
