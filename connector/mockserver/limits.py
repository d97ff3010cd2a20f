"""Service protection (429s), deterministic fault injection, and request statistics."""

from __future__ import annotations

import math
import random
import threading
import time
from collections import Counter, defaultdict, deque

from . import errors
from .errors import ApiError

FAULT_KINDS = ("500", "502", "503", "drop")


class Limits:
    """Sliding-window request limit and concurrency limit per caller, plus seeded faults."""

    def __init__(
        self,
        rate_limit: tuple[int, float] | None = None,
        concurrency_limit: int | None = None,
        latency_ms: float = 0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._windows: dict[str, deque[float]] = defaultdict(deque)
        self._active: Counter[str] = Counter()
        self.rate_limit = rate_limit
        self.concurrency_limit = concurrency_limit
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self._random = random.Random(fault_seed)
        self.fault_seed = fault_seed
        self.sleep = time.sleep  # replaceable, so tests can observe latency without waiting

    def configure(
        self,
        *,
        rate_limit: tuple[int, float] | str | None = "keep",
        concurrency_limit: int | str | None = "keep",
        latency_ms: float | None = None,
        fault_rate: float | None = None,
        fault_seed: int | None = None,
    ) -> None:
        with self._lock:
            if rate_limit != "keep":
                self.rate_limit = rate_limit  # type: ignore[assignment]
                self._windows.clear()
            if concurrency_limit != "keep":
                self.concurrency_limit = concurrency_limit  # type: ignore[assignment]
            if latency_ms is not None:
                self.latency_ms = float(latency_ms)
            if fault_rate is not None:
                if not 0.0 <= fault_rate <= 1.0:
                    raise ValueError("fault_rate must be between 0 and 1")
                self.fault_rate = float(fault_rate)
            if fault_seed is not None:
                self.fault_seed = fault_seed
                self._random = random.Random(fault_seed)

    def admit(self, caller: str) -> None:
        """Count one request; raise a 429 ApiError when a limit is exceeded."""
        now = time.monotonic()
        with self._lock:
            if self.concurrency_limit is not None and (
                self._active[caller] >= self.concurrency_limit
            ):
                raise ApiError(
                    429, errors.CONCURRENCY_LIMIT,
                    f"Number of concurrent requests exceeded the limit of "
                    f"{self.concurrency_limit}.",
                    {"Retry-After": "1"},
                )
            if self.rate_limit is not None:
                count, seconds = self.rate_limit
                window = self._windows[caller]
                while window and window[0] <= now - seconds:
                    window.popleft()
                if len(window) >= count:
                    wait = max(1, math.ceil(window[0] + seconds - now))
                    raise ApiError(
                        429, errors.REQUEST_LIMIT,
                        f"Number of requests exceeded the limit of {count} over time window "
                        f"of {seconds:g} seconds.",
                        {"Retry-After": str(wait)},
                    )
                window.append(now)
            self._active[caller] += 1

    def release(self, caller: str) -> None:
        with self._lock:
            self._active[caller] -= 1

    def draw_fault(self) -> str | None:
        """The fault for the next API request, from the seeded sequence, or None."""
        with self._lock:
            if self.fault_rate <= 0:
                return None
            roll = self._random.random()
            kind = FAULT_KINDS[self._random.randrange(len(FAULT_KINDS))]
            return kind if roll < self.fault_rate else None

    def delay(self) -> None:
        if self.latency_ms > 0:
            self.sleep(self.latency_ms / 1000)

    def settings(self) -> dict[str, object]:
        return {
            "rate_limit": list(self.rate_limit) if self.rate_limit else None,
            "concurrency_limit": self.concurrency_limit,
            "latency_ms": self.latency_ms,
            "fault_rate": self.fault_rate,
            "fault_seed": self.fault_seed,
        }


class Stats:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self.total = 0
            self.api = 0
            self.by_method: Counter[str] = Counter()
            self.by_route: Counter[str] = Counter()
            self.by_status: Counter[str] = Counter()
            self.batch_by_route: Counter[str] = Counter()
            self.throttled = 0
            self.faults: Counter[str] = Counter()
            self.batch_operations = 0

    def record(self, method: str, route: str, status: int, *, api: bool) -> None:
        with self._lock:
            self.total += 1
            self.api += int(api)
            self.by_method[method] += 1
            self.by_route[route] += 1
            self.by_status[str(status)] += 1
            if status == 429:
                self.throttled += 1

    def record_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] += 1

    def record_batch_operation(self, route: str) -> None:
        with self._lock:
            self.batch_operations += 1
            self.batch_by_route[route] += 1

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "requests": {
                    "total": self.total, "api": self.api,
                    "by_method": dict(self.by_method), "by_route": dict(self.by_route),
                    "by_status": dict(self.by_status),
                },
                "throttled": self.throttled,
                "faults": dict(self.faults),
                "batch_operations": self.batch_operations,
                "batch_by_route": dict(self.batch_by_route),
            }
