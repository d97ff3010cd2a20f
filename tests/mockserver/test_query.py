"""Reading: $select, $filter, $orderby, $top, $count, paging, metadata, WhoAmI, errors."""

from __future__ import annotations

import threading

import pytest
import requests

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of, new_id


@pytest.fixture
def people(crm: MockDataverse) -> dict[str, str]:
    rows = {
        "ann": {"firstname": "Ann", "lastname": "Lee", "fullname": "Ann Lee",
                "companyname": "Contoso", "telephone1": "555-1", "new_region": "EU"},
        "bob": {"firstname": "Bob", "lastname": "O'Bryan", "fullname": "Bob O'Bryan",
                "companyname": "Fabrikam", "statecode": 1, "statuscode": 3},
        "cy": {"firstname": "Cy", "lastname": "Chen", "fullname": "Cy Chen",
               "companyname": "contoso ltd", "createdon": "2024-01-05T10:00:00Z"},
    }
    return {name: crm.insert("leads", row) for name, row in rows.items()}


def _names(resp: requests.Response) -> list[str]:
    assert resp.status_code == 200, resp.text
    return sorted(r["fullname"] for r in resp.json()["value"])


def test_select_returns_only_the_columns_plus_key_and_etag(api: Api, people: dict) -> None:
    resp = api.get("leads?$select=fullname,statecode")
    row = resp.json()["value"][0]
    assert set(row) == {"@odata.etag", "fullname", "statecode", "leadid"}
    assert row["@odata.etag"].startswith('W/"')
    assert resp.json()["@odata.context"].endswith("$metadata#leads(fullname,statecode)")


def test_all_columns_without_select_include_lookups_and_system_columns(
    api: Api, people: dict
) -> None:
    row = api.get(f"leads({people['ann']})").json()
    for column in ("leadid", "createdon", "modifiedon", "_ownerid_value", "statecode",
                   "statuscode", "versionnumber", "new_region"):
        assert column in row
    assert row["statuscode"] == 1  # default status for the open state


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        ("statecode eq 0", ["Ann Lee", "Cy Chen"]),
        ("statecode ne 0", ["Bob O'Bryan"]),
        ("lastname eq 'O''Bryan'", ["Bob O'Bryan"]),
        ("companyname eq 'CONTOSO'", ["Ann Lee"]),
        ("contains(companyname,'contoso')", ["Ann Lee", "Cy Chen"]),
        ("startswith(fullname,'b') or endswith(fullname,'chen')", ["Bob O'Bryan", "Cy Chen"]),
        ("not (statecode eq 0) or telephone1 eq '555-1'", ["Ann Lee", "Bob O'Bryan"]),
        ("telephone1 eq null", ["Bob O'Bryan", "Cy Chen"]),
        ("statecode ge 1 and statecode le 1", ["Bob O'Bryan"]),
        ("statecode gt 0 or statecode lt 0", ["Bob O'Bryan"]),
        ("createdon lt 2025-01-01", ["Cy Chen"]),
        ("createdon lt 2024-01-05T10:00:01Z and createdon gt 2024-01-05", ["Cy Chen"]),
        ("new_region eq 'EU'", ["Ann Lee"]),
    ],
)
def test_filter_operators(api: Api, people: dict, expr: str, expected: list[str]) -> None:
    assert _names(api.get("leads", params={"$filter": expr})) == expected


def test_filter_on_guid_and_lookup_value(crm: MockDataverse, api: Api, people: dict) -> None:
    owner = crm.get("leads", people["ann"])["_ownerid_value"]
    assert _names(api.get("leads", params={"$filter": f"leadid eq {people['cy']}"})) == ["Cy Chen"]
    assert len(_names(api.get("leads", params={"$filter": f"_ownerid_value eq {owner}"}))) == 3
    ids = f'["{people["ann"]}","{people["bob"]}"]'
    expr = f"Microsoft.Dynamics.CRM.In(PropertyName='leadid',PropertyValues={ids})"
    assert _names(api.get("leads", params={"$filter": expr})) == ["Ann Lee", "Bob O'Bryan"]


@pytest.mark.parametrize(
    ("params", "fragment"),
    [
        ({"$filter": "lastname eq 'O'Bryan'"}, "unterminated literal"),
        ({"$filter": "lastname eq 'unterminated"}, "unterminated literal"),
        ({"$filter": "nosuch eq 1"}, "Could not find a property named 'nosuch'"),
        ({"$filter": "statecode eq"}, "Unexpected end"),
        ({"$filter": "(statecode eq 0"}, "Unexpected end"),
        ({"$filter": "statecode 0"}, "expected one of"),
        ({"$select": "fullname,nosuch"}, "Could not find a property named 'nosuch'"),
        ({"$orderby": "fullname sideways"}, "Invalid $orderby"),
        ({"$top": "-1"}, "Invalid value"),
        ({"$skip": "10"}, "$skip is not supported"),
        ({"$foo": "1"}, "$foo is not supported"),
        ({"$skiptoken": "garbage!!"}, "$skiptoken is invalid"),
        ({"$expand": "nothing_here"}, "Could not find a property named 'nothing_here'"),
    ],
)
def test_malformed_options_answer_400_with_a_dataverse_error(
    api: Api, people: dict, params: dict, fragment: str
) -> None:
    resp = api.get("leads", params=params)
    assert resp.status_code == 400
    assert fragment in error_of(resp)["message"]


