"""`seqsync doctor`: one line per check, --json, exit 0 only if every check passes."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from support.world import World

from connector.config import load_settings
from connector.dataverse.batch import BatchResult
from connector.dataverse.errors import AuthFailed, DataverseError
from connector.doctor import run_doctor

CHECKS = ["config", "crm settings", "ca", "credential", "token", "whoami", "clock skew",
          "read leads", "change tracking lead", "read opportunities",
          "change tracking opportunity", "create emails", "create phonecalls", "create tasks",
          "state database"]


def test_a_good_set_up_passes_every_check_and_writes_nothing_to_the_crm(env: World) -> None:
    result = env.cli("--json", "doctor")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [c["name"] for c in report["checks"]] == CHECKS
    assert {c["status"] for c in report["checks"]} == {"ok"}
    assert len(result.stdout.strip().splitlines()) == 1  # one JSON line, for cron
    assert env.activities() == []  # the create probes were rolled back
    human = env.cli("doctor")
    lines = human.stdout.strip().splitlines()
    assert len(lines) == len(CHECKS) + 1 and lines[-1] == "all checks passed"
    assert all(line.startswith("ok") for line in lines[:-1])


def test_a_wrong_secret_fails_the_token_check_and_skips_what_needs_it(env: World,
                                                                      monkeypatch) -> None:
    monkeypatch.setenv("SEQSYNC_TEST_SECRET", "not-the-secret-at-all")
    result = env.cli("--json", "doctor")
    assert result.exit_code == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["credential"]["status"] == "ok"
    assert checks["token"]["status"] == "fail" and "invalid_client" in checks["token"]["detail"]
    assert checks["whoami"]["status"] == "skip"
    assert checks["state database"]["status"] == "ok"
    assert "not-the-secret-at-all" not in result.stdout + result.stderr


def test_a_missing_secret_and_a_missing_ca_are_named(env: World, monkeypatch) -> None:
    monkeypatch.delenv("SEQSYNC_TEST_SECRET")
    env.write_config(crm={"ca_bundle": str(env.folder / "nope.pem")})
    result = env.cli("doctor")
    assert result.exit_code == 1
    out = result.stdout
    assert "FAIL  ca" in out and "nope.pem" in out
    assert "FAIL  credential" in out and "SEQSYNC_TEST_SECRET" in out


def test_an_unreadable_config_is_exit_2_with_a_config_line(env: World) -> None:
    env.config.write_text("[crm\n")
    result = env.cli("doctor")
    assert result.exit_code == 2
    assert result.stdout.startswith("FAIL  config") and "invalid TOML" in result.stdout


class FakeCrm:
    """A CRM with a slow clock, one unreadable table, change tracking off on another and no
    create privilege on tasks: the doctor's findings, one by one."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.batches: list[list[Any]] = []

    def whoami_at(self):
        return {"UserId": "u", "OrganizationId": "o"}, self.now - timedelta(minutes=9)

    def query(self, entity_set, select, filter=None, **kwargs):
        if entity_set == "opportunities":
            raise AuthFailed(403, "0x80040220", "Principal user is missing prvReadOpportunity")
        return iter([{"leadid": "x"}])

    def entity_definition(self, logical_name, select):
        return {"ChangeTrackingEnabled": logical_name == "opportunity"}

    def execute_batch(self, operations, continue_on_error=False, atomic=False):
        assert atomic and operations[0].method == "POST" and operations[1].method == "PATCH"
        self.batches.append(operations)
        if operations[0].url == "tasks":
            error = DataverseError(403, "0x80040220", "missing prvCreateTask")
            return [BatchResult(403, {}, None, "1", error, str(error))]
        return [BatchResult(404, {}, None, "2", None, "Does Not Exist")]


def test_each_finding_is_its_own_failed_line(env: World) -> None:
    now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    crm = FakeCrm(now)
    checks = {c.name: c for c in run_doctor(load_settings(env.config), lambda s: crm,
                                            clock=lambda: now)}
    assert checks["clock skew"].status == "fail" and "+540.0 s" in checks["clock skew"].detail
    assert checks["read leads"].ok
    assert not checks["read opportunities"].ok
    assert "prvReadOpportunity" in checks["read opportunities"].detail
    assert not checks["change tracking lead"].ok and checks["change tracking opportunity"].ok
    assert checks["create emails"].ok and checks["create phonecalls"].ok
    assert not checks["create tasks"].ok and "prvCreateTask" in checks["create tasks"].detail
    assert len(crm.batches) == 3
