"""What sequence engines read from the mock: replies, meetings, failed and closed activities,
and the admin surface that stages them (faults, reset)."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import requests

from connector.mockserver import MockDataverse

from .conftest import Api, MakeCrm, error_of

TRACK = {"Prefer": "odata.track-changes"}


def test_an_incoming_reply_is_linked_to_what_it_answers(api: Api, crm: MockDataverse) -> None:
    lead = api.create("leads", {"firstname": "Ann", "lastname": "Lee",
                                "emailaddress1": "ann@acme.example"})
    sent = api.create("emails", {"subject": "Hello",
                                 "regardingobjectid_lead_email@odata.bind": f"/leads({lead})"})
    reply = crm.receive_email(("leads", lead), "Re: Hello", in_reply_to=sent)
    rows = api.get("emails", params={
        "$select": "subject,statuscode,sender,_regardingobjectid_value,_parentactivityid_value",
        "$filter": f"directioncode eq false and _regardingobjectid_value eq {lead}"}).json()
    (row,) = rows["value"]
    assert row["activityid"] == reply and row["subject"] == "Re: Hello"
    assert row["statuscode"] == 4 and row["sender"] == "ann@acme.example"
    assert row["_parentactivityid_value"] == sent
    parties = api.get(f"emails({reply})/email_activity_parties?$select=participationtypemask,"
                      "_partyid_value").json()["value"]
    assert [(p["participationtypemask"], p["_partyid_value"]) for p in parties] == [(1, lead)]


def test_incoming_email_posted_through_the_api(api: Api) -> None:
    email = api.create("emails", {
        "subject": "Question", "directioncode": False,
        "email_activity_parties": [{"addressused": "someone@else.example",
                                    "participationtypemask": 1}]})
    row = api.get(f"emails({email})?$select=directioncode,sender").json()
    assert row["directioncode"] is False and row["sender"] == "someone@else.example"
    outgoing = api.create("emails", {"subject": "Default direction"})
    assert api.get(f"emails({outgoing})?$select=directioncode").json()["directioncode"] is True


def test_appointments_regarding_a_lead(api: Api) -> None:
    lead = api.create("leads", {"lastname": "Meet"})
    appt = api.create("appointments", {
        "subject": "Demo", "scheduledstart": "2026-06-01T15:00:00Z",
        "scheduledend": "2026-06-01T16:00:00Z", "location": "Teams",
        "regardingobjectid_lead_appointment@odata.bind": f"/leads({lead})"})
    listed = api.get(f"leads({lead})/Lead_Appointments?$select=subject,statecode").json()
    assert [(a["activityid"], a["statecode"]) for a in listed["value"]] == [(appt, 0)]
    pointers = api.get(f"activitypointers?$filter=_regardingobjectid_value eq {lead}"
                       "&$select=activitytypecode").json()["value"]
    assert [p["activitytypecode"] for p in pointers] == ["appointment"]
    assert api.patch(f"appointments({appt})", json={"statecode": 3}).status_code == 204
    assert api.get(f"appointments({appt})?$select=statuscode").json()["statuscode"] == 5


def test_closed_activities_are_read_only_as_in_dataverse(api: Api) -> None:
    for entity_set, done in (("tasks", {"statecode": 1}), ("emails", {"statecode": 2}),
                             ("appointments", {"statecode": 1})):
        activity = api.create(entity_set, {"subject": "x"})
        assert api.patch(f"{entity_set}({activity})", json=done).status_code == 204
        edit = api.patch(f"{entity_set}({activity})", json={"subject": "changed"})
        assert edit.status_code == 400
        assert error_of(edit) == {
            "code": "0x8004022e",
            "message": "The object cannot be updated because it is read-only."}


def _delta_link(api: Api) -> str:
    body = api.get("leads?$select=fullname", headers=TRACK).json()
    return body["@odata.deltaLink"]


def test_reset_makes_old_delta_tokens_invalid(api: Api, crm: MockDataverse) -> None:
    crm.insert("leads", {"lastname": "Before"})
    link = _delta_link(api)
    assert api.get(link, headers=TRACK).status_code == 200
    resp = requests.post(f"{crm.url}/_mock/reset", timeout=10)
    assert resp.status_code == 200
    stale = api.get(link, headers=TRACK)
    assert stale.status_code == 400
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    assert error_of(stale) == {"code": "0x80060888",
                               "message": f"The delta token '{token}' is not valid."}


def test_a_token_from_another_mock_is_invalid(api: Api, make_crm: MakeCrm) -> None:
    link = _delta_link(api)
    other = make_crm()
    token = parse_qs(urlsplit(link).query)["$deltatoken"][0]
    resp = Api(other).get("leads", params={"$select": "fullname", "$deltatoken": token},
                          headers=TRACK)
    assert resp.status_code == 400 and error_of(resp)["code"] == "0x80060888"


def test_fault_settings_are_validated(crm: MockDataverse) -> None:
    url = f"{crm.url}/_mock/faults"
    for body, words in [
        ({"fault_rate": "high"}, 'fault_rate must be a number between 0 and 1, not "high"'),
        ({"fault_rate": 2}, "fault_rate must be a number between 0 and 1, not 2"),
        ({"latency_ms": -1}, "latency_ms must be a number between 0 and 600000"),
        ({"concurrency_limit": 1.5}, "concurrency_limit must be a whole number"),
        ({"fault_seed": True}, "fault_seed must be a whole number"),
        ({"rate_limit": "lots"}, "must look like REQUESTS/SECONDS"),
        ({"delta_token_ttl": "soon"}, "delta_token_ttl must be a number"),
        ({"fault": 1}, "Unknown fault setting(s): fault"),
    ]:
        resp = requests.post(url, json=body, timeout=10)
        assert resp.status_code == 400, body
        message = resp.json()["error"]["message"]
        assert words in message, (body, message)
        assert "'<='" not in message and "instances of" not in message
    ok = requests.post(url, json={"fault_rate": 0.5, "rate_limit": "10/60",
                                  "concurrency_limit": None}, timeout=10)
    assert ok.status_code == 200
    assert ok.json()["fault_rate"] == 0.5 and ok.json()["rate_limit"] == [10, 60.0]
