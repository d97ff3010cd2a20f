"""Change tracking: delta links with new, updated and deleted rows, refusals, expiry."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of

TRACK = {"Prefer": "odata.track-changes"}


def _delta_link(api: Api, path: str) -> tuple[list[dict], str]:
    resp = api.get(path, headers=TRACK)
    assert resp.status_code == 200, resp.text
    assert "odata.track-changes" in resp.headers["Preference-Applied"]
    body = resp.json()
    return body["value"], body["@odata.deltaLink"]


@pytest.mark.parametrize("entity_set", ["leads", "opportunities", "tasks", "emails", "phonecalls"])
def test_delta_returns_changes_then_deletions(
    crm: MockDataverse, api: Api, entity_set: str
) -> None:
    name = {"leads": "fullname", "opportunities": "name"}.get(entity_set, "subject")
    keep = crm.insert(entity_set, {name: "keep"})
    gone = crm.insert(entity_set, {name: "gone"})
    first, link = _delta_link(api, f"{entity_set}?$select={name}")
    assert {r[name] for r in first} == {"keep", "gone"}
    assert link.startswith(f"{crm.api_url}/{entity_set}?$select={name}&$deltatoken=")
    crm.update(entity_set, keep, {name: "kept and edited"})
    born = crm.insert(entity_set, {name: "born"})
    crm.delete(entity_set, gone)
    body = api.get(link, headers=TRACK).json()
    assert body["@odata.context"].endswith(f"#{entity_set}({name})/$delta")
    changed = [r for r in body["value"] if "reason" not in r]
    deleted = [r for r in body["value"] if r.get("reason") == "deleted"]
    assert [r[name] for r in changed] == ["kept and edited", "born"]
    assert body["value"][-1] == deleted[0]
    assert deleted == [{
        "@odata.context": f"{crm.api_url}/$metadata#{entity_set}/$deletedEntity",
        "id": gone, "reason": "deleted"}]
    assert born in {r[crm.dv.table(entity_set).definition.primary_key] for r in changed}
    empty = api.get(body["@odata.deltaLink"], headers=TRACK).json()
    assert empty["value"] == [] and "@odata.deltaLink" in empty


def test_completing_an_activity_shows_up_in_the_delta(crm: MockDataverse, api: Api) -> None:
    task = api.create("tasks", {"subject": "call"})
    _, link = _delta_link(api, "tasks?$select=statecode,statuscode,actualend")
    crm.update("tasks", task, {"statecode": 1})
    (row,) = api.get(link, headers=TRACK).json()["value"]
    assert (row["statecode"], row["statuscode"]) == (1, 5) and row["actualend"]


def test_created_and_deleted_between_polls_arrives_as_a_delete(
    crm: MockDataverse, api: Api
) -> None:
    _, link = _delta_link(api, "leads?$select=fullname")
    short = crm.insert("leads", {"fullname": "brief"})
    crm.delete("leads", short)
    assert api.get(link, headers=TRACK).json()["value"] == [{
        "@odata.context": f"{crm.api_url}/$metadata#leads/$deletedEntity",
        "id": short, "reason": "deleted"}]


@pytest.mark.parametrize("option", ["$filter=statecode eq 0", "$orderby=fullname", "$top=5",
                                    "$expand=lead_activity_parties"])
def test_options_refused_with_change_tracking(api: Api, option: str) -> None:
    resp = api.get(f"leads?$select=fullname&{option}", headers=TRACK)
    assert resp.status_code == 400
    name = option.split("=")[0]
    assert error_of(resp)["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.')


def test_delta_paging_with_maxpagesize(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 12})
    api = Api(crm)
    _, link = _delta_link(api, "leads?$select=fullname")
    ids = [r["leadid"] for r in crm.rows("leads")]
    for row_id in ids[:7]:
        crm.update("leads", row_id, {"subject": "touched"})
    for row_id in ids[7:10]:
        crm.delete("leads", row_id)
    prefer = {"Prefer": "odata.track-changes,odata.maxpagesize=4"}
    resp = api.get(link, headers=prefer)
    assert resp.headers["Preference-Applied"] == "odata.track-changes,odata.maxpagesize=4"
    rows: list[dict] = []
    pages = 0
    while True:
        body = resp.json()
        pages += 1
        rows += body["value"]
        if "@odata.nextLink" not in body:
            assert "@odata.deltaLink" in body
            break
        assert "@odata.deltaLink" not in body
        resp = api.get(body["@odata.nextLink"], headers=prefer)
    assert pages == 3
    assert [r.get("reason") for r in rows] == [None] * 7 + ["deleted"] * 3


def test_initial_full_read_pages_and_ends_with_a_delta_link(make_crm: MakeCrm) -> None:
    crm = make_crm(generate={"leads": 9})
    api = Api(crm)
    prefer = {"Prefer": "odata.track-changes,odata.maxpagesize=4"}
    body = api.get("leads?$select=fullname", headers=prefer).json()
    assert "@odata.deltaLink" not in body
    crm.insert("leads", {"fullname": "during the read"})
    while "@odata.nextLink" in body:
        body = api.get(body["@odata.nextLink"], headers=prefer).json()
    later = api.get(body["@odata.deltaLink"], headers=TRACK).json()["value"]
    assert "during the read" in [r["fullname"] for r in later]


def test_expired_delta_token(make_crm: MakeCrm) -> None:
    crm = make_crm(delta_token_ttl=3600)
    api = Api(crm)
    _, link = _delta_link(api, "leads?$select=fullname")
    assert api.get(link, headers=TRACK).status_code == 200
    crm.set_faults(delta_token_ttl=0)
    resp = api.get(link, headers=TRACK)
    assert resp.status_code == 400
    err = error_of(resp)
    assert err["code"] == "0x80044352"
    assert "Version stamp associated with the client has expired. Please perform a full sync." in (
        err["message"])


def test_delta_token_is_a_plain_query_parameter(crm: MockDataverse, api: Api) -> None:
    _, link = _delta_link(api, "leads?$select=fullname")
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    assert "!" in token
    resp = api.get("leads", params={"$select": "fullname", "$deltatoken": token})
    assert resp.status_code == 200
    bad = api.get("leads", params={"$select": "fullname", "$deltatoken": "99999999999!x"})
    assert bad.status_code == 400
