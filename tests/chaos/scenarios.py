"""Seeded scenarios shared by the fast tests (make test) and the long ones (make chaos)."""

from __future__ import annotations

import random
import subprocess
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest
from support.world import EMAIL_THEN_CALL, T0, World, make_world, wait_for

from .harness import Figures, run_until_complete


@dataclass(frozen=True)
class KillPlan:
    seed: int
    leads: int
    kills_per_round: int
    latency_ms: float = 15
    page_size: int = 50
    batch_size: int = 25
    fault_rate: float = 0.0


def churn(world: World, rng: random.Random, share: float = 0.03) -> None:
    """What sellers do to leads between two cron runs: rename, close, delete, edit-then-delete."""
    for lead_id in world.open_leads():
        roll = rng.random()
        if roll < share:
            world.crm.update("leads", lead_id, {"fullname": f"Renamed {rng.randrange(10**6)}"})
        elif roll < share * 1.5:
            world.crm.update("leads", lead_id, {"statecode": 2, "statuscode": 4})
        elif roll < share * 2:
            world.crm.delete("leads", lead_id)
        elif roll < share * 2.3:
            # The same row changed and deleted between two runs: only the deletion may count.
            world.crm.update("leads", lead_id, {"fullname": "Changed Then Deleted"})
            world.crm.delete("leads", lead_id)


def seller_works(world: World, entity_set: str, rng: random.Random, at_hours: float) -> None:
    """Sellers complete most open activities, cancel a few, leave the rest."""
    at = T0 + timedelta(hours=at_hours)
    for row in world.crm.rows(entity_set):
        if row["statecode"] != 0:
            continue
        roll = rng.random()
        if roll < 0.7:
            world.complete(entity_set, str(row["activityid"]), at)
        elif roll < 0.8:
            world.complete(entity_set, str(row["activityid"]), at, cancel=True)


def kill_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: KillPlan,
                  figures: Figures, name: str) -> None:
    rng = random.Random(plan.seed)
    with make_world(tmp_path, monkeypatch, generate={"leads": plan.leads},
                    fault_seed=plan.seed) as world:
        world.write_config(sync={"batch_size": plan.batch_size, "page_size": plan.page_size,
                                 "max_workers": 4})
        assert world.sync(T0).outcome == "ok"
        seq = world.sequence()
        world.connect(seq, world.open_leads())
        world.crm.set_faults(latency_ms=plan.latency_ms, fault_rate=plan.fault_rate)
        batches = max(2, plan.leads // plan.batch_size)

        def between() -> None:
            churn(world, rng, share=0.01)

        rounds = [
            (T0 + timedelta(minutes=1), None),
            (T0 + timedelta(days=2), ("emails", 2)),
            (T0 + timedelta(days=3), ("phonecalls", 49)),
        ]
        for now, work in rounds:
            if work is not None:
                seller_works(world, work[0], rng, work[1])
            run_until_complete(world, now, rng, kills=plan.kills_per_round, figures=figures,
                               expect_batches=batches, before_each=between)
        # The plainest form of the promise: no lead has two activities of one kind.
        for entity_set in ("emails", "phonecalls", "tasks"):
            per_lead = Counter(str(r["_regardingobjectid_value"])
                               for r in world.crm.rows(entity_set))
            assert not [k for k, n in per_lead.items() if n > 1], entity_set
        assert world.crm.rows("phonecalls") and world.crm.rows("tasks"), "every round did work"
        figures.add_mock(world.crm.stats())
        figures.scenarios.append(name)


@dataclass(frozen=True)
class UndonePlan:
    """Issue 16, defect 1: kill runs between a chunk reaching the CRM and the outbox recording
    it, delete some of those unrecorded activities, and check that none comes back."""

    seed: int
    leads: int
    batch_size: int
    latency_ms: float
    kills: int
    deletes_per_kill: int


def undone_scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, plan: UndonePlan,
                    figures: Figures, name: str) -> None:
    import signal
    import time

    from connector.store.schema import outbox

    from .harness import last_summary
    from .invariants import check

    rng = random.Random(plan.seed)
    now = T0 + timedelta(minutes=1)
    with make_world(tmp_path, monkeypatch, generate={"leads": plan.leads},
                    fault_seed=plan.seed) as world:
        world.write_config(sync={"batch_size": plan.batch_size, "max_workers": 4})
        assert world.sync(T0).outcome == "ok"
        leads = world.open_leads()
        world.connect(world.sequence(text=EMAIL_THEN_CALL), leads)
        world.crm.set_faults(latency_ms=plan.latency_ms)
        deleted: set[str] = set()
        for _ in range(plan.kills):
            posts = _route_count(world, "POST emails/CreateMultiple")
            proc = world.spawn("--now", now.isoformat(), "sync")
            figures.runs += 1
            wait_for(partial(_pushing, world, posts, proc), timeout=120, what="the push")
            time.sleep(rng.uniform(0.2, 1.5) * plan.latency_ms / 1000)
            if proc.poll() is not None:
                proc.communicate()
                break  # the run finished first: nothing left to interrupt
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=30)
            figures.kills["push-unrecorded"] += 1
            time.sleep(2 * plan.latency_ms / 1000)  # chunks on the wire land in the CRM
            pending = {o.activity_id for o in world.db(outbox) if o.status == "pending"}
            unrecorded = sorted(str(e["activityid"]) for e in world.crm.rows("emails")
                                if str(e["activityid"]) in pending)
            for activity_id in rng.sample(unrecorded, min(plan.deletes_per_kill,
                                                          len(unrecorded))):
                world.crm.delete("emails", activity_id)
                deleted.add(activity_id)
            verdict = check(world, now, complete=False, deleted_activities=frozenset(deleted))
            figures.add_verdict(verdict)
            assert verdict.ok, verdict
        assert deleted, "no kill landed between a chunk reaching the CRM and its recording"
        world.crm.set_faults(latency_ms=0)
        result = world.run_cli("--now", now.isoformat(), "sync")
        assert result.returncode == 0, result.stderr[-2000:]
        figures.runs += 1
        figures.completed_runs += 1
        figures.add_summary(last_summary(world))
        in_crm = {str(e["activityid"]) for e in world.crm.rows("emails")}
        assert not deleted & in_crm, f"{len(deleted & in_crm)} of {len(deleted)} came back"
        items = {o.activity_id: o for o in world.db(outbox)}
        assert {(items[a].status, items[a].crm_state) for a in deleted} == {
            ("pushed", "canceled")
        }
        verdict = check(world, now, complete=True, deleted_activities=frozenset(deleted))
        figures.add_verdict(verdict)
        assert verdict.ok, verdict
        # Skipped, so the follow-up call comes due after the wait; the others still wait for
        # their open email.
        assert world.sync(now + timedelta(days=3)).outcome == "ok"
        called = {str(c["_regardingobjectid_value"]) for c in world.crm.rows("phonecalls")}
        assert called == {items[a].record_id for a in deleted}
        figures.undone_checked += len(deleted)
        figures.add_mock(world.crm.stats())
        figures.scenarios.append(name)


def _pushing(world: World, posts_before: int, proc: subprocess.Popen[str]) -> bool:
    """A CreateMultiple of this run has reached the mock (or the run is over)."""
    return (_route_count(world, "POST emails/CreateMultiple") > posts_before
            or proc.poll() is not None)


def _route_count(world: World, route: str) -> int:
    return int(world.crm.stats()["requests"]["by_route"].get(route, 0))
