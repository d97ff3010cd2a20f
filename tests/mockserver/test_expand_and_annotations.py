"""`$expand` (single-valued and collections, nested options) and annotations, as the docs show."""

from __future__ import annotations

from connector.mockserver import MockDataverse

from .conftest import Api, error_of

ALL = {"Prefer": 'odata.include-annotations="*"'}


def _lead_with_activities(api: Api) -> tuple[str, str]:
    contact = api.create("contacts", {"firstname": "Ann", "lastname": "Lee"})
    lead = api.create("leads", {"firstname": "Lou", "lastname": "Reed",
                                "parentcontactid@odata.bind": f"/contacts({contact})"})
    for i, subject in enumerate(["Call back", "Send deck", "Book demo"]):
        api.create("tasks", {"subject": subject, "prioritycode": i,
                             "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"})
    return lead, contact


def test_expand_single_valued_lookups(api: Api) -> None:
    lead, contact = _lead_with_activities(api)
    body = api.get(f"leads({lead})?$select=fullname&$expand=parentcontactid($select=fullname),"
                   "ownerid($select=fullname)").json()
    assert body["parentcontactid"]["fullname"] == "Ann Lee"
    assert body["parentcontactid"]["contactid"] == contact
    assert body["ownerid"]["fullname"] == "# seqsync mock application user"
    ref = api.get(f"leads({lead})?$expand=parentcontactid/$ref").json()
    assert ref["parentcontactid"] == {"@odata.id": f"{api.crm.api_url}/contacts({contact})"}


def test_expand_collection_with_nested_options(api: Api) -> None:
    lead, _ = _lead_with_activities(api)
    body = api.get("leads", params={
        "$select": "fullname",
        "$expand": "Lead_Tasks($select=subject;$filter=prioritycode ge 1;"
                   "$orderby=subject desc;$top=1)"}).json()
    (row,) = body["value"]
    assert [t["subject"] for t in row["Lead_Tasks"]] == ["Send deck"]
    assert row["Lead_Tasks@odata.nextLink"].startswith(f"{api.crm.api_url}/leads({lead})/")
    tasks = api.get(f"leads({lead})/Lead_Tasks?$select=subject&$orderby=subject").json()
    assert [t["subject"] for t in tasks["value"]] == ["Book demo", "Call back", "Send deck"]


def test_nested_expand_follows_dataverse_rules(api: Api) -> None:
    _, contact = _lead_with_activities(api)
    body = api.get("tasks", params={
        "$select": "subject", "$top": "1",
        "$expand": "regardingobjectid_lead_task($select=fullname;"
                   "$expand=parentcontactid($select=fullname))"}).json()
    expanded = body["value"][0]["regardingobjectid_lead_task"]
    assert expanded["fullname"] == "Lou Reed"
    assert expanded["parentcontactid"]["contactid"] == contact
    refused = api.get("leads", params={
        "$expand": "Lead_Tasks($top=1;$expand=regardingobjectid_lead_task($select=fullname))"})
    assert refused.status_code == 400
    assert "Only $select and $filter" in error_of(refused)["message"]


def test_expand_activity_parties_of_a_lead(api: Api, crm: MockDataverse) -> None:
    lead, _ = _lead_with_activities(api)
    api.create("emails", {"subject": "Hi", "email_activity_parties": [
        {"partyid_lead@odata.bind": f"/leads({lead})", "participationtypemask": 2}]})
    body = api.get(f"leads({lead})?$select=fullname&$expand=lead_activity_parties("
                   "$select=participationtypemask)").json()
    assert [p["participationtypemask"] for p in body["lead_activity_parties"]] == [2]
    unknown = api.get("leads?$expand=nope")
    assert unknown.status_code == 400


def test_formatted_values_and_lookup_annotations(api: Api, crm: MockDataverse) -> None:
    team = crm.insert("teams", {"name": "West Sales", "teamtype": 0})
    opp = api.create("opportunities", {
        "name": "Big deal", "estimatedvalue": 1234.5, "closeprobability": 40,
        "estimatedclosedate": "2026-05-01T14:00:00Z", "ownerid@odata.bind": f"/teams({team})"})
    body = api.get(f"opportunities({opp})?$select=name,estimatedvalue,statuscode,statecode,"
                   "estimatedclosedate,_ownerid_value", headers=ALL)
    assert "odata.include-annotations" in body.headers["Preference-Applied"]
    row = body.json()
    fv = "@OData.Community.Display.V1.FormattedValue"
    assert row[f"statuscode{fv}"] == "In Progress"
    assert row[f"statecode{fv}"] == "Open"
    assert row[f"estimatedvalue{fv}"] == "$1,234.50"
    assert row[f"estimatedclosedate{fv}"] == "5/1/2026 2:00 PM"
    assert row[f"_ownerid_value{fv}"] == "West Sales"
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "ownerid"
    only_names = api.get(f"opportunities({opp})?$select=statuscode,_ownerid_value", headers={
        "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'}).json()
    assert f"statuscode{fv}" not in only_names
    assert only_names["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"
    plain = api.get(f"opportunities({opp})?$select=statuscode").json()
    assert not [k for k in plain if "@OData" in k]
