"""CreateMultiple / UpdateMultiple / UpsertMultiple: shapes and atomicity."""

from __future__ import annotations

import pytest

from connector.mockserver import MockDataverse

from .conftest import Api, error_of, new_id


@pytest.mark.parametrize("entity_set", ["tasks", "emails", "phonecalls", "leads", "opportunities"])
def test_create_multiple_returns_ids(crm: MockDataverse, api: Api, entity_set: str) -> None:
    logical = {"opportunities": "opportunity"}.get(entity_set, entity_set[:-1])
    name = "name" if entity_set == "opportunities" else (
        "fullname" if entity_set == "leads" else "subject")
    targets = [{"@odata.type": f"Microsoft.Dynamics.CRM.{logical}", name: f"row {i}"}
               for i in range(3)]
    resp = api.post(f"{entity_set}/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": targets})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith("#Microsoft.Dynamics.CRM.CreateMultipleResponse")
    assert len(body["Ids"]) == 3
    assert {r[name] for r in crm.rows(entity_set)} == {"row 0", "row 1", "row 2"}
    assert crm.stats()["requests"]["by_route"][f"POST {entity_set}/CreateMultiple"] == 1


def test_create_multiple_with_regarding_and_chosen_ids(crm: MockDataverse, api: Api) -> None:
    lead = crm.insert("leads", {"fullname": "Ann"})
    ids = [new_id(), new_id()]
    targets = [{"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": i, "subject": "s",
                "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"} for i in ids]
    resp = api.post("tasks/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert resp.json()["Ids"] == ids


def test_create_multiple_is_atomic(crm: MockDataverse, api: Api) -> None:
    existing = api.create("tasks", {"subject": "already here"})
    targets = [
        {"@odata.type": "Microsoft.Dynamics.CRM.task", "subject": "new"},
        {"@odata.type": "Microsoft.Dynamics.CRM.task", "activityid": existing, "subject": "dup"},
    ]
    resp = api.post("tasks/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": targets})
    assert resp.status_code == 412
    assert error_of(resp)["code"] == "0x80040237"
    assert [r["subject"] for r in crm.rows("tasks")] == ["already here"]


def test_every_target_needs_odata_type(crm: MockDataverse, api: Api) -> None:
    resp = api.post("tasks/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": [{"subject": "no type"}]})
    assert resp.status_code == 400
    assert "@odata.type" in error_of(resp)["message"]
    wrong = api.post("tasks/CreateMultiple", json={"Targets": [
        {"@odata.type": "Microsoft.Dynamics.CRM.email", "subject": "x"}]})
    assert wrong.status_code == 400
    assert api.post("systemusers/CreateMultiple", json={"Targets": []}).status_code == 400


def test_update_multiple_applies_first_duplicate_and_is_atomic(
    crm: MockDataverse, api: Api
) -> None:
    a = api.create("leads", {"fullname": "A"})
    b = api.create("leads", {"fullname": "B"})
    t = "Microsoft.Dynamics.CRM.lead"
    resp = api.post("leads/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": t, "leadid": a, "subject": "first"},
        {"@odata.type": t, "leadid": a, "subject": "ignored"},
        {"@odata.type": t, "leadid": b, "subject": "b too"}]})
    assert resp.status_code == 204
    assert crm.get("leads", a)["subject"] == "first"
    failing = api.post("leads/UpdateMultiple", json={"Targets": [
        {"@odata.type": t, "leadid": a, "subject": "rolled back"},
        {"@odata.type": t, "leadid": new_id(), "subject": "missing"}]})
    assert failing.status_code == 404
    assert crm.get("leads", a)["subject"] == "first"


def test_upsert_multiple_creates_and_updates(crm: MockDataverse, api: Api) -> None:
    a = api.create("tasks", {"subject": "old"})
    b = new_id()
    t = "Microsoft.Dynamics.CRM.task"
    resp = api.post("tasks/UpsertMultiple", json={"Targets": [
        {"@odata.type": t, "activityid": a, "subject": "new"},
        {"@odata.type": t, "@odata.id": f"tasks({b})", "subject": "made"}]})
    assert resp.status_code == 204
    assert crm.get("tasks", a)["subject"] == "new" and crm.get("tasks", b)["subject"] == "made"
