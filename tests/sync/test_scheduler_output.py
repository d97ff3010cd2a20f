"""Issue 10, defects 7 and 8: what cron, systemd and Kubernetes see.

Every stdout and stderr line is JSON when the log format is JSON (errors and the summary too,
with `ts` and `level`); text logs carry a date; `serve` exits 2 at once on an error no retry
can fix and keeps backing off on transient ones."""

from __future__ import annotations

import json
import logging
import re
import subprocess
import time
from datetime import timedelta

import pytest
from support.world import T0, World

from connector.config import load_settings
from connector.dataverse.errors import CredentialRejected, CrmUnreachable
from connector.errors import InvalidInput
from connector.logs import configure_logging
from connector.sync.serve import Loop


def _all_json(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    parsed = []
    for line in lines:
        try:
            parsed.append(json.loads(line))
        except ValueError:
            pytest.fail(f"not a JSON line: {line!r}")
    return parsed


def test_a_cron_run_prints_only_json_lines_with_ts_and_level(env: World) -> None:
    env.write_config(log={"format": "auto", "level": "INFO"})
    done = env.run_cli("--now", T0.isoformat(), "sync")
    assert done.returncode == 0, done.stderr
    summary, = _all_json(done.stdout)
    assert summary["level"] == "info" and summary["outcome"] == "ok"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", summary["ts"])
    assert all({"ts", "level", "msg"} <= line.keys() for line in _all_json(done.stderr))


def test_a_failure_under_cron_is_a_json_line_too(env: World) -> None:
    failed = env.run_cli("--now", T0.isoformat(), "sync", secret="")
    assert failed.returncode == 2
    assert failed.stdout == ""
    error, = _all_json(failed.stderr)
    assert error["level"] == "error" and error["exit_code"] == 2
    assert "no credential" in error["msg"] and "ts" in error


def test_an_unreadable_config_under_cron_is_a_json_line(env: World) -> None:
    env.config.write_text("[crm\n")
    failed = env.run_cli("sync")
    assert failed.returncode == 2
    error, = _all_json(failed.stderr)
    assert "invalid TOML" in error["msg"]


def test_interactive_commands_keep_their_plain_error_line(env: World) -> None:
    failed = env.run_cli("sequence", "show", "nope")
    assert failed.returncode == 2
    assert failed.stderr.startswith("seqsync: error: ")


def test_text_logs_carry_the_date(capsys) -> None:
    configure_logging("text", "INFO")
    logging.getLogger("seqsync.test").info("hello")
    err = capsys.readouterr().err
    assert re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d[+-]\d{4} INFO +hello", err), err


def test_serve_exits_2_at_once_on_a_missing_credential(env: World) -> None:
    started = time.monotonic()
    done = env.run_cli("serve", "--interval", "1s", secret="", timeout=60)
    assert done.returncode == 2
    lines = _all_json(done.stderr)
    assert any(line["msg"].startswith("stopping: ") and "no credential" in line["msg"]
               for line in lines)
    assert not any("next run in" in line["msg"] for line in lines)
    del started


def test_serve_exits_2_on_a_tenant_entra_does_not_know(env: World) -> None:
    env.write_config(crm={"tenant_id": "00000000-0000-4000-8000-00000000dead"})
    done = env.run_cli("serve", "--interval", "1s", timeout=60)
    assert done.returncode == 2, done.stderr
    assert "rejected" in done.stderr or "not found" in done.stderr


def test_serve_backs_off_on_transient_errors_and_stops_on_permanent(env: World) -> None:
    settings = load_settings(env.config)
    errors: list[BaseException] = [CrmUnreachable("down"), CrmUnreachable("still down"),
                                   CredentialRejected(None, "invalid_client", "wrong secret")]
    waits: list[float] = []

    def run(_settings):
        raise errors.pop(0)

    loop = Loop(settings, 10.0, run=run, jitter=0.0)
    loop.stop.wait = lambda seconds: waits.append(seconds) or False  # type: ignore[method-assign]
    assert loop.run_forever() == 2
    assert waits == [20.0, 40.0]  # doubled after each transient failure, none after the last
    assert loop.runs == 3

    loop = Loop(settings, 10.0, run=lambda s: (_ for _ in ()).throw(InvalidInput("bad")))
    assert loop.run_forever() == 2 and loop.runs == 1


def test_serve_keeps_running_while_the_crm_is_unreachable(env: World) -> None:
    env.write_config(crm={"max_retries": 0})
    env.crm.stop()  # the CRM and its token endpoint are gone: connection refused
    proc = env.spawn("serve", "--interval", "1s")
    try:
        time.sleep(4)
        assert proc.poll() is None, "a transient failure must not end serve"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    lines = _all_json(proc.stderr.read())
    assert any("run failed" in line["msg"] for line in lines)
    assert proc.returncode == 0


def test_sync_summary_is_one_line_even_with_json_flag(env: World) -> None:
    done = env.run_cli("--json", "--now", (T0 + timedelta(minutes=1)).isoformat(), "sync")
    assert done.returncode == 0
    assert len(done.stdout.strip().splitlines()) == 1
