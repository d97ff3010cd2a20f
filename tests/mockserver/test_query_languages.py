"""FetchXML, `?sql=` and `$apply` as a `requests` client sends them, and loud refusals."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

from connector.mockserver import MockDataverse

from .conftest import Api, error_of

PAGING = {"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.fetchxmlpagingcookie,'
                    'Microsoft.Dynamics.CRM.morerecords"'}


@pytest.fixture
def world(crm: MockDataverse) -> dict[str, str]:
    ids = {}
    ids["acme"] = crm.insert("accounts", {"name": "Acme", "revenue": 100.0})
    ids["globex"] = crm.insert("accounts", {"name": "Globex", "revenue": 300.0})
    ids["ann"] = crm.insert("contacts", {"firstname": "Ann", "lastname": "Lee",
                                         "_parentcustomerid_value": ids["acme"]})
    ids["bob"] = crm.insert("contacts", {"firstname": "Bob", "lastname": "Ray",
                                         "_parentcustomerid_value": ids["acme"]})
    ids["cy"] = crm.insert("contacts", {"firstname": "Cy", "lastname": "Dee"})
    for i, (value, status) in enumerate([(1000, 1), (2000, 1), (5000, 2), (700, 2)]):
        crm.insert("opportunities", {"name": f"Deal {i}", "estimatedvalue": float(value),
                                     "statuscode": status, "_parentaccountid_value": ids["acme"]})
    return ids


@pytest.mark.parametrize("query", [
    {"sql": "SELECT TOP 1 fullname FROM contact"},
    {"fetchXml": "<fetch top='1'><entity name='contact'><attribute name='fullname'/></entity>"
                 "</fetch>"},
    {"$apply": "aggregate($count as n)"},
])
def test_query_languages_are_never_ignored(api: Api, world: dict[str, str],
                                           query: dict[str, str]) -> None:
    body = api.get("contacts", params=query).json()
    assert len(body["value"]) == 1  # 3 contacts exist: a silent 200 would return them all


@pytest.mark.parametrize(("params", "feature"), [
    ({"savedQuery": "00000000-0000-0000-0000-000000000001"}, "savedQuery"),
    ({"$search": "ann"}, "$search"),
    ({"fetchXml": "<fetch><entity name='contact'><attribute name='fullname'/>"
                  "<link-entity name='account' from='accountid' to='parentcustomerid'>"
                  "<link-entity name='contact' from='contactid' to='primarycontactid'/>"
                  "</link-entity></entity></fetch>"}, "nested FetchXML link-entity"),
    ({"fetchXml": "<fetch><entity name='contact'><filter><condition attribute='createdon' "
                  "operator='in-fiscal-year' value='2026'/></filter></entity></fetch>"},
     "'in-fiscal-year'"),
    ({"sql": "SELECT fullname FROM contact UNION SELECT fullname FROM lead"}, "UNION"),
    ({"sql": "SELECT UPPER(fullname) AS f FROM contact"}, "UPPER()"),
    ({"$apply": "groupby((statuscode))/filter(statuscode eq 1)"}, "$apply steps after"),
    ({"$filter": "Microsoft.Dynamics.CRM.InFiscalYear(PropertyName='createdon',"
                 "PropertyValue=2026)"}, "Microsoft.Dynamics.CRM.InFiscalYear"),
    ({"$filter": "tolower(fullname) eq 'ann lee'"}, "'tolower'"),
])
def test_unimplemented_features_fail_loudly_by_name(api: Api, world: dict[str, str],
                                                    params: dict[str, str], feature: str) -> None:
    resp = api.get("contacts", params=params)
    assert resp.status_code == 501
    err = error_of(resp)
    assert feature in err["message"] and "does not implement" in err["message"]


def test_fetchxml_attributes_filter_order_and_link_entity(api: Api,
                                                          world: dict[str, str]) -> None:
    xml = """<fetch><entity name='contact'>
      <attribute name='fullname'/><attribute name='parentcustomerid'/>
      <filter type='or'>
        <condition attribute='firstname' operator='eq' value='ann'/>
        <condition attribute='lastname' operator='like' value='R%'/>
      </filter>
      <order attribute='fullname' descending='true'/>
      <link-entity name='account' from='accountid' to='parentcustomerid' alias='a'
                   link-type='inner'><attribute name='name'/></link-entity>
    </entity></fetch>"""
    rows = api.get("contacts", params={"fetchXml": xml}).json()["value"]
    assert [r["fullname"] for r in rows] == ["Bob Ray", "Ann Lee"]
    assert rows[0]["a.name"] == "Acme"
    assert rows[0]["a.name@OData.Community.Display.V1.AttributeName"] == "name"
    assert rows[0]["_parentcustomerid_value"] == world["acme"]
    assert rows[0]["contactid"] == world["bob"]
    assert "firstname" not in rows[0]


def test_fetchxml_outer_link_keeps_rows_without_a_match(api: Api, world: dict[str, str]) -> None:
    xml = ("<fetch><entity name='contact'><attribute name='fullname'/>"
           "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a' "
           "link-type='outer'><attribute name='name'/></link-entity>"
           "<order attribute='fullname'/></entity></fetch>")
    rows = api.get("contacts", params={"fetchXml": xml}).json()["value"]
    assert [(r["fullname"], r.get("a.name")) for r in rows] == [
        ("Ann Lee", "Acme"), ("Bob Ray", "Acme"), ("Cy Dee", None)]


def test_fetchxml_in_between_null_and_typed_values(api: Api, world: dict[str, str]) -> None:
    xml = """<fetch><entity name='opportunity'><attribute name='name'/>
      <filter>
        <condition attribute='statuscode' operator='in'><value>1</value><value>2</value></condition>
        <condition attribute='estimatedvalue' operator='between'>
          <value>900</value><value>5000</value></condition>
        <condition attribute='description' operator='null'/>
      </filter><order attribute='estimatedvalue'/></entity></fetch>"""
    rows = api.get("opportunities", params={"fetchXml": xml}).json()["value"]
    assert [r["name"] for r in rows] == ["Deal 0", "Deal 1", "Deal 2"]


def test_fetchxml_paging_cookie_as_the_docs_describe(api: Api, crm: MockDataverse) -> None:
    for i in range(5):
        crm.insert("leads", {"firstname": f"P{i}", "lastname": "Page"})
    seen: list[str] = []
    page, cookie = 1, None
    while True:
        extra = "" if cookie is None else f' paging-cookie="{cookie}"'
        xml = (f"<fetch count='2' page='{page}'{extra}><entity name='lead'>"
               "<attribute name='fullname'/><order attribute='leadid'/></entity></fetch>")
        body = api.get("leads", params={"fetchXml": xml}, headers=PAGING).json()
        seen += [r["fullname"] for r in body["value"]]
        if not body.get("@Microsoft.Dynamics.CRM.morerecords"):
            assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in body
            break
        raw = body["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
        inner = re.search(r'pagingcookie="([^"]+)"', raw).group(1)  # type: ignore[union-attr]
        cookie = (unquote(unquote(inner)).replace("&", "&amp;").replace("<", "&lt;")
                  .replace(">", "&gt;").replace('"', "&quot;"))
        page = int(re.search(r'pagenumber="(\d+)"', raw).group(1))  # type: ignore[union-attr]
    assert sorted(seen) == sorted(f"P{i} Page" for i in range(5))
    bad = api.get("leads", params={"fetchXml": "<fetch count='2' page='3' paging-cookie="
                                   "'&lt;cookie page=&quot;1&quot;&gt;&lt;/cookie&gt;'>"
                                   "<entity name='lead'/></fetch>"})
    assert bad.status_code == 400 and error_of(bad)["code"] == "0x8004112A"


def test_fetchxml_total_count_and_aggregates(api: Api, world: dict[str, str]) -> None:
    xml = ("<fetch returntotalrecordcount='true' count='1'><entity name='opportunity'>"
           "<attribute name='name'/></entity></fetch>")
    body = api.get("opportunities", params={"fetchXml": xml}).json()
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == 4 and len(body["value"]) == 1
    xml = """<fetch aggregate='true'><entity name='opportunity'>
      <attribute name='statuscode' alias='status' groupby='true'/>
      <attribute name='estimatedvalue' alias='total' aggregate='sum'/>
      <attribute name='opportunityid' alias='n' aggregate='count'/>
      <order alias='total' descending='true'/></entity></fetch>"""
    rows = api.get("opportunities", params={"fetchXml": xml}).json()["value"]
    assert rows == [{"status": 2, "total": 5700.0, "n": 2}, {"status": 1, "total": 3000.0, "n": 2}]


def test_fetchxml_errors_use_dataverse_codes(api: Api, world: dict[str, str]) -> None:
    cases = [
        ("<fetch><entity name='contact'>", "0x80040303"),
        ("<fetch><entity name='contact'><attribute name='nope'/></entity></fetch>",
         "0x80041103"),
        ("<fetch><entity name='lead'/></fetch>", "0x80040303"),
    ]
    for xml, code in cases:
        resp = api.get("contacts", params={"fetchXml": xml})
        assert resp.status_code == 400, xml
        assert error_of(resp)["code"] == code, xml


def test_sql_select_top_where_order_and_alias(api: Api, world: dict[str, str]) -> None:
    sql = ("SELECT TOP 2 c.fullname AS who, c.lastname FROM contact AS c "
           "WHERE (c.firstname = 'Ann' OR c.lastname LIKE 'R%') AND c.lastname <> 'x' "
           "ORDER BY c.lastname DESC")
    body = api.get("contacts", params={"sql": sql}).json()
    assert [r["who"] for r in body["value"]] == ["Bob Ray", "Ann Lee"]
    assert body["value"][0]["who@OData.Community.Display.V1.AttributeName"] == "fullname"
    assert body["value"][0]["contactid"] == world["bob"]
    assert body["@Microsoft.Dynamics.CRM.totalrecordcount"] == -1


def test_sql_join_on_a_lookup_in_between_and_null(api: Api, world: dict[str, str]) -> None:
    sql = ("SELECT c.fullname, a.name FROM contact c JOIN account a "
           "ON c.parentcustomerid = a.accountid WHERE a.name IN ('Acme', 'Initech') "
           "ORDER BY c.fullname")
    rows = api.get("contacts", params={"sql": sql}).json()["value"]
    pairs = [(r["fullname"], r["a.name"]) for r in rows]
    assert pairs == [("Ann Lee", "Acme"), ("Bob Ray", "Acme")]
    sql = "SELECT fullname FROM contact WHERE parentcustomerid IS NULL"
    assert [r["fullname"] for r in api.get("contacts", params={"sql": sql}).json()["value"]] == [
        "Cy Dee"]
    sql = "SELECT name FROM opportunity WHERE estimatedvalue BETWEEN 800 AND 2000 ORDER BY name"
    rows = api.get("opportunities", params={"sql": sql}).json()["value"]
    assert [r["name"] for r in rows] == ["Deal 0", "Deal 1"]


def test_sql_group_by_with_aggregates(api: Api, world: dict[str, str]) -> None:
    sql = ("SELECT statuscode, COUNT(*) AS n, SUM(estimatedvalue) AS total, "
           "MAX(estimatedvalue) AS biggest FROM opportunity GROUP BY statuscode "
           "ORDER BY statuscode")
    rows = api.get("opportunities", params={"sql": sql}).json()["value"]
    assert rows == [{"statuscode": 1, "n": 2, "total": 3000.0, "biggest": 2000.0},
                    {"statuscode": 2, "n": 2, "total": 5700.0, "biggest": 5000.0}]


@pytest.mark.parametrize("sql", [
    "SELECT * FROM contact", "SELECT fullname FROM contact WHERE firstname = lastname",
    "SELECT fullname FROM nope", "SELECT fullname FROM lead",
])
def test_sql_mistakes_are_400(api: Api, world: dict[str, str], sql: str) -> None:
    resp = api.get("contacts", params={"sql": sql})
    assert resp.status_code == 400
    assert error_of(resp)["message"]


def test_apply_groupby_aggregate_and_filter(api: Api, world: dict[str, str]) -> None:
    body = api.get("opportunities", params={
        "$apply": "groupby((statuscode),aggregate(estimatedvalue with sum as total,"
                  "$count as count))"}).json()
    assert body["value"] == [{"statuscode": 1, "total": 3000.0, "count": 2},
                             {"statuscode": 2, "total": 5700.0, "count": 2}]
    assert body["@odata.context"].endswith("#opportunities(statuscode,total,count)")
    body = api.get("opportunities", params={
        "$apply": "filter(statuscode eq 2)/aggregate(estimatedvalue with average as avg,"
                  "estimatedvalue with min as low,estimatedvalue with max as high)"}).json()
    assert body["value"] == [{"avg": 2850.0, "low": 700.0, "high": 5000.0}]
    distinct = api.get("opportunities", params={"$apply": "groupby((statuscode))"}).json()
    assert distinct["value"] == [{"statuscode": 1}, {"statuscode": 2}]


def test_apply_refuses_what_dataverse_refuses(api: Api, world: dict[str, str]) -> None:
    resp = api.get("opportunities", params={"$apply": "groupby((createdon))"})
    assert resp.status_code == 400
    resp = api.get("opportunities", params={"$apply": "aggregate($count as n)",
                                            "$select": "name"})
    assert resp.status_code == 400 and "cannot be combined" in error_of(resp)["message"]


def test_fetchxml_formatted_values_on_request(api: Api, world: dict[str, str]) -> None:
    xml = ("<fetch><entity name='opportunity'><attribute name='statuscode'/>"
           "<attribute name='estimatedvalue'/><attribute name='parentaccountid'/>"
           "<order attribute='estimatedvalue'/></entity></fetch>")
    rows = api.get("opportunities", params={"fetchXml": xml}, headers={
        "Prefer": 'odata.include-annotations="*"'}).json()["value"]
    fv = "@OData.Community.Display.V1.FormattedValue"
    assert rows[0][f"statuscode{fv}"] == "On Hold"
    assert rows[0][f"estimatedvalue{fv}"] == "$700.00"
    assert rows[0][f"_parentaccountid_value{fv}"] == "Acme"
    plain = api.get("opportunities", params={"fetchXml": xml}).json()["value"]
    assert not [k for k in plain[0] if k.endswith(fv)]


def test_dataverse_query_functions_in_filter(api: Api, crm: MockDataverse) -> None:
    now = crm.dv.now()
    today = now[:10]
    recent = crm.insert("tasks", {"subject": "recent", "scheduledend": now})
    crm.insert("tasks", {"subject": "old", "scheduledend": "2020-01-01T10:00:00Z",
                         "_ownerid_value": crm.dv.seller_ids()[0]})
    crm.insert("tasks", {"subject": "mine", "_ownerid_value": crm.dv.app_user_id})

    def subjects(expression: str) -> list[str]:
        resp = api.get("tasks", params={"$select": "subject", "$filter": expression})
        assert resp.status_code == 200, resp.text
        return sorted(r["subject"] for r in resp.json()["value"])

    ns = "Microsoft.Dynamics.CRM"
    assert subjects(f"{ns}.LastXDays(PropertyName='scheduledend',PropertyValue=7)") == [
        "recent"]
    assert subjects(f"{ns}.Today(PropertyName='scheduledend')") == ["recent"]
    assert subjects(f"{ns}.OnOrBefore(PropertyName='scheduledend',PropertyValue='{today}')"
                    ) == ["old", "recent"]
    assert subjects(f"{ns}.On(PropertyName='scheduledend',PropertyValue='2020-01-01')") == [
        "old"]
    assert subjects(f"{ns}.Between(PropertyName='scheduledend',"
                    f"PropertyValues=['2019-01-01','2021-01-01'])") == ["old"]
    assert subjects(f"{ns}.NotIn(PropertyName='activityid',PropertyValues=['{recent}'])") == [
        "mine", "old"]
    assert subjects(f"{ns}.EqualUserId(PropertyName='_ownerid_value')") == ["mine", "recent"]


def test_fetchxml_date_operators(api: Api, crm: MockDataverse) -> None:
    crm.insert("tasks", {"subject": "due now", "scheduledend": crm.dv.now()})
    crm.insert("tasks", {"subject": "long ago", "scheduledend": "2020-01-01T10:00:00Z"})
    for op, value, expected in (("last-x-days", "3", ["due now"]), ("today", None, ["due now"]),
                                ("on", "2020-01-01", ["long ago"])):
        extra = f" value='{value}'" if value else ""
        xml = (f"<fetch><entity name='task'><attribute name='subject'/><filter><condition "
               f"attribute='scheduledend' operator='{op}'{extra}/></filter></entity></fetch>")
        rows = api.get("tasks", params={"fetchXml": xml}).json()["value"]
        assert [r["subject"] for r in rows] == expected, op
