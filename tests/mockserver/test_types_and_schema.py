"""Typed columns from the schema file: checks with Dataverse's codes, computed columns, custom
columns and keys declared in the seed, teams as owners."""

from __future__ import annotations

from typing import Any

import pytest

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of, new_id

PAYLOAD = "0x80048d19"
VALIDATION = "0x80044331"


@pytest.mark.parametrize(("entity_set", "body", "code", "text"), [
    ("leads", {"subject": "x" * 301}, VALIDATION, "maximum allowed length of '300'"),
    ("tasks", {"subject": "x" * 201}, VALIDATION, "maximum allowed length of '200'"),
    ("leads", {"numberofemployees": "many"}, PAYLOAD, "'Edm.Int32'"),
    ("leads", {"numberofemployees": 1.5}, PAYLOAD, "'Edm.Int32'"),
    ("opportunities", {"closeprobability": 101}, VALIDATION, "outside the valid range"),
    ("leads", {"revenue": "lots"}, PAYLOAD, "'Edm.Decimal'"),
    ("leads", {"donotemail": "yes"}, PAYLOAD, "'Edm.Boolean'"),
    ("leads", {"leadsourcecode": 99}, VALIDATION, "outside the valid range"),
    ("opportunities", {"estimatedclosedate": "tomorrow"}, PAYLOAD, "'Edm.DateTimeOffset'"),
    ("emails", {"directioncode": 0}, PAYLOAD, "'Edm.Boolean'"),
    ("leads", {"statecode": 0, "statuscode": 3}, "0x8004431a", "not a valid status code"),
])
def test_every_column_type_is_checked(api: Api, entity_set: str, body: dict[str, Any],
                                      code: str, text: str) -> None:
    resp = api.post(entity_set, json=body)
    assert resp.status_code == 400, resp.text
    err = error_of(resp)
    assert err["code"] == code and text in err["message"], err


def test_lookups_must_point_at_existing_rows_of_a_target_table(api: Api) -> None:
    missing = api.post("leads", json={"parentcontactid@odata.bind": f"/contacts({new_id()})"})
    assert missing.status_code == 400 and error_of(missing)["code"] == "0x80040217"
    account = api.create("accounts", {"name": "Acme"})
    wrong = api.post("leads", json={"parentcontactid@odata.bind": f"/accounts({account})"})
    assert wrong.status_code == 400 and "cannot point" in error_of(wrong)["message"]
    wrong_nav = api.post("tasks", json={
        "regardingobjectid_lead_task@odata.bind": f"/accounts({account})"})
    assert wrong_nav.status_code == 400


def test_fullname_is_computed_from_first_and_last_name(api: Api, crm: MockDataverse) -> None:
    lead = api.create("leads", {"firstname": "Ann", "lastname": "Lee"})
    assert crm.get("leads", lead)["fullname"] == "Ann Lee"
    api.patch(f"leads({lead})", json={"lastname": "Smith"})
    assert api.get(f"leads({lead})?$select=fullname").json()["fullname"] == "Ann Smith"
    contact = api.create("contacts", {"lastname": "Solo"})
    assert crm.get("contacts", contact)["fullname"] == "Solo"


def test_valid_values_of_every_type_round_trip(api: Api) -> None:
    lead = api.create("leads", {
        "firstname": "T", "lastname": "Types", "numberofemployees": 12, "revenue": 99.5,
        "donotemail": True, "leadsourcecode": 8, "description": "d" * 2000})
    row = api.get(f"leads({lead})?$select=numberofemployees,revenue,donotemail,"
                  "leadsourcecode").json()
    assert (row["numberofemployees"], row["revenue"], row["donotemail"],
            row["leadsourcecode"]) == (12, 99.5, True, 8)


def test_seed_declares_custom_columns_with_types_and_alternate_keys(make_crm: MakeCrm) -> None:
    crm = make_crm(seed={
        "_columns": {"leads": {"new_score": {"type": "Integer", "min": 0, "max": 100},
                               "new_externalid": {"type": "String", "max": 20}}},
        "_keys": {"leads": {"new_externalid_key": ["new_externalid"]}},
        "leads": [{"firstname": "Seed", "lastname": "Row", "new_score": 5,
                   "new_externalid": "EXT-1"}],
    })
    api = Api(crm)
    resp = api.post("leads", json={"new_score": 500})
    assert resp.status_code == 400 and "outside the valid range" in error_of(resp)["message"]
    attrs = api.get("EntityDefinitions(LogicalName='lead')/Attributes?$select=LogicalName,"
                    "AttributeType,IsCustomAttribute").json()["value"]
    custom = {a["LogicalName"]: a["AttributeType"] for a in attrs if a["IsCustomAttribute"]}
    assert custom == {"new_score": "Integer", "new_externalid": "String"}
    row = api.get("leads(new_externalid='EXT-1')?$select=fullname").json()
    assert row["fullname"] == "Seed Row"


def test_seed_mistakes_name_the_place(make_crm: MakeCrm) -> None:
    with pytest.raises(ValueError, match=r"_columns\.leads: column 'x': unknown type 'Text'"):
        make_crm(seed={"_columns": {"leads": {"x": "Text"}}})
    with pytest.raises(ValueError, match=r"leads\[1\]\.numberofemployees: .*Edm.Int32"):
        make_crm(seed={"leads": [{"lastname": "ok"}, {"numberofemployees": "many"}]})


def test_team_owned_rows(api: Api, crm: MockDataverse) -> None:
    team = api.create("teams", {"name": "Inside Sales", "teamtype": 0})
    task = api.create("tasks", {"subject": "Team task", "ownerid@odata.bind": f"/teams({team})"})
    row = api.get(f"tasks({task})?$select=_ownerid_value", headers={
        "Prefer": 'odata.include-annotations="*"'}).json()
    assert row["_ownerid_value"] == team
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    seeded = crm.insert("leads", {"lastname": "Owned", "_ownerid_value": team})
    raw = api.get(f"leads({seeded})?$select=_ownerid_value", headers={
        "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'}).json()
    assert raw["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    owned = api.get(f"tasks?$filter=_ownerid_value eq {team}&$select=subject").json()["value"]
    assert [t["subject"] for t in owned] == ["Team task"]
    bad = api.post("tasks", json={"ownerid@odata.bind": f"/leads({seeded})"})
    assert bad.status_code == 400
