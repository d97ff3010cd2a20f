"""Prometheus metrics for operations: `serve --metrics-port` and `sync --metrics-file`.

One set of metric names for both. `serve` keeps them in memory and serves `/metrics`,
`/healthz` and `/readyz` on one port; a cron run restores the counters from the textfile it
wrote last time (node-exporter's textfile collector reads it), adds its own run and rewrites
the file atomically, so counters keep counting across runs. Fed from the RunReport (which
carries the client's request counts) and, for the gauges, from the state database.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    disable_created_metrics,
    write_to_textfile,
)
from prometheus_client.parser import text_string_to_metric_families

from connector.app import open_app
from connector.config import Settings
from connector.errors import InvalidInput, LockHeld
from connector.health import Health
from connector.store import overview
from connector.sync.report import RunReport

log = logging.getLogger("seqsync.metrics")

# `_created` series would be "when this process started counting": meaningless for a textfile
# rewritten by every cron run, and noise for serve.
disable_created_metrics()


@dataclass(frozen=True)
class StateFigures:
    backlog: int
    connections: list[tuple[str, str, int]]
    last_success: datetime | None


def read_state(settings: Settings) -> StateFigures:
    with open_app(settings) as app, app.store.begin() as db:
        return StateFigures(overview.outbox_backlog(db), overview.connections_by_sequence(db),
                            overview.last_success(db))


class SyncMetrics:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.registry = CollectorRegistry()
        r = self.registry
        self.runs = Counter("seqsync_runs", "Sync runs by outcome (ok, partial, failed, "
                            "skipped: another run held the lock).", ["outcome"], registry=r)
        self.run_seconds = Counter("seqsync_run_seconds", "Seconds spent in sync runs.",
                                   registry=r)
        self.last_duration = Gauge("seqsync_last_run_duration_seconds",
                                   "Duration of the last sync run.", registry=r)
        self.requests = Counter("seqsync_crm_requests", "CRM Web API requests by kind (read, "
                                "create, batch, ...) and HTTP status (no_reply: none came).",
                                ["kind", "status"], registry=r)
        self.throttled = Counter("seqsync_crm_throttled", "429 answers (service protection).",
                                 registry=r)
        self.retry_wait = Counter("seqsync_crm_retry_wait_seconds", "Seconds waited before "
                                  "retries: Retry-After on 429s, backoff otherwise.", registry=r)
        self.created = Counter("seqsync_activities_created", "Activities created in the CRM "
                               "by type.", ["type"], registry=r)
        self.backlog = Gauge("seqsync_outbox_backlog", "Activities planned but not yet "
                             "created in the CRM.", registry=r)
        self.connections = Gauge("seqsync_connections", "Records on a sequence, by sequence "
                                 "and status (scheduled, waiting).", ["sequence", "status"],
                                 registry=r)
        self.last_success = Gauge("seqsync_last_success_timestamp_seconds", "When the last "
                                  "successful (ok or partial) run finished, Unix time.",
                                  registry=r)
        self.since_success = Gauge("seqsync_seconds_since_last_success", "Seconds since the "
                                   "last successful run (NaN before the first).", registry=r)
        self.since_success.set_function(self._since_success)
        self._last_success: float | None = None
        # By family name, as a textfile parser reports them (without `_total`).
        self._counters = {
            "seqsync_runs": self.runs, "seqsync_run_seconds": self.run_seconds,
            "seqsync_crm_requests": self.requests, "seqsync_crm_throttled": self.throttled,
            "seqsync_crm_retry_wait_seconds": self.retry_wait,
            "seqsync_activities_created": self.created,
        }

    def _since_success(self) -> float:
        return math.nan if self._last_success is None else self.clock() - self._last_success

    def mark_success(self, when: float) -> None:
        if self._last_success is None or when > self._last_success:
            self._last_success = when
            self.last_success.set(when)

    # -- feeding ------------------------------------------------------------------------------

    def observe_run(self, report: RunReport) -> None:
        if report.dry_run:
            return  # a rehearsal: nothing happened in the CRM
        self.runs.labels(report.outcome).inc()
        self.run_seconds.inc(report.duration_seconds)
        self.last_duration.set(report.duration_seconds)
        for key, count in report.crm_replies.items():
            kind, _, status = key.partition(" ")
            self.requests.labels(kind, status).inc(count)
            if status == "429":
                self.throttled.inc(count)
        self.retry_wait.inc(report.retry_wait_seconds)
        for activity_type, count in report.activities_created.items():
            self.created.labels(activity_type).inc(count)
        if report.outcome in ("ok", "partial") and report.finished_on is not None:
            self.mark_success(report.finished_on.timestamp())

    def observe_outcome(self, outcome: str) -> None:
        """A run that ended before it had a report (bad credential, lock held)."""
        self.runs.labels(outcome).inc()

    def observe_state(self, figures: StateFigures) -> None:
        self.backlog.set(figures.backlog)
        self.connections.clear()
        for sequence, status, count in figures.connections:
            self.connections.labels(sequence, status).set(count)
        if figures.last_success is not None:
            self.mark_success(figures.last_success.timestamp())

    # -- the textfile ---------------------------------------------------------------------------

    def restore(self, text: str) -> None:
        """Counters go on from the values a previous run wrote."""
        for family in text_string_to_metric_families(text):
            counter = self._counters.get(family.name)
            if counter is None or family.type != "counter":
                continue
            for sample in family.samples:
                if not sample.name.endswith("_total") or not math.isfinite(sample.value):
                    continue
                target = counter.labels(**sample.labels) if sample.labels else counter
                target.inc(max(0.0, sample.value))

    def write_textfile(self, path: Path) -> None:
        try:
            previous = path.read_text(encoding="utf-8") if path.exists() else ""
        except OSError:
            previous = ""
        fresh = SyncMetrics(self.clock)
        if previous:
            try:
                fresh.restore(previous)
            except ValueError:
                log.warning("%s: not a metrics textfile; counters start again", path)
        fresh.merge(self)
        try:
            write_to_textfile(str(path), fresh.registry)
        except OSError as exc:
            raise InvalidInput(f"--metrics-file {path}: cannot write: {exc.strerror}") from None

    def merge(self, other: SyncMetrics) -> None:
        """Add another instance's counters and take its gauges (textfile: old + this run)."""
        for name, counter in other._counters.items():
            for metric in counter.collect():
                for sample in metric.samples:
                    if sample.name.endswith("_total"):
                        mine = self._counters[name]
                        (mine.labels(**sample.labels) if sample.labels else mine).inc(
                            sample.value)
        for gauge_name in ("backlog", "last_duration"):
            value = _single(getattr(other, gauge_name))
            if value is not None:
                getattr(self, gauge_name).set(value)
        self.connections.clear()
        for metric in other.connections.collect():
            for sample in metric.samples:
                self.connections.labels(**sample.labels).set(sample.value)
        if other._last_success is not None:
            self.mark_success(other._last_success)


