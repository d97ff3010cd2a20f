"""Several workers on one PostgreSQL state, against the mock CRM, one of them killed -9.

Three `seqsync sync` processes run at once on the same config. One is killed at a seeded
moment (seeded victim, seeded delay, the mock slowed down so the kill lands mid-work). Whatever
it held goes back with its transactions; a last run finishes anything left. Every connected lead
must end up with exactly one email in the CRM: 0 duplicated, 0 lost.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from support.world import EMAIL_THEN_CALL, T0, World, make_world

from connector.store.schema import connections, outbox

WORKERS = 3
LEADS = 240


@pytest.fixture
def team(tmp_path, monkeypatch, pg_url):
    with make_world(tmp_path, monkeypatch, pg_url, generate={"leads": LEADS}) as world:
        world.write_config(sync={"batch_size": 10, "max_workers": 2})
        world.sync(T0)
        seq = world.sequence(text=EMAIL_THEN_CALL)
        world.connect(seq, world.open_leads())
        yield world


def _check_exactly_once(env: World) -> None:
    leads = env.open_leads()
    emails = env.crm.rows("emails")
    per_lead = Counter(str(e["_regardingobjectid_value"]) for e in emails)
    duplicated = {lead: n for lead, n in per_lead.items() if n > 1}
    lost = [lead for lead in leads if lead not in per_lead]
    assert (duplicated, lost) == ({}, [])
    assert {o.status for o in env.db(outbox)} == {"pushed"}
    assert {c.activity_id for c in env.db(connections)} == {str(e["activityid"]) for e in emails}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_three_workers_one_killed_nothing_duplicated_nothing_lost(team: World, seed: int):
    rng = random.Random(seed)
    victim = rng.randrange(WORKERS)
    delay = rng.uniform(0.3, 2.5)
    team.crm.set_faults(latency_ms=40)
    when = (T0 + timedelta(minutes=1)).isoformat()
    procs = [team.spawn("--now", when, "sync") for _ in range(WORKERS)]
    try:
        time.sleep(delay)
        procs[victim].send_signal(signal.SIGKILL)
        for n, proc in enumerate(procs):
            proc.wait(timeout=120)
            if n != victim:
                assert proc.returncode == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert procs[victim].returncode == -signal.SIGKILL
    team.crm.set_faults(latency_ms=0)
    report = team.sync(T0 + timedelta(minutes=2))  # whatever the killed worker held, if any
    assert report.outcome == "ok"
    _check_exactly_once(team)

    status = team.cli("--json", "status", now=T0 + timedelta(minutes=2))
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert len({w["id"] for w in data["workers"]}) >= WORKERS  # the killed one is listed too
    assert data["backlog"] == {"due_connections": 0, "pending_activities": 0, "to_cancel": 0}


def test_workers_share_the_request_budget_so_the_crm_never_throttles(team: World):
    # The CRM allows 30 requests per 3 s; the workers are told 27 (the advice: a tenth of
    # headroom). Three of them at once would each send far more than that without sharing.
    team.write_config(sync={"batch_size": 5, "max_workers": 2},
                      workers={"requests_per_window": 27, "window_seconds": 3.0})
    team.crm.set_faults(rate_limit=(30, 3.0))
    when = (T0 + timedelta(minutes=1)).isoformat()
    procs = [team.spawn("--now", when, "sync") for _ in range(WORKERS)]
    created = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        summary = json.loads(out.strip().splitlines()[-1])
        created.append(sum(summary["activities_created"].values()))
    assert team.crm.stats()["throttled"] == 0
    _check_exactly_once(team)
    # The push was shared (claims), and no worker sent what another had sent.
    assert sum(created) == len(team.open_leads()) and sum(1 for n in created if n) >= 2, created


def test_a_lost_database_connection_mid_push_is_exit_1_and_the_next_run_continues(team: World):
    import threading

    import psycopg

    from connector.errors import EXIT_PARTIAL, StateError

    team.crm.set_faults(latency_ms=150)
    libpq = team.state_url.replace("postgresql+psycopg://", "postgresql://", 1)

    def cut_when_pushing() -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            routes = team.crm.stats()["requests"]["by_route"]
            if routes.get("POST emails/CreateMultiple", 0) >= 2:
                break
            time.sleep(0.02)
        with psycopg.connect(libpq, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    cutter = threading.Thread(target=cut_when_pushing)
    cutter.start()
    with pytest.raises(StateError, match="lost the connection") as lost:
        team.sync(T0 + timedelta(minutes=1))
    cutter.join()
    assert lost.value.exit_code == EXIT_PARTIAL
    landed = len(team.crm.rows("emails"))
    assert 0 < landed < len(team.open_leads())
    team.crm.set_faults(latency_ms=0)
    assert team.sync(T0 + timedelta(minutes=2)).outcome == "ok"
    _check_exactly_once(team)
