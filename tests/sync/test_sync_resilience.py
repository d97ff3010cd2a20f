"""What cron-driven runs survive: kills, throttling, expired tokens, locks, revoked secrets."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta

from support.world import EMAIL_THEN_CALL, T0, World, make_world

from connector.store.schema import connections, outbox, records
from connector.sync.lock import lock_path_for


def _wait_for(predicate, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_kill_9_during_push_then_rerun_leaves_exactly_one_activity_per_step(
    tmp_path, monkeypatch
) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 300}) as env:
        env.write_config(sync={"batch_size": 10, "max_workers": 2})
        env.sync(T0)
        seq = env.sequence(text=EMAIL_THEN_CALL)
        leads = env.open_leads()
        env.connect(seq, leads)
        env.crm.set_faults(latency_ms=40)
        proc = env.spawn("--now", (T0 + timedelta(minutes=1)).isoformat(), "sync")
        _wait_for(lambda: env.crm.stats()["requests"]["by_route"].get(
            "POST emails/CreateMultiple", 0) >= 3, what="push to start")
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        landed = len(env.crm.rows("emails"))
        assert 0 < landed < len(leads), "the kill should land in the middle of the push"
        env.crm.set_faults(latency_ms=0)
        report = env.sync(T0 + timedelta(minutes=2))
        assert report.outcome == "ok"
        emails = env.crm.rows("emails")
        regarding = [str(e["_regardingobjectid_value"]) for e in emails]
        assert len(emails) == len(leads) and sorted(regarding) == sorted(leads)
        assert {o.status for o in env.db(outbox)} == {"pushed"}
        crm_ids = {str(e["activityid"]) for e in emails}
        assert {c.activity_id for c in env.db(connections)} == crm_ids


def test_a_429_with_retry_after_is_waited_out_and_the_run_succeeds(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads(5))
    env.crm.set_faults(rate_limit=(3, 2.0))
    report = env.sync(T0 + timedelta(minutes=1))
    assert report.outcome == "ok"
    assert report.throttled >= 1
    # Never earlier than told: each wait is at least the Retry-After the mock sent (>= 1 s).
    assert report.retry_wait_seconds >= report.throttled * 1.0
    assert len(env.crm.rows("emails")) == 5
    assert env.crm.stats()["throttled"] >= report.throttled


def test_an_expired_delta_token_leads_to_a_full_reread_with_nothing_lost(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    renamed, deleted, connected = env.open_leads(3)
    env.connect(seq, [deleted, connected])
    env.crm.set_faults(delta_token_ttl=0)
    env.crm.update("leads", renamed, {"fullname": "Renamed While Token Expired"})
    env.crm.delete("leads", deleted)
    report = env.sync(T0 + timedelta(minutes=1))
    assert "leads" in report.full_reads
    assert report.disconnected == {"record_deleted": 1}
    local = {r.id: r for r in env.db(records)}
    assert local[renamed].name == "Renamed While Token Expired"
    assert local[deleted].is_deleted
    assert [str(e["_regardingobjectid_value"]) for e in env.crm.rows("emails")] == [connected]


HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from connector.sync.lock import RunLock
    lock = RunLock(Path(sys.argv[1]))
    lock.acquire()
    print("held", flush=True)
    time.sleep(60)
""")


def _hold_lock(env: World) -> subprocess.Popen[str]:
    path = lock_path_for(env.settings.state.url, None)
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(path)],
                              stdout=subprocess.PIPE, text=True)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_second_run_exits_75_at_once_naming_the_holder(env: World) -> None:
    holder = _hold_lock(env)
    try:
        result = env.cli("sync", now=T0)
        if env.on_postgresql:  # PostgreSQL: no run lock, workers cooperate (tests/workers)
            assert result.exit_code == 0, result.output
            return
        assert result.exit_code == 75
        assert f"pid {holder.pid}" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    finally:
        holder.kill()
        holder.wait()


def test_a_crashed_holder_does_not_block_the_next_run(env: World) -> None:
    holder = _hold_lock(env)
    holder.send_signal(signal.SIGKILL)
    holder.wait()
    result = env.cli("sync", now=T0)
    assert result.exit_code == 0, result.output


def test_a_revoked_secret_exits_3_with_a_clear_message_and_no_secret(env: World) -> None:
    env.sync(T0)
    old_secret = env.crm.client_secret
    env.crm.set_client_secret("rotated-by-the-admin")
    env.crm.expire_tokens()
    (env.folder / "token-cache.json").unlink()
    before = _dump(env)
    result = env.cli("sync", now=T0 + timedelta(minutes=1))
    assert result.exit_code == 3, result.output
    assert len(result.stderr.strip().splitlines()) == 1
    assert "invalid_client" in result.stderr
    assert old_secret not in result.output and old_secret not in result.stderr
    assert "Traceback" not in result.stderr
    assert _dump(env) == before


def _dump(env: World) -> dict[str, list]:
    """Every table but the run log and the worker list, which record the failed run on
    purpose."""
    from connector.store import schema

    return {name: sorted(map(tuple, env.db(table)), key=repr)
            for name, table in schema.metadata.tables.items()
            if name not in ("runs", "workers", "request_budget")}


def test_serve_runs_on_an_interval_and_exits_0_on_sigterm(env: World) -> None:
    env.write_config(log={"level": "INFO"})
    proc = env.spawn("serve", "--interval", "1s")
    try:
        _wait_for(lambda: any(r.outcome == "ok" for r in _runs(env)), what="a finished run")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [json.loads(line) for line in proc.stderr.read().splitlines() if line.startswith("{")]
    assert any("stop requested" in line["msg"] for line in lines)
    assert any(line["msg"].startswith("serve stopped") for line in lines)


def _runs(env: World) -> list:
    from connector.store.schema import runs

    if not env.on_postgresql and not env.state_db.exists():
        return []
    try:
        return env.db(runs)
    except Exception:  # the first run may still be creating the schema
        return []