def _single(gauge: Gauge) -> float | None:
    for metric in gauge.collect():
        for sample in metric.samples:
            return float(sample.value)
    return None


class LoopMetrics:
    """The serve loop's observer: counts each run, refreshes the state gauges, sets health."""

    def __init__(self, settings: Settings, metrics: SyncMetrics, health: Health) -> None:
        self.settings = settings
        self.metrics = metrics
        self.health = health
        self._reported = False

    def finished(self, report: RunReport) -> None:
        self.metrics.observe_run(report)
        self._reported = True

    def ended(self, outcome: str) -> None:
        if not self._reported:
            self.metrics.observe_outcome(outcome)
        self._reported = False
        self.health.last_outcome = outcome
        refresh_state(self.metrics, self.settings)


def run_with_textfile(
    path: Path, settings: Settings, run: Callable[[Callable[[RunReport], None]], RunReport]
) -> RunReport:
    """A cron run: `run(on_finish)` does the sync; the textfile is rewritten whatever
    happens, so a failing cron job shows up in Prometheus too."""
    metrics = SyncMetrics()
    observer = LoopMetrics(settings, metrics, Health())
    outcome = "failed"
    try:
        report = run(observer.finished)
        outcome = report.outcome
        return report
    except LockHeld:
        outcome = "skipped"
        raise
    finally:
        observer.ended(outcome)
        metrics.write_textfile(path)


def refresh_state(metrics: SyncMetrics, settings: Settings) -> None:
    """The gauges from the state database; a failure here never fails the run itself."""
    try:
        metrics.observe_state(read_state(settings))
    except Exception as exc:  # a locked or missing database: the next run's refresh will do
        log.warning("could not read the state database for metrics: %s", exc)
