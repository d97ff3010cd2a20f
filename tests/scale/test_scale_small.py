"""The scale benchmark's scenarios at N = 2,000, through the real CLI and a mock in its own process.

Asserts request counts and exactly-once outcomes, never times: the first sync stays within a
request budget that does not grow with one request per row, a sync with nothing to do costs a
handful of requests, and a sync after changes costs requests in proportion to the changes.
"""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

from scale_harness import MockProcess, Workspace, api_requests  # noqa: E402
from scale_tenant import change_tenant, check_exactly_once, crm_client  # noqa: E402

N = 2000
# One per target and activity table for the change reads, WhoAmI, then CreateMultiple of 1,000:
# whatever N is, the pull costs a page per 5,000 rows and the push a request per 1,000.
FIXED = 7


@pytest.fixture(scope="module")
def tenant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[MockProcess, Workspace]]:
    root = tmp_path_factory.mktemp("scale")
    with MockProcess(root / "mock", N) as mock:
        yield mock, Workspace(root / "ws", mock)


def _sync(mock: MockProcess, ws: Workspace, now: str) -> tuple[dict[str, Any], dict[str, int]]:
    before = mock.stats()
    run = ws.seqsync("sync", now=now)
    assert run.exit_code == 0, run.stderr
    return run.summary(), api_requests(before, mock.stats())


@pytest.fixture(scope="module")
def first_sync(tenant: tuple[MockProcess, Workspace]) -> dict[str, Any]:
    mock, ws = tenant
    pull, pull_routes = _sync(mock, ws, "2026-11-30T09:00:00Z")
    applied = ws.seqsync("sequence", "apply", str(ws.folder / "sequence.toml"), "--activate")
    assert applied.exit_code == 0, applied.stderr
    connected = ws.seqsync("--json", "connect", "Bench", "--where", "statecode=0",
                           now="2026-11-30T09:00:00Z")
    assert connected.exit_code == 0, connected.stderr
    push, push_routes = _sync(mock, ws, "2026-11-30T09:01:00Z")
    # Checked here, before any other test changes the tenant (the tests may run in any order).
    check = check_exactly_once(crm_client(ws.config, mock.info["client_secret"]), ws.state_db)
    return {"pull": pull, "pull_routes": pull_routes, "push": push, "push_routes": push_routes,
            "check": check.as_dict()}


def test_first_sync_creates_one_email_per_open_lead_in_few_requests(
    first_sync: dict[str, Any],
) -> None:
    assert first_sync["pull"]["rows_pulled"] == {"lead": N}
    open_leads = first_sync["push"]["activities_planned"]
    assert 0.8 * N < open_leads < N  # the generator closes some 8% of its leads
    assert first_sync["push"]["activities_created"] == {"email": open_leads}
    assert first_sync["push_routes"]["POST emails/CreateMultiple"] == 2  # 1,000 a request
    assert "POST emails" not in first_sync["push_routes"]  # never one request per row
    total = sum(first_sync["pull_routes"].values()) + sum(first_sync["push_routes"].values())
    assert total <= 2 * FIXED + 6  # one request per row would be 1,850
    assert first_sync["check"] == {
        "ok": True, "in_crm": {"email": open_leads, "phonecall": 0, "task": 0},
        "pushed": {"email": open_leads, "phonecall": 0, "task": 0},
        "pending": 0, "lost": 0, "strays": 0, "duplicated": 0,
    }


def test_sync_without_changes_costs_a_handful_of_requests(
    tenant: tuple[MockProcess, Workspace], first_sync: dict[str, Any]
) -> None:
    mock, ws = tenant
    summary, routes = _sync(mock, ws, "2026-11-30T09:02:00Z")
    assert sum(routes.values()) <= 10
    assert not any(r.startswith("POST") for r in routes)
    assert summary["activities_created"] == {} and summary["rows_pulled"] == {}


def test_sync_after_changes_costs_requests_in_proportion_and_stays_exactly_once(
    tenant: tuple[MockProcess, Workspace], first_sync: dict[str, Any]
) -> None:
    mock, ws = tenant
    client = crm_client(ws.config, mock.info["client_secret"])
    changes = change_tenant(client, ws.state_db, "2026-12-01T10:00:00Z")
    assert changes.counts() == {"leads_changed": 20, "leads_deleted": 2,
                                "activities_completed": len(changes.activities_completed)}
    summary, routes = _sync(mock, ws, "2026-12-03T12:00:00Z")
    completed = len(changes.activities_completed)
    # A completed email whose lead was deleted too ends its connection instead of advancing it.
    with sqlite3.connect(ws.state_db) as db:
        marks = ",".join("?" * len(changes.activities_completed))
        owners = {r for (r,) in db.execute(
            f"SELECT record_id FROM outbox WHERE activity_id IN ({marks})",
            changes.activities_completed)}
    advanced = len(owners - set(changes.leads_deleted))
    assert summary["activities_completed"] == completed
    assert summary["rows_deleted"] == {"lead": 2}
    # Completed emails make the phone call step due (after the two-day wait): one
    # CreateMultiple for them, and one change read per table as in a quiet run.
    assert summary["activities_created"] == {"phonecall": advanced}
    assert routes.get("POST phonecalls/CreateMultiple") == 1
    assert sum(routes.values()) <= FIXED + 3
    check = check_exactly_once(client, ws.state_db)
    assert check.ok, check.as_dict()
    assert check.in_crm["phonecall"] == advanced
