"""Seeded scenarios shared by the fast tests (make test) and the long ones (make chaos)."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from support.world import T0, World, make_world

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
