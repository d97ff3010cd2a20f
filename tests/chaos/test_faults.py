"""Throttling storms, transient 5xx, dropped connections, slow replies, partial failures."""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
import responses
from support.world import T0, World, make_world

from connector.store.schema import connection_history
from connector.sync import run as sync_run
from connector.sync.run import run_sync

from .harness import FIGURES
from .invariants import check
from .recorder import Recorder
from .spoiler import Hostile

NOW = T0 + timedelta(minutes=1)


def _prepare(world: World, n: int | None = None, **sync: object) -> list[str]:
    world.write_config(sync={"batch_size": 10, "max_workers": 4, **sync})
    assert world.sync(T0).outcome == "ok"
    seq = world.sequence()
    leads = world.open_leads(n)
    world.connect(seq, leads)
    return leads


def _final_state(world: World) -> dict[str, object]:
    """What a user could compare between two runs: activities per lead, connection steps."""
    from connector.store.schema import connections, outbox

    acts = sorted((str(r["_regardingobjectid_value"]), str(r["subject"]), s)
                  for s in ("emails", "phonecalls", "tasks") for r in world.crm.rows(s))
    return {
        "activities": acts,
        "outbox": Counter(o.status for o in world.db(outbox)),
        "connections": sorted((c.record_id, c.state, c.activity_id is not None)
                              for c in world.db(connections)),
    }


def _storm(tmp_path, monkeypatch, leads: int, rate_limit: tuple[int, float]) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": leads}) as world:
        _prepare(world, batch_size=5)
        # Requests over the window answer 429 with a Retry-After of up to the window's length,
        # and the concurrency limit refuses a fourth request in flight.
        world.crm.set_faults(rate_limit=rate_limit, concurrency_limit=3, latency_ms=20)
        recorder = Recorder()
        report = run_sync(world.settings, now=NOW, client_factory=recorder.factory)
        assert report.outcome == "ok", report.errors
        told = [e.retry_after for e in recorder.exchanges if e.status == 429]
        assert len(told) >= 3, told
        assert recorder.early_retries() == [], "a request left before its Retry-After"
        # Each 429 was waited out for exactly as long as told (the total is what `make chaos`
        # reports as the wait honoured).
        assert report.throttled == len(told)
        assert report.retry_wait_seconds >= sum(told) - 0.01
        allowances = [e.allowance for e in recorder.exchanges]
        assert min(allowances) < max(allowances), "concurrency must drop while throttled"
        verdict = check(world, NOW, complete=True)
        assert verdict.ok, verdict
        FIGURES.add_verdict(verdict)
        FIGURES.runs += 1
        FIGURES.completed_runs += 1
        FIGURES.add_mock(world.crm.stats())
        FIGURES.throttled_by_client += report.throttled
        FIGURES.wait_honoured_seconds += report.retry_wait_seconds
        FIGURES.retries += report.retries


def test_a_throttling_storm_is_waited_out_never_early_and_lowers_concurrency(
    tmp_path, monkeypatch
) -> None:
    _storm(tmp_path, monkeypatch, leads=60, rate_limit=(6, 2.0))


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_long_throttling_storm_with_retry_after_up_to_5_seconds(tmp_path, monkeypatch) -> None:
    FIGURES.scenarios.append("throttling-storm-1500")
    _storm(tmp_path, monkeypatch, leads=1500, rate_limit=(40, 5.0))


def test_transient_5xx_and_dropped_connections_end_in_the_same_state_as_a_clean_run(
    tmp_path, monkeypatch
) -> None:
    states = []
    for label, rate in (("clean", 0.0), ("faulty", 0.2)):
        folder = tmp_path / label
        folder.mkdir()
        with make_world(folder, monkeypatch, generate={"leads": 80}) as world:
            _prepare(world, batch_size=4, page_size=20)
            world.crm.set_faults(fault_rate=rate, fault_seed=99)
            report = world.sync(NOW)
            assert report.outcome == "ok", report.errors
            stats = world.crm.stats()
            if rate:
                assert sum(stats["faults"].values()) >= 3, stats["faults"]
                assert report.retries >= 3
                FIGURES.add_mock(stats)
            assert check(world, NOW, complete=True).ok
            states.append(_final_state(world))
    assert states[0] == states[1]


def test_replies_slower_than_the_read_timeout_are_retried_without_duplicates(
    tmp_path, monkeypatch
) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 60}) as world:
        leads = _prepare(world, batch_size=10)
        world.write_config(crm={"read_timeout": 0.4}, sync={"batch_size": 10, "max_workers": 2})
        # The first CreateMultiple requests are held past the timeout: the CRM takes the rows,
        # the client gives up waiting and sends the same ids again.
        world.crm.set_faults(latency_ms=700)

        def heal() -> None:
            time.sleep(2.0)
            world.crm.set_faults(latency_ms=0)

        healer = threading.Thread(target=heal)
        healer.start()
        try:
            report = world.sync(NOW)
        finally:
            healer.join()
        assert report.outcome == "ok", report.errors
        assert report.retries >= 1
        assert len(world.crm.rows("emails")) == len(leads)
        assert check(world, NOW, complete=True).ok


