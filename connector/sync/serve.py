"""`seqsync serve`: the sync loop for a long-running process (systemd, Kubernetes).

SIGTERM or SIGINT lets the current run finish, then the loop exits 0. A failed run is logged and
the loop backs off (doubling, capped) instead of dying; a success resets the pace. An error no
retry can fix (invalid configuration, missing credential, a tenant or secret Entra refuses)
ends the loop at once with exit code 2, so systemd and Kubernetes show the failure.
"""

from __future__ import annotations

import logging
import random
import re
import signal
import threading
from collections.abc import Callable
from types import FrameType
from typing import Protocol

from connector.config import Settings
from connector.dataverse.errors import CredentialRejected
from connector.errors import EXIT_INVALID, EXIT_OK, InvalidInput, LockHeld, SeqsyncError
from connector.sync.report import RunReport
from connector.sync.run import run_sync

log = logging.getLogger("seqsync.serve")

_UNITS = {"s": 1, "m": 60, "h": 3600}
MAX_BACKOFF = 3600.0


def parse_interval(text: str) -> float:
    """`90`, `90s`, `5m`, `1h` -> seconds."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smh]?)\s*", text)
    if not match or float(match.group(1)) <= 0:
        raise InvalidInput(f"--interval {text!r}: use a positive number of seconds, or 30s, 5m, 1h")
    return float(match.group(1)) * _UNITS[match.group(2) or "s"]


def is_permanent(exc: BaseException) -> bool:
    """Failures that the same process will meet again on every run, however long it waits."""
    return isinstance(exc, InvalidInput | CredentialRejected)


class RunObserver(Protocol):
    """Sees every run of the loop (metrics and health probes)."""

    def finished(self, report: RunReport) -> None:
        """The run's report, failed or not, when the run got that far."""

    def ended(self, outcome: str) -> None:
        """After every run: ok, partial, failed or skipped."""


class Loop:
    def __init__(
        self,
        settings: Settings,
        interval: float,
        *,
        run: Callable[..., RunReport] = run_sync,
        jitter: float = 0.1,
        rng: random.Random | None = None,
        max_runs: int | None = None,
        observer: RunObserver | None = None,
    ) -> None:
        self.settings = settings
        self.interval = interval
        self.jitter = jitter
        self.run = run
        self.rng = rng or random.Random()
        self.max_runs = max_runs
        self.observer = observer
        self.stop = threading.Event()
        self.runs = 0
        self.failures = 0
        self.exit_code = EXIT_OK

    def request_stop(self, signum: int | None = None, frame: FrameType | None = None) -> None:
        if not self.stop.is_set():
            log.info("stop requested; finishing the current run first")
        self.stop.set()

    def install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)

    def next_wait(self) -> float:
        base = self.interval
        if self.failures:
            base = min(self.interval * 2 ** self.failures, max(MAX_BACKOFF, self.interval))
        return base * (1 + self.rng.uniform(-self.jitter, self.jitter))

    def run_forever(self) -> int:
        while not self.stop.is_set():
            self.runs += 1
            self._run_once()
            if self.stop.is_set() or (self.max_runs is not None and self.runs >= self.max_runs):
                break
            wait = self.next_wait()
            log.info("next run in %.1f s", wait, extra={"wait_seconds": round(wait, 1)})
            self.stop.wait(wait)
        log.info("serve stopped after %d runs", self.runs)
        return self.exit_code

    def _run_once(self) -> None:
        outcome = "failed"
        try:
            outcome = self._attempt()
        finally:
            if self.observer is not None:
                self.observer.ended(outcome)

    def _attempt(self) -> str:
        """One run; returns its outcome (ok, partial, failed, skipped)."""
        hook = {"on_finish": self.observer.finished} if self.observer is not None else {}
        try:
            report = self.run(self.settings, **hook)
        except LockHeld as exc:
            log.warning("skipped: %s", exc)
            return "skipped"
        except SeqsyncError as exc:
            self.failures += 1
            if is_permanent(exc):
                log.error("stopping: %s (no retry can fix this; exit code 2)", exc,
                          extra={"permanent": True})
                self.exit_code = EXIT_INVALID
                self.stop.set()
                return "failed"
            log.error("run failed (%d in a row): %s", self.failures, exc)
            return "failed"
        except Exception as exc:  # the loop must outlive a bug in one run
            self.failures += 1
            log.exception("run crashed (%d in a row): %s", self.failures, exc)
            return "failed"
        self.failures = 0
        log.info(
            "run %s in %.1f s", report.outcome, report.duration_seconds,
            extra={"summary": report.summary()},
        )
        return report.outcome
