"""kill -9 at seeded points through pull, push and reconcile; rerun until a run completes."""

from __future__ import annotations

import pytest

from .harness import FIGURES
from .scenarios import KillPlan, UndonePlan, kill_scenario, undone_scenario


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


def test_activities_deleted_after_a_kill_before_their_recording_stay_deleted(
    tmp_path, monkeypatch
) -> None:
    plan = UndonePlan(seed=3, leads=120, batch_size=20, latency_ms=400, kills=2,
                      deletes_per_kill=5)
    undone_scenario(tmp_path, monkeypatch, plan, FIGURES, "undone-fast")


@pytest.mark.chaos
@pytest.mark.timeout(1800)
@pytest.mark.parametrize("seed", [5, 17])
def test_long_kills_between_create_and_record_with_seller_deletions(
    tmp_path, monkeypatch, seed: int
) -> None:
    """As found by the long fault run: 1,000 leads, batch 100, 1.5 s latency, kill -9 in the
    push, 10 unrecorded activities deleted through the Web API, then a clean run."""
    plan = UndonePlan(seed=seed, leads=1000, batch_size=100, latency_ms=1500, kills=3,
                      deletes_per_kill=10)
    undone_scenario(tmp_path, monkeypatch, plan, FIGURES, f"undone-1000-seed{seed}")
