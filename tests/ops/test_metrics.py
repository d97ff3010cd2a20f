"""Prometheus metrics: `serve --metrics-port` with /healthz and /readyz, and the textfile a
cron run writes with `sync --metrics-file`."""

from __future__ import annotations

import json
import select
import signal
import time
from datetime import timedelta

import requests
from prometheus_client.parser import text_string_to_metric_families
from support.world import EMAIL_THEN_CALL, T0, World

from connector.health import Health
from connector.metrics import SyncMetrics
from connector.sync.report import RunReport


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _metrics_port(proc, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stderr], [], [], 1)
        if not ready:
            assert proc.poll() is None, "serve ended early"
            continue
        line = proc.stderr.readline()
        if line.startswith("{") and "metrics_port" in line:
            return int(json.loads(line)["metrics_port"])
    raise AssertionError("serve never said where its metrics are")


def _get_until(url: str, status: int, timeout: float = 60) -> requests.Response:
    deadline = time.monotonic() + timeout
    while True:
        resp = requests.get(url, timeout=5)
        if resp.status_code == status or time.monotonic() > deadline:
            return resp
        time.sleep(0.2)


def test_serve_exposes_metrics_health_and_readiness(env: World) -> None:
    env.sync(T0)
    env.connect(env.sequence(text=EMAIL_THEN_CALL), env.open_leads(3))
    env.write_config(log={"level": "INFO"})
    proc = env.spawn("serve", "--interval", "2s", "--metrics-port", "0")
    try:
        port = _metrics_port(proc)
        base = f"http://127.0.0.1:{port}"
        assert requests.get(f"{base}/healthz", timeout=5).status_code == 200
        ready = _get_until(f"{base}/readyz", 200)
        assert ready.status_code == 200 and "last run: ok" in ready.text
        text = requests.get(f"{base}/metrics", timeout=5).text
        found = samples(text)
        assert found[("seqsync_runs_total", (("outcome", "ok"),))] >= 1
        assert found[("seqsync_activities_created_total", (("type", "email"),))] == 3
        assert found[("seqsync_crm_requests_total", (("kind", "whoami"), ("status", "200")))] >= 1
        assert found[("seqsync_outbox_backlog", ())] == 0
        assert found[("seqsync_connections", (("sequence", "Outreach"), ("status", "waiting")))
                     ] == 3
        assert 0 <= found[("seqsync_seconds_since_last_success", ())] < 600
        assert found[("seqsync_last_run_duration_seconds", ())] > 0
        assert ("seqsync_crm_throttled_total", ()) in found
        assert ("seqsync_crm_retry_wait_seconds_total", ()) in found
    except BaseException:
        proc.kill()
        proc.wait()
        raise
    proc.send_signal(signal.SIGTERM)  # and the port closes with the process
    assert proc.wait(timeout=30) == 0


def test_cron_runs_keep_counting_in_the_textfile_even_when_failing(env: World) -> None:
    prom = env.folder / "textfile" / "seqsync.prom"
    prom.parent.mkdir()
    for minute in (0, 1):
        done = env.run_cli("--now", (T0 + timedelta(minutes=minute)).isoformat(), "sync",
                           "--metrics-file", str(prom))
        assert done.returncode == 0, done.stderr
    found = samples(prom.read_text())
    assert found[("seqsync_runs_total", (("outcome", "ok"),))] == 2
    requests_before = sum(v for (name, _), v in found.items()
                          if name == "seqsync_crm_requests_total")
    assert requests_before > 0
    assert not any(name.endswith("_created") for name, _ in found)

    failed = env.run_cli("sync", "--metrics-file", str(prom), secret="")
    assert failed.returncode == 2
    found = samples(prom.read_text())
    assert found[("seqsync_runs_total", (("outcome", "ok"),))] == 2
    assert found[("seqsync_runs_total", (("outcome", "failed"),))] == 1
    assert sum(v for (name, _), v in found.items()
               if name == "seqsync_crm_requests_total") == requests_before
    assert found[("seqsync_seconds_since_last_success", ())] >= 0


def test_a_report_feeds_requests_throttling_and_activities() -> None:
    from datetime import UTC, datetime

    report = RunReport(clock=datetime(2026, 3, 2, tzinfo=UTC), outcome="ok",
                       started_on=datetime(2026, 3, 2, 9, tzinfo=UTC),
                       finished_on=datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC),
                       crm_replies={"read 200": 4, "create_multiple 429": 2,
                                    "create_multiple 200": 1},
                       retry_wait_seconds=3.5)
    report.count_created("email", 7)
    metrics = SyncMetrics(clock=lambda: datetime(2026, 3, 2, 9, 1, 5, tzinfo=UTC).timestamp())
    metrics.observe_run(report)
    from prometheus_client import generate_latest

    found = samples(generate_latest(metrics.registry).decode())
    assert found[("seqsync_crm_throttled_total", ())] == 2
    assert found[("seqsync_crm_retry_wait_seconds_total", ())] == 3.5
    assert found[("seqsync_activities_created_total", (("type", "email"),))] == 7
    assert found[("seqsync_run_seconds_total", ())] == 5
    assert found[("seqsync_seconds_since_last_success", ())] == 60


def test_readiness_follows_the_last_run() -> None:
    health = Health()
    assert health.ready()[0] is False  # before the first run
    health.last_outcome = "ok"
    assert health.ready()[0] is True
    health.last_outcome = "failed"
    assert health.ready() == (False, "last run: failed")
    assert health.live()[0] is True
    health.stopping = True
    assert health.live()[0] is False
