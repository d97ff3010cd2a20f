"""Kill -9 a real `seqsync sync` at seeded points, rerun until one completes, keep figures.

Kill points are chosen by a seeded random generator and triggered by what the mock has seen
(so they land in the phase they are named after), except `anytime`, which fires after a
random delay and so also lands between statements and inside SQLite commits.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import create_engine, select
from support.world import World, wait_for

from connector.store.schema import runs

from .invariants import Verdict, check

KILL_POINTS = ("pull", "push-between-batches", "push-inside-batch", "reconcile", "anytime")


@dataclass
class Figures:
    """What the chaos runs did, summed over a test session and printed by `make chaos`."""

    runs: int = 0
    completed_runs: int = 0
    kills: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    throttled_requests: int = 0
    throttled_by_client: int = 0
    wait_honoured_seconds: float = 0.0
    retries: int = 0
    invariants: Counter[str] = field(default_factory=Counter)
    checks: int = 0
    undone_checked: int = 0  # seller deletions of unrecorded activities, none of them undone
    scenarios: list[str] = field(default_factory=list)

    def add_verdict(self, verdict: Verdict) -> None:
        self.checks += 1
        for name, count in verdict.counts().items():
            self.invariants[name] += count

    def add_mock(self, stats: dict[str, Any]) -> None:
        self.faults.update(stats.get("faults", {}))
        self.throttled_requests += int(stats.get("throttled", 0))

    def add_summary(self, summary: dict[str, Any] | None) -> None:
        if not summary:
            return
        self.throttled_by_client += int(summary.get("throttled", 0))
        self.wait_honoured_seconds += float(summary.get("retry_wait_seconds", 0.0))
        self.retries += int(summary.get("retries", 0))

    def lines(self) -> list[str]:
        total_kills = sum(self.kills.values())
        kills = ", ".join(f"{k} {v}" for k, v in sorted(self.kills.items())) or "none"
        faults = ", ".join(f"{k} {v}" for k, v in sorted(self.faults.items())) or "none"
        inv = self.invariants
        return [
            f"scenarios:           {len(self.scenarios)} ({', '.join(self.scenarios)})",
            f"runs:                {self.runs} ({self.completed_runs} completed)",
            f"kills (-9):          {total_kills} ({kills})",
            f"faults injected:     {faults}",
            f"throttled requests:  {self.throttled_requests} answered 429 (mock limits and "
            f"storms), {self.throttled_by_client} seen and retried by seqsync",
            f"total wait honoured: {self.wait_honoured_seconds:.1f} s over {self.retries} retries",
            f"invariant checks:    {self.checks}",
            f"duplicates {inv['duplicates']}, missing {inv['missing']}, "
            f"advanced without activity {inv['advanced_without_activity']}, "
            f"delta links ahead {inv['delta_ahead']}",
            f"deleted after a kill: {self.undone_checked} activities a seller deleted before "
            "the outbox had recorded them; none re-created",
        ]


FIGURES = Figures()


def last_summary(world: World) -> dict[str, Any] | None:
    """The run log's summary of the newest finished run (subprocess runs report here)."""
    engine = create_engine(world.settings.state.url)
    try:
        with engine.connect() as conn:
            row = conn.execute(
                select(runs.c.summary).where(runs.c.finished_on.is_not(None))
                .order_by(runs.c.id.desc()).limit(1)
            ).first()
    finally:
        engine.dispose()
    if row is None or row.summary is None:
        return None
    summary = row.summary
    return json.loads(summary) if isinstance(summary, str) else dict(summary)


def _route(world: World, route: str) -> int:
    return int(world.crm.stats()["requests"]["by_route"].get(route, 0))


def _trigger(world: World, point: str, rng: random.Random, expect_batches: int
             ) -> tuple[Any, float]:
    """A predicate that fires at `point`, and a delay to add after it fires."""
    if point == "pull":
        base, k = _route(world, "GET leads"), rng.randint(1, 3)
        return (lambda: _route(world, "GET leads") >= base + k), 0.0
    if point in ("push-between-batches", "push-inside-batch"):
        base = _route(world, "POST emails/CreateMultiple") + _route(
            world, "POST phonecalls/CreateMultiple") + _route(world, "POST tasks/CreateMultiple")
        k = rng.randint(1, max(1, expect_batches - 1))

        def pushed() -> bool:
            now = sum(_route(world, f"POST {s}/CreateMultiple")
                      for s in ("emails", "phonecalls", "tasks"))
            return now >= base + k

        # Inside: the next chunk is on the wire (the mock holds each request for its latency).
        delay = rng.uniform(0.005, 0.03) if point == "push-inside-batch" else 0.0
        return pushed, delay
    if point == "reconcile":
        base = _route(world, "GET emails")
        return (lambda: _route(world, "GET emails") >= base + 1), rng.uniform(0, 0.02)
    start, after = time.monotonic(), rng.uniform(0.3, 3.0)
    return (lambda: time.monotonic() - start >= after), 0.0


def _wait_for_point(proc: subprocess.Popen[str], fire: Callable[[], bool]) -> None:
    wait_for(lambda: fire() or proc.poll() is not None, timeout=120)


def run_until_complete(
    world: World, now: datetime, rng: random.Random, *, kills: int, figures: Figures,
    expect_batches: int = 4, deleted_activities: frozenset[str] = frozenset(),
    max_runs: int = 40, before_each: Callable[[], None] | None = None,
) -> Verdict:
    """Start `seqsync sync` again and again, killing the first `kills` runs; check after each.

    Returns the verdict after the run that completed. Asserts the safety invariants after every
    kill and all four after completion.
    """
    killed = 0
    for _ in range(max_runs):
        if before_each is not None:
            before_each()  # the CRM keeps changing between cron runs
        proc = world.spawn("--now", now.isoformat(), "sync")
        figures.runs += 1
        if killed < kills:
            point = rng.choice(KILL_POINTS)
            fire, delay = _trigger(world, point, rng, expect_batches)
            _wait_for_point(proc, fire)
            if delay:
                time.sleep(delay)
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait(timeout=30)
                proc.communicate()
                killed += 1
                figures.kills[point] += 1
                verdict = check(world, now, complete=False, deleted_activities=deleted_activities)
                figures.add_verdict(verdict)
                assert verdict.ok, f"after a kill at {point}: {verdict}"
                continue
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"exit {proc.returncode}: {err[-2000:]}"
        assert "Traceback" not in err
        figures.completed_runs += 1
        figures.add_summary(last_summary(world))
        verdict = check(world, now, complete=True, deleted_activities=deleted_activities)
        figures.add_verdict(verdict)
        assert verdict.ok, f"after a completed run: {verdict}"
        return verdict
    raise AssertionError(f"no run completed in {max_runs} attempts")
