"""Create, update, upsert, delete, conditional headers, @odata.bind and activity rules."""

from __future__ import annotations

import pytest

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of, new_id


@pytest.fixture
def lead(api: Api) -> str:
    return api.create("leads", {"firstname": "Ann", "lastname": "Lee", "fullname": "Ann Lee"})


def test_post_answers_204_with_an_absolute_entity_id(crm: MockDataverse, api: Api) -> None:
    resp = api.post("leads", json={"fullname": "Ann Lee"})
    assert resp.status_code == 204
    assert resp.headers["OData-EntityId"].startswith(f"{crm.api_url}/leads(")
    row_id = resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    assert crm.get("leads", row_id)["fullname"] == "Ann Lee"


def test_post_with_return_representation_answers_201_and_the_row(api: Api) -> None:
    resp = api.post("leads?$select=fullname", json={"fullname": "Bo Chen"},
                    headers={"Prefer": "return=representation"})
    assert resp.status_code == 201
    body = resp.json()
    assert body["fullname"] == "Bo Chen" and "leadid" in body and "@odata.etag" in body


def test_caller_chosen_id_and_duplicate_key_error(crm: MockDataverse, api: Api) -> None:
    chosen = new_id()
    assert api.create("tasks", {"activityid": chosen, "subject": "Call"}) == chosen
    again = api.post("tasks", json={"activityid": chosen, "subject": "Call"})
    assert again.status_code == 412
    assert error_of(again)["code"] == "0x80040237"
    assert len(crm.rows("tasks")) == 1


def test_unknown_column_is_400_naming_the_property(api: Api) -> None:
    resp = api.post("leads", json={"fullname": "x", "colour": "red"})
    assert resp.status_code == 400
    assert error_of(resp)["message"].startswith(
        "The property 'colour' does not exist on type 'Microsoft.Dynamics.CRM.lead'")


def test_seeded_custom_columns_become_writable(make_crm: MakeCrm) -> None:
    crm = make_crm(seed={"leads": [{"fullname": "Seeded", "new_region": "EU"}]})
    api = Api(crm)
    row_id = api.create("leads", {"fullname": "New", "new_region": "US"})
    assert crm.get("leads", row_id)["new_region"] == "US"


def test_patch_without_condition_upserts(crm: MockDataverse, api: Api) -> None:
    chosen = new_id()
    first = api.patch(f"leads({chosen})", json={"fullname": "Upserted"})
    assert first.status_code == 204
    second = api.patch(f"leads({chosen})", json={"fullname": "Updated"},
                       headers={"Prefer": "return=representation"})
    assert second.status_code == 200 and second.json()["fullname"] == "Updated"
    assert len(crm.rows("leads")) == 1


def test_if_match_star_blocks_create(api: Api) -> None:
    resp = api.patch(f"leads({new_id()})", json={"fullname": "x"}, headers={"If-Match": "*"})
    assert resp.status_code == 404
    assert error_of(resp)["code"] == "0x80040217"


def test_if_none_match_star_blocks_update(api: Api, lead: str) -> None:
    resp = api.patch(f"leads({lead})", json={"fullname": "x"}, headers={"If-None-Match": "*"})
    assert resp.status_code == 412
    assert "already exists" in error_of(resp)["message"]
    created = api.patch(f"leads({new_id()})", json={"fullname": "y"},
                        headers={"If-None-Match": "*"})
    assert created.status_code == 204