def test_orderby_top_and_count(api: Api, people: dict) -> None:
    resp = api.get("leads?$select=fullname&$orderby=statecode desc,fullname asc&$top=2&$count=true")
    body = resp.json()
    assert [r["fullname"] for r in body["value"]] == ["Bob O'Bryan", "Ann Lee"]
    assert body["@odata.count"] == 3
    assert "@odata.nextLink" not in body
    count = api.get("leads/$count")
    assert count.status_code == 200 and count.text == "3"


def test_count_is_capped_at_5000(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 5003})
    body = Api(crm).get("leads?$count=true&$select=leadid&$top=1").json()
    assert body["@odata.count"] == 5000
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True


def test_paging_with_maxpagesize_follows_absolute_next_links(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 23})
    api = Api(crm)
    prefer = {"Prefer": "odata.maxpagesize=5"}
    resp = api.get("leads?$select=fullname&$filter=statecode ge 0", headers=prefer)
    assert resp.headers["Preference-Applied"] == "odata.maxpagesize=5"
    seen: list[str] = []
    pages = 0
    while True:
        body = resp.json()
        pages += 1
        seen += [r["leadid"] for r in body["value"]]
        link = body.get("@odata.nextLink")
        if not link:
            break
        assert link.startswith(crm.api_url + "/leads?") and "$skiptoken=" in link
        resp = api.get(link, headers=prefer)
    assert pages == 5 and len(seen) == len(set(seen)) == 23


def test_paging_is_stable_under_concurrent_writes(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 300})
    before = {r["leadid"] for r in crm.rows("leads")}
    api = Api(crm)
    prefer = {"Prefer": "odata.maxpagesize=20"}
    stop = threading.Event()

    def writer() -> None:
        for _ in range(300):
            if stop.wait(0.001):
                break
            crm.insert("leads", {"fullname": "late arrival"})

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        seen: list[str] = []
        resp = api.get("leads?$select=fullname", headers=prefer)
        while True:
            body = resp.json()
            seen += [r["leadid"] for r in body["value"]]
            if "@odata.nextLink" not in body:
                break
            resp = api.get(body["@odata.nextLink"], headers=prefer)
    finally:
        stop.set()
        thread.join()
    assert len(seen) == len(set(seen)), "a row came back twice"
    assert before <= set(seen), "a row that existed throughout was skipped"


def test_maxpagesize_is_capped_at_5000(api: Api, people: dict) -> None:
    resp = api.get("leads", headers={"Prefer": "odata.maxpagesize=9000"})
    assert resp.headers["Preference-Applied"] == "odata.maxpagesize=5000"


def test_orderby_paging_keeps_the_order(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 40})
    api = Api(crm)
    prefer = {"Prefer": "odata.maxpagesize=7"}
    resp = api.get("leads?$select=fullname&$orderby=fullname desc", headers=prefer)
    names: list[str] = []
    while True:
        body = resp.json()
        names += [r["fullname"] for r in body["value"]]
        if "@odata.nextLink" not in body:
            break
        resp = api.get(body["@odata.nextLink"], headers=prefer)
    assert len(names) == 40
    assert names == sorted(names, key=str.lower, reverse=True)


def test_single_row_404_and_conditional_get(api: Api, people: dict) -> None:
    missing = api.get(f"leads({new_id()})")
    assert missing.status_code == 404
    assert error_of(missing)["code"] == "0x80040217"
    row = api.get(f"leads({people['ann']})?$select=fullname")
    etag = row.json()["@odata.etag"]
    assert api.get(f"leads({people['ann']})", headers={"If-None-Match": etag}).status_code == 304
    assert api.get(f"leads({people['ann']})", headers={"If-None-Match": 'W/"1"'}).status_code == 200


def test_unknown_entity_set_is_404(api: Api) -> None:
    resp = api.get("widgets")
    assert resp.status_code == 404
    assert "widgets" in error_of(resp)["message"]


def test_who_am_i_has_the_dop_hint(crm: MockDataverse, api: Api) -> None:
    resp = api.get("WhoAmI")
    assert int(resp.headers["x-ms-dop-hint"]) >= 1
    body = resp.json()
    assert set(body) >= {"BusinessUnitId", "UserId", "OrganizationId"}
    assert crm.get("systemusers", body["UserId"]) is not None


