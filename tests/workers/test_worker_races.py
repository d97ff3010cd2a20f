"""Decisions several PostgreSQL workers must not make at once: counting against a daily cap,
and picking a segment's records to enrol.

The in-process tests pin the mechanism (the second worker waits for the first one's commit, or
leaves enrolment to it); the process tests run three `seqsync sync` at once against the mock and
check the outcome a sales manager sees: no owner over the cap, no record enrolled twice.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import psycopg
import pytest
from support.world import EMAIL_THEN_CALL, T0, World, make_world

from connector.app import open_app
from connector.pipeline.context import Message
from connector.store import connections as connection_store
from connector.store.db import Store
from connector.store.schema import connection_history, connections, outbox
from connector.sync.cooperation import segment_turn

CAP = 3
WORKERS = 3
NOW = T0 + timedelta(minutes=30)


@pytest.fixture
def env(tmp_path, monkeypatch, pg_url):
    with make_world(tmp_path, monkeypatch, pg_url, generate={"leads": 120}) as world:
        world.write_config(sync={"batch_size": 4, "max_workers": 2})
        world.sync(T0)
        yield world


def _owners(env: World) -> dict[str, str]:
    return {str(r["leadid"]): str(r["_ownerid_value"]) for r in env.crm.rows("leads")}


def _waiting_for_advisory_lock(env: World) -> bool:
    libpq = env.state_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(libpq, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM pg_locks l JOIN pg_database d "
                            "ON d.oid = l.database WHERE l.locktype = 'advisory' "
                            "AND NOT l.granted AND d.datname = current_database()").fetchone()
    return bool(row and row[0])


def _until(predicate: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.02)


def _plan_one_page(env: World, now: datetime, planned: threading.Event,
                   release: threading.Event, errors: list[BaseException]) -> None:
    """A worker's planning transaction: claim a page, run StepDue on it, wait, commit."""
    try:
        with open_app(env.settings) as app, app.pipeline.transaction() as tx:
            assert tx.db is not None
            page = connection_store.due_page(tx.db, now, "", 4)
            tx.execute(Message.STEP_DUE, page, now=now)
            planned.set()
            release.wait(60)
    except BaseException as exc:  # reported by the test thread
        errors.append(exc)
        planned.set()


def test_a_second_worker_counts_the_daily_cap_only_after_the_first_commits(env: World):
    env.write_config(sync={"batch_size": 4}, pacing={"max_per_owner_per_day": CAP})
    owners = _owners(env)
    busiest = Counter(owners[lead] for lead in env.open_leads()).most_common(1)[0][0]
    leads = [lead for lead in env.open_leads() if owners[lead] == busiest][:8]
    assert len(leads) == 8
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, leads)

    errors: list[BaseException] = []
    first_planned, second_planned = threading.Event(), threading.Event()
    release_first, release_second = threading.Event(), threading.Event()
    release_second.set()
    first = threading.Thread(target=_plan_one_page,
                             args=(env, NOW, first_planned, release_first, errors))
    first.start()
    assert first_planned.wait(30) and not errors, errors
    second = threading.Thread(target=_plan_one_page,
                              args=(env, NOW, second_planned, release_second, errors))
    second.start()
    try:
        # The second worker has its own page (the first one's rows are skipped) and waits for
        # its turn at the caps while the first worker's plan is uncommitted.
        _until(lambda: _waiting_for_advisory_lock(env), "the second worker waits for its turn")
        assert not second_planned.is_set()
    finally:
        release_first.set()
        first.join(60)
        second.join(60)
    assert not errors, errors
    planned = [o for o in env.db(outbox) if o.status != "cancelled"]
    assert len(planned) == CAP
    assert env.sync(NOW + timedelta(minutes=1)).outcome == "ok"  # nothing more today
    assert len(env.db(outbox)) == CAP


def test_three_workers_at_once_keep_every_owner_under_the_daily_cap(env: World):
    env.write_config(sync={"batch_size": 4, "max_workers": 2},
                     pacing={"max_per_owner_per_day": CAP})
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads())
    env.crm.set_faults(latency_ms=30)
    procs = [env.spawn("--now", NOW.isoformat(), "sync") for _ in range(WORKERS)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    owners = _owners(env)
    connected = Counter(owners[lead] for lead in env.open_leads())
    created = Counter(owners[str(e["_regardingobjectid_value"])] for e in env.crm.rows("emails"))
    assert created == {owner: min(CAP, n) for owner, n in connected.items()}


def test_enrolment_is_left_to_the_worker_enrolling_now(env: World):
    seq = env.sequence(text=EMAIL_THEN_CALL + '\n[enroll]\nwhere = ["statecode=0"]\n'
                       'max_per_run = 10\n')
    store = Store(env.settings.state.url)
    try:
        with segment_turn(store) as mine:  # another worker is enrolling
            assert mine
            report = env.sync(NOW)
            assert report.outcome == "ok" and report.enrolled == {}
            assert env.db(connections) == []
    finally:
        store.close()
    assert env.sync(NOW + timedelta(minutes=1)).enrolled == {"Outreach": 10}
    assert {c.sequence_id for c in env.db(connections)} == {seq}


def test_three_workers_at_once_enrol_each_record_once_within_max_per_run(env: World):
    env.sequence(text=EMAIL_THEN_CALL + '\n[enroll]\nwhere = ["statecode=0"]\n'
                 'max_per_run = 25\n')
    env.crm.set_faults(latency_ms=30)
    procs = [env.spawn("--now", NOW.isoformat(), "sync") for _ in range(WORKERS)]
    enrolled = 0
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        enrolled += sum(json.loads(out.strip().splitlines()[-1])["enrolled"].values())
    rows = env.db(connections)
    per_record = Counter(c.record_id for c in rows)
    assert max(per_record.values()) == 1
    assert len(rows) == enrolled
    # A worker that found the turn taken left it; one that came after the first finished
    # enrols the next max_per_run: never more than that per worker run.
    assert 25 <= enrolled <= 25 * WORKERS
    connected_events = [h for h in env.db(connection_history) if h.event == "connected"]
    assert len(connected_events) == enrolled
