"""Issue 16: ways for every later sync to get stuck, or for a run to bend the rules.

Each test reproduces one defect a long fault run found (it failed before the fix).
"""

from __future__ import annotations

import errno
import json
import os
import signal
from datetime import timedelta

import pytest
from support.world import EMAIL_THEN_CALL, T0, World, wait_for

from connector.store.schema import outbox, runs

from .invariants import check

NOW = T0 + timedelta(minutes=1)


def _status_runs(world: World) -> list[dict[str, object]]:
    result = world.cli("--json", "status")
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["runs"]


def test_a_killed_run_is_marked_interrupted_by_the_next_run(world: World) -> None:
    """Defect 8: killed runs stayed `running` in `status` forever."""
    world.sync(T0)
    world.connect(world.sequence(), world.open_leads())
    world.crm.set_faults(latency_ms=400)
    proc = world.spawn("--now", NOW.isoformat(), "sync")
    wait_for(lambda: any(r.outcome == "running" for r in world.db(runs))
             and world.crm.stats()["requests"]["by_route"].get("GET leads", 0) >= 2,
             what="the run to start")
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert _status_runs(world)[0]["outcome"] == "running"  # nothing knows yet
    world.crm.set_faults(latency_ms=0)
    assert world.sync(NOW).outcome == "ok"
    assert [r["outcome"] for r in _status_runs(world)[:3]] == ["ok", "interrupted", "ok"]
    assert check(world, NOW, complete=True).ok


def test_a_token_cache_that_cannot_be_written_is_a_warning_not_a_failed_run(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Defect 7: a token cache on a full disk aborted a run that already held its token."""
    from connector.dataverse import auth

    def no_space(*args: object, **kwargs: object) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(auth.tempfile, "mkstemp", no_space)
    report = world.sync(T0)
    assert report.outcome == "ok", report.errors
    assert any("cannot write token cache" in r.getMessage() and "in memory" in r.getMessage()
               for r in caplog.records if r.levelname == "WARNING")


def test_activities_deleted_while_the_delta_token_expired_still_count_as_skipped(
    world: World,
) -> None:
    """Defect 3: after the emails table's token expired, deleted emails were never noticed
    and the next steps never came due (0 of 10 follow-up calls after 10 days)."""
    world.sync(T0)
    leads = world.open_leads(10)
    world.connect(world.sequence(text=EMAIL_THEN_CALL), leads)
    assert world.sync(NOW).outcome == "ok"
    emails = world.crm.rows("emails")
    assert len(emails) == 10
    world.crm.set_faults(delta_token_ttl=0)
    for email in emails:
        world.crm.delete("emails", str(email["activityid"]))
    report = world.sync(NOW + timedelta(days=1))
    assert "emails" in report.full_reads
    assert report.activities_skipped == 10
    world.crm.set_faults(delta_token_ttl=None)
    world.sync(NOW + timedelta(days=10))
    assert len(world.crm.rows("phonecalls")) == 10
    assert check(world, NOW + timedelta(days=10), complete=True,
                 deleted_activities=frozenset(str(e["activityid"]) for e in emails)).ok


def test_a_clock_gone_back_is_refused_and_cannot_start_a_wait_early(world: World) -> None:
    """Defect 4: `sync --now` a day before the previous run recorded completions before the
    activities existed, and the next normal run created the follow-ups a day early."""
    world.sync(T0)
    world.connect(world.sequence(text=EMAIL_THEN_CALL), world.open_leads(5))
    day = T0 + timedelta(days=1)
    assert world.sync(day).outcome == "ok"
    for row in world.crm.rows("emails"):
        world.complete("emails", str(row["activityid"]), day + timedelta(hours=1))
    back = day - timedelta(days=1)

    refused = world.cli("sync", now=back)
    lines = refused.stderr.strip().splitlines()
    assert refused.exit_code == 2 and len(lines) == 1, refused.output
    assert "earlier than the last run" in lines[0] and "--allow-clock-back" in lines[0]

    report = world.sync(back, allow_clock_back=True)
    assert report.activities_completed == 5
    emails = [o for o in world.db(outbox) if o.activity_type == "email"]
    assert all(o.closed_on >= o.pushed_on for o in emails)
    world.sync(day + timedelta(days=2) - timedelta(minutes=1), allow_clock_back=True)
    assert world.crm.rows("phonecalls") == []  # the two-day wait counts from the email
    world.sync(day + timedelta(days=2, minutes=1))
    assert len(world.crm.rows("phonecalls")) == 5


def test_serve_refuses_now_instead_of_ignoring_it(world: World) -> None:
    result = world.cli("serve", "--max-runs", "1", now=T0)
    assert result.exit_code == 2
    assert "--now does not apply to serve" in result.stderr


def test_a_team_owned_lead_gets_activities_owned_by_the_team(world: World) -> None:
    """Defect 6: the owner was always bound as a systemuser, so a lead owned by a team ended
    with a CRM error instead of getting its activities."""
    team = "7ea70000-0000-4000-8000-000000000001"
    world.crm.insert("teams", {"teamid": team, "name": "Inside sales", "teamtype": 0})
    lead = "7ea7000a-0000-4000-8000-000000000002"
    world.crm.insert("leads", {"leadid": lead, "fullname": "Owned by a team", "statecode": 0,
                               "statuscode": 1, "ownerid@odata.bind": f"/teams({team})"})
    assert world.sync(T0).outcome == "ok"
    users = [u for u in world.open_leads(3) if u != lead][:2]
    world.connect(world.sequence(text=EMAIL_THEN_CALL), [lead, *users])

    report = world.sync(NOW)

    assert report.outcome == "ok", report.errors
    emails = {str(e["_regardingobjectid_value"]): e for e in world.crm.rows("emails")}
    assert set(emails) == {lead, *users}
    assert emails[lead]["_ownerid_value"] == team

    def owner_table(email: dict[str, object]) -> object:
        stored = world.crm.dv.table("emails").rows[str(email["activityid"])]
        return stored["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"]

    assert owner_table(emails[lead]) == "team"
    assert [owner_table(emails[u]) for u in users] == ["systemuser", "systemuser"]
    assert check(world, NOW, complete=True).ok
