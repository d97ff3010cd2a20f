"""kill -9 at seeded points through pull, push and reconcile; rerun until a run completes."""

from __future__ import annotations

import pytest

from .harness import FIGURES
from .scenarios import KillPlan, kill_scenario


def test_kills_through_three_rounds_leave_exactly_one_activity_per_due_step(
    tmp_path, monkeypatch
) -> None:
    plan = KillPlan(seed=7, leads=200, kills_per_round=2)
    kill_scenario(tmp_path, monkeypatch, plan, FIGURES, "kills-fast")


@pytest.mark.chaos
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [11, 23, 42])
def test_long_kill_storm_with_transient_faults(tmp_path, monkeypatch, seed: int) -> None:
    plan = KillPlan(seed=seed, leads=3000, kills_per_round=6, latency_ms=10, page_size=200,
                    batch_size=100, fault_rate=0.05)
    kill_scenario(tmp_path, monkeypatch, plan, FIGURES, f"kills-3000-seed{seed}")
