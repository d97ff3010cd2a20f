"""A requests.Session that notes every exchange, to check timing claims from the client side."""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from connector.config import Settings
from connector.dataverse.client import DataverseClient


@dataclass(frozen=True)
class Exchange:
    thread: int
    method: str
    url: str
    started: float
    ended: float
    status: int | None
    retry_after: float | None
    allowance: int  # the client's concurrency allowance when the request left


class Recorder:
    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []
        self.client: DataverseClient | None = None
        self._lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def session(self) -> requests.Session:
        recorder = self

        class RecordingSession(requests.Session):
            def request(self, method: str, url: str, *args: Any, **kwargs: Any
                        ) -> requests.Response:  # type: ignore[override]
                allowance = recorder.client.concurrency if recorder.client else 0
                with recorder._lock:
                    recorder.in_flight += 1
                    recorder.max_in_flight = max(recorder.max_in_flight, recorder.in_flight)
                started = time.monotonic()
                status: int | None = None
                retry_after: float | None = None
                try:
                    resp = super().request(method, url, *args, **kwargs)
                    status = resp.status_code
                    if resp.headers.get("Retry-After", "").isdigit():
                        retry_after = float(resp.headers["Retry-After"])
                    return resp
                finally:
                    with recorder._lock:
                        recorder.in_flight -= 1
                        recorder.exchanges.append(Exchange(
                            threading.get_ident(), method, url, started, time.monotonic(),
                            status, retry_after, allowance,
                        ))

        session = RecordingSession()
        session.mount("https://", HTTPAdapter(pool_connections=2, pool_maxsize=4, max_retries=0))
        return session

    def factory(self, settings: Settings) -> DataverseClient:
        from connector.logs import register_secret
        from connector.sync.crm import make_client

        make_client(settings)  # the same checks a real run makes
        register_secret(None)
        cap = settings.sync.max_workers or settings.sync.max_workers_cap
        self.client = DataverseClient(settings.crm, max_concurrency=cap,
                                      session_factory=self.session)
        return self.client

    def early_retries(self) -> list[tuple[Exchange, Exchange]]:
        """(429, next request on the same thread) pairs where the next one left too early."""
        early = []
        by_thread: dict[int, list[Exchange]] = {}
        for ex in sorted(self.exchanges, key=lambda e: e.started):
            by_thread.setdefault(ex.thread, []).append(ex)
        for seq in by_thread.values():
            for first, second in itertools.pairwise(seq):
                if first.status == 429 and first.retry_after is not None \
                        and second.started < first.ended + first.retry_after - 0.01:
                    early.append((first, second))
        return early