def test_etag_conditions_on_patch_and_delete(crm: MockDataverse, api: Api, lead: str) -> None:
    etag = api.get(f"leads({lead})").json()["@odata.etag"]
    ok = api.patch(f"leads({lead})", json={"subject": "v2"}, headers={"If-Match": etag})
    assert ok.status_code == 204
    stale = api.patch(f"leads({lead})", json={"subject": "v3"}, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert "doesn't match the RowVersion" in error_of(stale)["message"]
    assert api.delete(f"leads({lead})", headers={"If-Match": etag}).status_code == 412
    assert crm.get("leads", lead)["subject"] == "v2"


def test_if_none_match_null_means_no_condition(api: Api, lead: str) -> None:
    resp = api.patch(f"leads({lead})", json={"subject": "x"}, headers={"If-None-Match": "null"})
    assert resp.status_code == 204


def test_delete_and_delete_missing(crm: MockDataverse, api: Api, lead: str) -> None:
    assert api.delete(f"leads({lead})", headers={"If-Match": "*"}).status_code == 204
    assert crm.get("leads", lead) is None
    assert api.delete(f"leads({lead})").status_code == 404


def test_bind_regarding_owner_and_parties(crm: MockDataverse, api: Api, lead: str) -> None:
    seller = next(u["systemuserid"] for u in crm.rows("systemusers")
                  if u["fullname"] == "Avery Seller")
    email = api.create("emails", {
        "subject": "Following up", "description": "<p>Hi</p>",
        "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
        "ownerid@odata.bind": f"/systemusers({seller})",
        "email_activity_parties": [
            {"partyid_systemuser@odata.bind": f"/systemusers({seller})",
             "participationtypemask": 1},
            {"partyid_lead@odata.bind": f"leads({lead})", "participationtypemask": 2},
        ],
    })
    row = crm.get("emails", email)
    assert row["_regardingobjectid_value"] == lead and row["_ownerid_value"] == seller
    assert row["activitytypecode"] == "email"
    parties = api.get(f"activityparties?$filter=_activityid_value eq {email}").json()["value"]
    assert sorted((p["participationtypemask"], p["_partyid_value"]) for p in parties) == sorted(
        [(1, seller), (2, lead)])
    expanded = api.get(f"emails({email})?$select=subject&$expand=email_activity_parties"
                       "($select=participationtypemask)").json()
    assert sorted(p["participationtypemask"] for p in expanded["email_activity_parties"]) == [1, 2]


def test_phonecall_parties_deep_insert(crm: MockDataverse, api: Api, lead: str) -> None:
    call = api.create("phonecalls", {
        "subject": "Intro call", "regardingobjectid_lead_phonecall@odata.bind": f"/leads({lead})",
        "phonecall_activity_parties": [
            {"partyid_lead@odata.bind": f"/leads({lead})", "participationtypemask": 2}],
    })
    assert [p["_activityid_value"] for p in crm.rows("activityparties")] == [call]


def test_bind_to_a_missing_row_is_400_and_nothing_is_written(
    crm: MockDataverse, api: Api, lead: str
) -> None:
    missing = new_id()
    resp = api.post("tasks", json={
        "subject": "x", "regardingobjectid_lead_task@odata.bind": f"/leads({missing})"})
    assert resp.status_code == 400
    assert missing in error_of(resp)["message"]
    bad_party = api.post("emails", json={
        "subject": "x", "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
        "email_activity_parties": [
            {"partyid_systemuser@odata.bind": f"/systemusers({missing})",
             "participationtypemask": 1}]})
    assert bad_party.status_code == 400
    assert crm.rows("emails") == [] and crm.rows("activityparties") == []


def test_completing_an_activity_sets_actualend_and_makes_it_read_only(
    crm: MockDataverse, api: Api, lead: str
) -> None:
    task = api.create("tasks", {"subject": "Call back",
                                "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"})
    assert crm.get("tasks", task)["statuscode"] == 2
    done = api.patch(f"tasks({task})", json={"statecode": 1, "statuscode": 5})
    assert done.status_code == 204
    row = crm.get("tasks", task)
    assert row["statecode"] == 1 and row["actualend"] is not None
    edit = api.patch(f"tasks({task})", json={"subject": "changed"})
    assert edit.status_code == 400
    assert "read-only" in error_of(edit)["message"]
    assert api.patch(f"tasks({task})", json={"statecode": 0}).status_code == 204


def test_cancelling_uses_the_default_status_and_sets_actualend(
    crm: MockDataverse, api: Api
) -> None:
    call = api.create("phonecalls", {"subject": "Call"})
    assert api.patch(f"phonecalls({call})", json={"statecode": 2}).status_code == 204
    row = crm.get("phonecalls", call)
    assert (row["statecode"], row["statuscode"]) == (2, 3) and row["actualend"]


def test_invalid_state_status_pair_is_400(api: Api, lead: str) -> None:
    resp = api.patch(f"leads({lead})", json={"statecode": 0, "statuscode": 3})
    assert resp.status_code == 400
    assert "not a valid status code" in error_of(resp)["message"]


def test_subject_longer_than_200_is_a_validation_error(api: Api) -> None:
    resp = api.post("tasks", json={"subject": "x" * 201})
    assert resp.status_code == 400
    assert error_of(resp)["code"] == "0x80044331"
    assert "exceeded the maximum allowed length of '200'" in error_of(resp)["message"]


def test_bad_json_body_is_400(api: Api) -> None:
    resp = api.post("leads", data=b"{not json", headers={"Content-Type": "application/json"})
    assert resp.status_code == 400
    assert "not valid JSON" in error_of(resp)["message"]


def test_python_update_bumps_version_like_a_seller_edit(crm: MockDataverse, api: Api,
                                                        lead: str) -> None:
    before = crm.get("leads", lead)
    crm.update("leads", lead, {"statecode": 1})
    after = crm.get("leads", lead)
    assert after["versionnumber"] > before["versionnumber"]
    assert after["statuscode"] == 3
    crm.delete("leads", lead)
    assert crm.get("leads", lead) is None
