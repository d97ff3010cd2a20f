"""Tokens expiring mid-run, revoked secrets, skewed clocks; awkward change-tracking answers."""

from __future__ import annotations

import threading
from datetime import timedelta

from support.world import T0, World, make_world, wait_for

from connector.store.schema import records

from .invariants import check

NOW = T0 + timedelta(minutes=1)


def _token_requests(world: World) -> int:
    return int(world.crm.stats()["requests"]["by_route"].get("POST token", 0))


def test_a_token_revoked_mid_run_is_refreshed_once_and_the_run_continues(
    tmp_path, monkeypatch
) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 60}) as world:
        world.write_config(sync={"batch_size": 5, "max_workers": 2})
        world.sync(T0)
        world.connect(world.sequence(), world.open_leads())
        world.crm.set_faults(latency_ms=20)
        before = _token_requests(world)

        def revoke_during_push() -> None:
            wait_for(lambda: world.crm.stats()["requests"]["by_route"].get(
                "POST emails/CreateMultiple", 0) >= 2, timeout=30)
            world.crm.expire_tokens()

        revoker = threading.Thread(target=revoke_during_push)
        revoker.start()
        report = world.sync(NOW)
        revoker.join()
        assert report.outcome == "ok", report.errors
        assert _token_requests(world) > before
        assert world.crm.stats()["requests"]["by_status"].get("401", 0) >= 1
        assert len(world.crm.rows("emails")) == len(world.open_leads())
        assert check(world, NOW, complete=True).ok


def test_a_revoked_secret_exits_3_in_one_line_and_changes_no_state(world: World) -> None:
    world.sync(T0)
    world.connect(world.sequence(), world.open_leads(3))
    old_secret = world.crm.client_secret
    world.crm.set_client_secret("rotated-by-the-admin")
    world.crm.expire_tokens()
    (world.folder / "token-cache.json").unlink()
    result = world.run_cli("--now", NOW.isoformat(), "sync", secret=old_secret)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert "invalid_client" in lines[0]
    assert world.crm.rows("emails") == []
    # The state is untouched but for the run log line that records the failed run.
    from connector.store.schema import outbox

    assert {o.status for o in world.db(outbox)} <= {"pending"}
    assert old_secret not in result.stdout + result.stderr


def test_a_client_clock_that_thinks_tokens_expire_at_once_still_syncs(
    tmp_path, monkeypatch
) -> None:
    # Clock skew as MSAL sees it: every token looks (nearly) expired on arrival, so the client
    # keeps asking for new ones; the run must still finish, without a 401 loop.
    with make_world(tmp_path, monkeypatch, generate={"leads": 15}, token_lifetime=1) as world:
        world.sync(T0)
        world.connect(world.sequence(), world.open_leads())
        report = world.sync(NOW)
        assert report.outcome == "ok", report.errors
        assert len(world.crm.rows("emails")) == len(world.open_leads())
        assert check(world, NOW, complete=True).ok


def test_engine_clock_ahead_of_the_crm_neither_skips_nor_repeats_steps(world: World) -> None:
    # `--now` a week ahead of the CRM's own clock, then back: completions stamped "in the
    # future" must not push the next step out of reach, nor create anything twice.
    world.sync(T0)
    world.connect(world.sequence(), world.open_leads(4))
    ahead = T0 + timedelta(days=7)
    world.sync(ahead)
    for row in world.crm.rows("emails"):
        world.complete("emails", str(row["activityid"]), T0 + timedelta(days=30))
    world.sync(ahead + timedelta(minutes=1))  # the completion counts as "now", not day 30
    assert world.crm.rows("phonecalls") == []  # the one-day wait runs from there
    world.sync(ahead + timedelta(days=1, minutes=2))
    assert len(world.crm.rows("phonecalls")) == 4
    world.sync(ahead + timedelta(days=1, minutes=3))
    assert len(world.crm.rows("phonecalls")) == 4
    assert check(world, ahead + timedelta(days=1, minutes=3), complete=True).ok


def test_delta_oddities_in_one_run(world: World) -> None:
    """Expired token, a deletion for a row never seen, a row changed then deleted."""
    world.sync(T0)
    seq = world.sequence()
    kept, changed_then_deleted, connected = world.open_leads(3)
    world.connect(seq, [changed_then_deleted, connected])
    ghost = world.crm.insert("leads", {"fullname": "Never Seen", "statecode": 0,
                                       "statuscode": 1})
    world.crm.delete("leads", ghost)
    world.crm.update("leads", changed_then_deleted, {"fullname": "Changed"})
    world.crm.delete("leads", changed_then_deleted)
    world.crm.update("leads", kept, {"fullname": "Kept And Renamed"})
    report = world.sync(NOW)
    assert report.outcome == "ok", report.errors
    local = {r.id: r for r in world.db(records)}
    assert ghost.lower() not in local
    assert local[changed_then_deleted].is_deleted
    assert local[kept].name == "Kept And Renamed"
    assert report.disconnected == {"record_deleted": 1}
    assert [str(e["_regardingobjectid_value"]) for e in world.crm.rows("emails")] == [connected]
    assert check(world, NOW, complete=True).ok
    # Now the token expires: the full re-read must notice nothing new and lose nothing.
    world.crm.set_faults(delta_token_ttl=0)
    world.crm.update("leads", kept, {"fullname": "Renamed Again"})
    report = world.sync(NOW + timedelta(minutes=1))
    assert "leads" in report.full_reads
    assert {r.id: r for r in world.db(records)}[kept].name == "Renamed Again"
    assert len(world.crm.rows("emails")) == 1
    assert check(world, NOW + timedelta(minutes=1), complete=True).ok
