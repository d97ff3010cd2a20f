"""seqsync sync against the mock Dataverse: what a sales team sees happen in the CRM."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from datetime import timedelta

from support.world import EMAIL_THEN_CALL, T0, World

from connector.mapping import default_directory
from connector.store.schema import connections, outbox, records


def test_first_sync_mirrors_leads_and_opportunities(env: World) -> None:
    report = env.sync(T0)
    assert report.outcome == "ok"
    assert report.rows_pulled == {"lead": 20, "opportunity": 6}
    local = {r.id: r for r in env.db(records)}
    for row in env.crm.rows("leads"):
        mirrored = local[str(row["leadid"])]
        assert mirrored.name == row["fullname"]
        assert mirrored.owner_id == row["_ownerid_value"]
        assert mirrored.is_open == (row["statecode"] == 0)


def test_a_custom_column_in_the_mapping_reaches_the_local_record(env: World) -> None:
    mappings = env.folder / "mappings"
    shutil.copytree(default_directory(), mappings)
    lead_toml = mappings / "lead.toml"
    text = lead_toml.read_text(encoding="utf-8")
    if "[columns]" in text:
        text = text.replace("[columns]", '[columns]\nnew_region = "string"', 1)
    else:
        text += '\n[columns]\nnew_region = "string"\n'
    lead_toml.write_text(text, encoding="utf-8")
    lead = env.open_leads(1)[0]
    env.crm.update("leads", lead, {"new_region": "EMEA"})
    env.write_config(sync={"mappings_dir": str(mappings)})
    env.sync(T0)
    local = {r.id: r for r in env.db(records)}
    assert local[lead].columns["new_region"] == "EMEA"


def test_due_steps_become_one_crm_activity_each_however_often_sync_runs(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    leads = env.open_leads(8)
    env.connect(seq, leads)
    first = env.sync(T0 + timedelta(minutes=1))
    assert first.activities_created == {"email": 8}
    for minute in (2, 3, 4):
        again = env.sync(T0 + timedelta(minutes=minute))
        assert sum(again.activities_created.values()) == 0
    emails = env.crm.rows("emails")
    assert sorted(str(e["_regardingobjectid_value"]) for e in emails) == sorted(leads)
    owners = {str(r["leadid"]): r["_ownerid_value"] for r in env.crm.rows("leads")}
    for email in emails:
        assert email["subject"] == "Hello"
        assert email["description"] == "First touch"
        assert email["_ownerid_value"] == owners[str(email["_regardingobjectid_value"])]
        assert str(email["scheduledend"]).startswith("2026-03-02T09:00")
        assert email["statecode"] == 0
    parties = [p for p in env.crm.rows("activityparties")
               if p["_activityid_value"] == emails[0]["activityid"]]
    assert sorted(p["participationtypemask"] for p in parties) == [1, 2]


def test_completion_advances_and_the_wait_counts_from_actualend(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    lead = env.open_leads(1)[0]
    env.connect(seq, [lead])
    env.sync(T0)
    email = env.crm.rows("emails")[0]
    done_at = T0 + timedelta(hours=5)
    env.complete("emails", str(email["activityid"]), done_at)
    report = env.sync(T0 + timedelta(days=1))
    assert report.activities_completed == 1
    assert env.crm.rows("phonecalls") == []
    # The two-day wait runs from the completion (09:00 + 5 h), not from when sync saw it.
    assert sum(env.sync(done_at + timedelta(days=2, minutes=-1)).activities_created.values()) == 0
    report = env.sync(done_at + timedelta(days=2))
    assert report.activities_created == {"phonecall": 1}
    call = env.crm.rows("phonecalls")[0]
    env.complete("phonecalls", str(call["activityid"]), done_at + timedelta(days=3))
    env.sync(done_at + timedelta(days=3, hours=1))
    ended = [h for h in env.history(lead) if h.event == "ended"]
    assert [h.reason for h in ended] == ["completed"]
    assert env.db(connections) == []


def test_a_cancelled_activity_counts_as_skipped_and_advances(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    lead = env.open_leads(1)[0]
    env.connect(seq, [lead])
    env.sync(T0)
    email = env.crm.rows("emails")[0]
    env.complete("emails", str(email["activityid"]), T0 + timedelta(hours=1), cancel=True)
    report = env.sync(T0 + timedelta(days=3))
    assert report.activities_skipped == 1
    assert report.activities_created == {"phonecall": 1}
    assert any(h.event == "step_skipped" for h in env.history(lead))


def test_closed_and_deleted_records_are_disconnected_with_their_reasons(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    qualified, deleted, staying = env.open_leads(3)
    env.connect(seq, [qualified, deleted, staying])
    env.crm.update("leads", qualified, {"statecode": 1, "statuscode": 3})
    env.crm.delete("leads", deleted)
    report = env.sync(T0 + timedelta(minutes=1))
    assert report.disconnected == {"record_closed": 1, "record_deleted": 1}
    # Nothing was created for the two that left; the third got its email.
    assert [str(e["_regardingobjectid_value"]) for e in env.crm.rows("emails")] == [staying]
    assert [h.reason for h in env.history(qualified) if h.event == "ended"] == ["record_closed"]
    assert [h.reason for h in env.history(deleted) if h.event == "ended"] == ["record_deleted"]


def test_disconnect_on_close_can_be_turned_off(env: World) -> None:
    env.write_config(sync={"disconnect_on_close": False})
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    lead = env.open_leads(1)[0]
    env.connect(seq, [lead])
    env.crm.update("leads", lead, {"statecode": 1, "statuscode": 3})
    report = env.sync(T0 + timedelta(minutes=1))
    assert report.disconnected == {}
    assert [c.record_id for c in env.db(connections)] == [lead]


def test_a_record_deleted_between_pull_and_push_fails_alone(env: World, monkeypatch) -> None:
    import connector.sync.run as run_module

    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    doomed, *others = env.open_leads(5)
    env.connect(seq, [doomed, *others])
    real_pull = run_module.pull

    def pull_then_lose_a_lead(ctx):  # the seller deletes it right after our pull
        real_pull(ctx)
        env.crm.delete("leads", doomed)

    monkeypatch.setattr(run_module, "pull", pull_then_lose_a_lead)
    result = env.cli("--json", "sync", now=T0 + timedelta(minutes=1))
    assert result.exit_code == 1, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["activities_created"] == {"email": 4}
    assert summary["errors"] == 1
    assert summary["error_details"][0]["record_id"] == doomed
    ended = [h for h in env.history(doomed) if h.event == "ended"]
    assert ended[0].reason == "error" and "do not exist" in (ended[0].message or "").lower()
    status = json.loads(env.cli("--json", "status").stdout)
    assert [e["record_id"] for e in status["connections_in_error"]] == [doomed]
    shown = env.cli("--json", "records", "show", doomed)
    assert "error" in shown.stdout


def test_deleting_a_sequence_keeps_its_activities_out_of_the_crm(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads(4))
    result = env.cli("sequence", "delete", seq, "--yes")
    assert result.exit_code == 0, result.output
    assert env.db(connections) == []
    report = env.sync(T0 + timedelta(minutes=1))
    assert sum(report.activities_created.values()) == 0
    assert env.crm.rows("emails") == []


def test_deleting_a_sequence_can_cancel_its_open_crm_activities(env: World) -> None:
    env.write_config(sync={"cancel_open_activities_on_disconnect": True})
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads(3))
    env.sync(T0 + timedelta(minutes=1))
    emails = env.crm.rows("emails")
    env.complete("emails", str(emails[0]["activityid"]), T0 + timedelta(minutes=2))
    assert env.cli("sequence", "delete", seq, "--yes").exit_code == 0
    report = env.sync(T0 + timedelta(minutes=3))
    assert report.activities_canceled_in_crm == 2
    states = Counter(e["statecode"] for e in env.crm.rows("emails"))
    assert states == {1: 1, 2: 2}  # the completed one stays completed: it is history


def test_dry_run_reads_the_crm_and_writes_nothing_anywhere(env: World) -> None:
    env.sync(T0)
    seq = env.sequence(text=EMAIL_THEN_CALL)
    env.connect(seq, env.open_leads(3))
    before_db = env.snapshot()
    before = env.crm.stats()["requests"]["by_route"]
    result = env.cli("--json", "sync", "--dry-run", now=T0 + timedelta(minutes=1))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["dry_run"] is True
    assert summary["would_write"][0]["count"] == 3
    assert env.crm.rows("emails") == []
    after = env.crm.stats()["requests"]["by_route"]
    grew = {route for route, n in after.items() if n != before.get(route, 0)}
    assert grew and all(route.startswith("GET ") or route == "POST token" for route in grew)
    assert env.snapshot() == before_db
    assert env.db(outbox) == []


def test_sync_json_summary_has_every_figure(env: World) -> None:
    result = env.cli("--json", "sync", now=T0)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("rows_pulled", "records_disconnected", "activities_created",
                "activities_completed", "errors", "crm_requests", "retries",
                "duration_seconds"):
        assert key in summary
    assert summary["crm_requests"] >= 3