def test_entity_definitions_as_the_sdk_asks(api: Api) -> None:
    resp = api.get("EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute"
                   "&$filter=LogicalName eq 'lead'")
    value = resp.json()["value"]
    assert [(v["LogicalName"], v["EntitySetName"], v["PrimaryIdAttribute"]) for v in value] == [
        ("lead", "leads", "leadid")]
    assert api.get("EntityDefinitions?$filter=LogicalName eq 'nope'").json()["value"] == []
    picklists = api.get("EntityDefinitions(LogicalName='lead')/Attributes/"
                        "Microsoft.Dynamics.CRM.PicklistAttributeMetadata"
                        "?$select=LogicalName&$expand=OptionSet($select=Options)")
    assert picklists.status_code == 200
    assert "leadsourcecode" in [p["LogicalName"] for p in picklists.json()["value"]]
    one = api.get("EntityDefinitions(LogicalName='task')").json()
    assert one["ChangeTrackingEnabled"] is True
    assert one["CanChangeTrackingBeEnabled"]["Value"] is True
    attrs = api.get("EntityDefinitions(LogicalName='task')/Attributes").json()["value"]
    assert {"LogicalName": "regardingobjectid", "AttributeType": "Lookup"}.items() <= next(
        a for a in attrs if a["LogicalName"] == "regardingobjectid").items()
    tracked = api.get("EntityDefinitions?$select=LogicalName"
                      "&$filter=ChangeTrackingEnabled eq true").json()["value"]
    assert {"lead", "opportunity", "task", "email", "phonecall"} <= {
        t["LogicalName"] for t in tracked}


def test_create_multiple_support_probe(api: Api) -> None:
    url = ("sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq @message"
           " and primaryobjecttypecode eq @table&@message='CreateMultiple'&@table='task'")
    assert len(api.get(url).json()["value"]) == 1
    assert api.get(url.replace("'task'", "'systemuser'")).json()["value"] == []


def test_activitypointers_is_a_read_view_over_activities(
    crm: MockDataverse, api: Api, people: dict
) -> None:
    for entity_set in ("tasks", "emails", "phonecalls"):
        api.create(entity_set, {"subject": f"{entity_set} one",
                                f"regardingobjectid_lead_{entity_set[:-1]}@odata.bind":
                                    f"/leads({people['ann']})"})
    resp = api.get("activitypointers?$select=subject,activitytypecode,_regardingobjectid_value"
                   "&$filter=_regardingobjectid_value eq " + people["ann"])
    kinds = sorted(r["activitytypecode"] for r in resp.json()["value"])
    assert kinds == ["email", "phonecall", "task"]
    assert api.post("activitypointers", json={"subject": "x"}).status_code == 405
    assert crm.stats()["rows"]["activitypointers"] == 3


def test_lookup_annotations_on_request(api: Api, people: dict) -> None:
    prefer = {"Prefer": 'odata.include-annotations="*"'}
    row = api.get(f"leads({people['ann']})?$select=_ownerid_value", headers=prefer).json()
    assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "systemuser"


def test_related_activities_of_a_record(crm: MockDataverse, api: Api, people: dict) -> None:
    bind = f"/leads({people['ann']})"
    api.create("tasks", {"subject": "open one", "regardingobjectid_lead_task@odata.bind": bind})
    api.create("tasks", {"subject": "other", "statecode": 1,
                         "regardingobjectid_lead_task@odata.bind": bind})
    api.create("tasks", {"subject": "not ann's"})
    resp = api.get(f"leads({people['ann']})/Lead_Tasks?$select=subject&$filter=statecode eq 0")
    assert [r["subject"] for r in resp.json()["value"]] == ["open one"]
    assert api.get(f"leads({people['ann']})/Lead_Nothing").status_code == 404
    assert api.get(f"leads({new_id()})/Lead_Tasks").status_code == 404


def test_entity_definitions_expand_attributes_for_airbyte(api: Api) -> None:
    body = api.get("EntityDefinitions?$expand=Attributes&$filter=LogicalName eq 'lead'").json()
    (lead,) = body["value"]
    kinds = {a["LogicalName"]: a["AttributeType"] for a in lead["Attributes"]}
    assert kinds["leadid"] == "Uniqueidentifier" and kinds["ownerid"] == "Owner"
    assert kinds["modifiedon"] == "DateTime" and kinds["statecode"] == "State"
    one = api.get("EntityDefinitions(LogicalName='lead')?$select=EntitySetName").json()
    assert one["EntitySetName"] == "leads"
    assert api.get("EntityDefinitions(LogicalName='nope')").status_code == 404


def test_older_api_versions_answer_too(crm: MockDataverse, api: Api, people: dict) -> None:
    resp = api.get(f"{crm.url}/api/data/v9.0/leads?$select=fullname")
    assert resp.status_code == 200 and len(resp.json()["value"]) == 3