def test_one_bad_row_in_a_chunk_fails_alone_and_the_rest_are_created(
    tmp_path, monkeypatch
) -> None:
    with make_world(tmp_path, monkeypatch, generate={"leads": 30}) as world:
        leads = _prepare(world, batch_size=10)
        # A lead deleted in the CRM after the pull: its email's regarding binding now fails,
        # so CreateMultiple refuses its whole chunk.
        doomed = leads[3]
        original_pull = sync_run.pull

        def pull_then_delete(ctx):  # type: ignore[no-untyped-def]
            original_pull(ctx)
            world.crm.delete("leads", doomed)

        monkeypatch.setattr("connector.sync.run.pull", pull_then_delete)
        report = world.sync(NOW)
        assert report.outcome == "partial"
        assert [e["record_id"] for e in report.errors] == [doomed]
        regarding = sorted(str(r["_regardingobjectid_value"]) for r in world.crm.rows("emails"))
        assert regarding == sorted(set(leads) - {doomed})
        assert world.crm.stats()["requests"]["by_route"].get("POST $batch", 0) >= 1
        verdict = check(world, NOW, complete=True)
        assert verdict.ok, verdict
        ended = [h for h in world.db(connection_history) if h.event == "ended"]
        assert [(h.record_id, h.reason) for h in ended] == [(doomed, "error")]


@pytest.mark.chaos
@pytest.mark.timeout(1800)
def test_long_storm_where_a_third_of_requests_are_throttled(tmp_path, monkeypatch) -> None:
    """A seeded 35% of API requests answered 429 with Retry-After 1-5 s, on top of the mock's
    own concurrency limit: the run completes, never early, with its concurrency lowered."""
    rng = random.Random(5)
    with make_world(tmp_path, monkeypatch, generate={"leads": 400}) as world:
        _prepare(world, batch_size=10)
        world.crm.set_faults(concurrency_limit=3, latency_ms=10)
        recorder = Recorder()
        told: list[int] = []

        def throttle(status, headers, body, n):  # type: ignore[no-untyped-def]
            if rng.random() < 0.35:
                told.append(rng.randint(1, 5))
                payload = {"error": {"code": "0x80072321", "message": "Combined execution time "
                                     "of incoming requests exceeded limit."}}
                return 429, {"Retry-After": str(told[-1]),
                             "Content-Type": "application/json"}, json.dumps(payload).encode()
            return status, headers, body

        with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
            rsps.add_passthru(world.crm.url)
            storm = Hostile(world, rsps)
            storm.on("GET", r"/(leads|opportunities|emails|phonecalls|tasks)(\?.*)?$", throttle)
            storm.on("POST", r"/emails/Microsoft\.Dynamics\.CRM\.CreateMultiple$", throttle)
            report = run_sync(world.settings, now=NOW, client_factory=recorder.factory)
        assert report.outcome == "ok", report.errors
        assert len(told) >= 10
        assert recorder.early_retries() == []
        allowances = [e.allowance for e in recorder.exchanges]
        assert min(allowances) < max(allowances)
        verdict = check(world, NOW, complete=True)
        assert verdict.ok, verdict
        FIGURES.add_verdict(verdict)
        FIGURES.runs += 1
        FIGURES.completed_runs += 1
        FIGURES.scenarios.append("storm-35%-429")
        FIGURES.add_mock(world.crm.stats())
        FIGURES.throttled_requests += len(told)
        FIGURES.throttled_by_client += report.throttled
        FIGURES.wait_honoured_seconds += report.retry_wait_seconds
        FIGURES.retries += report.retries


def test_a_change_set_with_one_bad_row_is_rolled_back_whole(world: World) -> None:
    """What the atomic path promises: one refused operation undoes the others in its set."""
    import uuid

    from connector.dataverse.client import BatchOperation, DataverseClient

    lead = world.open_leads(1)[0]
    good, bad = str(uuid.uuid4()), str(uuid.uuid4())
    ops = [
        BatchOperation("PATCH", f"tasks({good})", {
            "subject": "fine", "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"},
            {"If-None-Match": "*"}),
        BatchOperation("PATCH", f"tasks({bad})", {
            "subject": "refused", "regardingobjectid_lead_task@odata.bind":
            f"/leads({uuid.uuid4()})"}, {"If-None-Match": "*"}),
    ]
    results = DataverseClient(world.settings.crm).execute_batch(ops, atomic=True)
    assert results and not results[-1].ok
    assert world.crm.get("tasks", good) is None and world.crm.get("tasks", bad) is None
