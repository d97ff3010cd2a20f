"""The one retry policy for every Dataverse call, its metrics and the concurrency hint."""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from tenacity import RetryCallState, Retrying, retry_if_exception

from connector.dataverse.errors import CrmUnreachable, ServerBusy, Throttled, is_busy

log = logging.getLogger("seqsync.dataverse")
T = TypeVar("T")

BACKOFF_BASE = 1.0
BACKOFF_CAP = 60.0
DEFAULT_DOP = 5
MAX_DOP = 52
RESTORE_AFTER = 50  # successes in a row before the concurrency hint grows by one


class RetryableUnreachable(CrmUnreachable):
    """No reply, but sending again is safe (reset, timeout, refused connection)."""


def retry_kind(exc: BaseException) -> str | None:
    """Why this failure may be retried, or None when it is permanent."""
    if is_busy(exc):
        return "throttled" if isinstance(exc, Throttled) else f"http_{getattr(exc, 'status', 0)}"
    if isinstance(exc, RetryableUnreachable):
        return "connection"
    return None


@dataclass
class Metrics:
    """Thread-safe counters for one client: read with snapshot()."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    retry_wait_seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def count_request(self) -> None:
        with self._lock:
            self.requests += 1

    def count_retry(self, kind: str, wait: float) -> None:
        with self._lock:
            self.retries += 1
            self.retry_wait_seconds += wait
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if kind == "throttled":
                self.throttled += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "requests": self.requests,
                "retries": self.retries,
                "throttled": self.throttled,
                "retry_wait_seconds": self.retry_wait_seconds,
                "by_kind": dict(self.by_kind),
            }


class Concurrency:
    """Adaptive parallelism: the server's x-ms-dop-hint, halved on 429, regrown slowly."""

    def __init__(self, cap: int = MAX_DOP) -> None:
        self.cap = max(1, min(cap, MAX_DOP))
        self._target = min(DEFAULT_DOP, self.cap)
        self._current = self._target
        self._streak = 0
        self._lock = threading.Lock()

    @property
    def value(self) -> int:
        with self._lock:
            return self._current

    def set_hint(self, hint: int | None) -> None:
        with self._lock:
            self._target = max(1, min(hint or DEFAULT_DOP, self.cap))
            self._current = self._target
            self._streak = 0

    def throttled(self) -> None:
        with self._lock:
            self._current = max(1, self._current // 2)
            self._streak = 0

    def succeeded(self) -> None:
        with self._lock:
            if self._current >= self._target:
                return
            self._streak += 1
            if self._streak >= RESTORE_AFTER:
                self._current += 1
                self._streak = 0


def backoff(attempt: int, rng: Callable[[float, float], float] = random.uniform) -> float:
    """Full-jitter exponential backoff: uniform in [0.5, 1] x base x 2^(attempt-1), capped."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * 2 ** (attempt - 1))
    return rng(ceiling / 2, ceiling)


class RetryPolicy:
    """Runs a call under bounded retries; `idempotent=False` calls run exactly once."""

    def __init__(
        self,
        *,
        max_retries: int,
        max_seconds: float,
        metrics: Metrics,
        concurrency: Concurrency,
        sleep: Callable[[float], None],
    ) -> None:
        self.max_retries = max_retries
        self.max_seconds = max_seconds
        self.metrics = metrics
        self.concurrency = concurrency
        self.sleep = sleep

    def run(self, what: str, idempotent: bool, call: Callable[[], T]) -> T:
        waited = 0.0

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            told = exc.retry_after if isinstance(exc, ServerBusy) else None
            if isinstance(exc, Throttled) and told is not None:
                # Service protection: sending earlier than told only lengthens the penalty.
                return told
            delay = backoff(state.attempt_number)
            return max(delay, told) if told is not None else delay

        def stop(state: RetryCallState) -> bool:
            if not idempotent or state.attempt_number > self.max_retries:
                return True
            return waited + state.upcoming_sleep > self.max_seconds

        def before_sleep(state: RetryCallState) -> None:
            nonlocal waited
            exc = state.outcome.exception() if state.outcome else None
            kind = retry_kind(exc) if exc else None
            delay = state.upcoming_sleep
            waited += delay
            self.metrics.count_retry(kind or "unknown", delay)
            log.warning(
                "retrying %s: %s (attempt %d of %d, waiting %.1fs)",
                what, exc, state.attempt_number, self.max_retries + 1, delay,
                extra={"retry_kind": kind, "attempt": state.attempt_number, "wait": delay},
            )

        def observe(exc: BaseException) -> bool:
            if isinstance(exc, Throttled):
                self.concurrency.throttled()
            return retry_kind(exc) is not None

        retrying = Retrying(
            retry=retry_if_exception(observe),
            wait=wait,
            stop=stop,
            sleep=self.sleep,
            before_sleep=before_sleep,
            reraise=True,
        )
        result = retrying(call)
        self.concurrency.succeeded()
        return result
