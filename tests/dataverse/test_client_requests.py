"""The exact requests the client sends, and how it reads the replies."""

from __future__ import annotations

import json
import threading

import pytest
import requests
import responses
from responses import matchers

from connector.dataverse import (
    BadResponse,
    DataverseClient,
    DuplicateKey,
    NotFound,
)

from .conftest import API, FakeTokens

LEAD = "5f0c0000-0000-4000-8000-000000000001"
TASK1 = "8f4c0000-0000-4000-8000-0000000000a1"
TASK2 = "904c0000-0000-4000-8000-0000000000a2"


def test_every_request_carries_the_baseline_headers(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    rsps.get(f"{API}/WhoAmI", json={"UserId": "u"})
    rsps.get(f"{API}/WhoAmI", json={"UserId": "u"})
    client.whoami()
    client.whoami()
    ids = set()
    for call in rsps.calls:
        h = call.request.headers
        assert h["Accept"] == "application/json"
        assert h["OData-MaxVersion"] == "4.0"
        assert h["OData-Version"] == "4.0"
        assert h["If-None-Match"] == "null"
        assert h["Authorization"] == "Bearer token-1"
        assert "Content-Type" not in h
        ids.add(h["x-ms-client-request-id"])
    assert len(ids) == 2


def test_whoami_sets_concurrency_from_dop_hint(
    client: DataverseClient, rsps: responses.RequestsMock
) -> None:
    assert client.concurrency == 5
    rsps.get(f"{API}/WhoAmI", json={"UserId": "u"}, headers={"x-ms-dop-hint": "12"})
    assert client.whoami() == {"UserId": "u"}
    assert client.concurrency == 12


def test_dop_hint_is_capped_and_defaults_to_five(crm, tokens, sleeps, rsps) -> None:
    capped = DataverseClient(crm, tokens, sleep=sleeps, max_concurrency=8)
    rsps.get(f"{API}/WhoAmI", json={}, headers={"x-ms-dop-hint": "50"})
    rsps.get(f"{API}/WhoAmI", json={})
    capped.whoami()
    assert capped.concurrency == 8
    capped.whoami()
    assert capped.concurrency == 5


def test_get_builds_a_validated_url(client: DataverseClient, rsps: responses.RequestsMock) -> None:
    rsps.get(
        f"{API}/leads({LEAD})?$select=fullname,statecode",
        json={"leadid": LEAD, "fullname": "Ann"},
        match=[matchers.query_string_matcher("$select=fullname,statecode")],
    )
    assert client.get("leads", LEAD, ["fullname", "statecode"])["fullname"] == "Ann"
    with pytest.raises(ValueError, match="not a GUID"):
        client.get("leads", "x' or 1 eq 1", ["fullname"])


def test_get_missing_row_raises_not_found(client, rsps) -> None:
    rsps.get(
        f"{API}/leads({LEAD})",
        status=404,
        json={"error": {"code": "0x80040217", "message": "lead With Id = x Does Not Exist"}},
        headers={"x-ms-service-request-id": "srv-9"},
    )
    with pytest.raises(NotFound) as info:
        client.get("leads", LEAD, [])
    assert info.value.request_id == "srv-9"
    assert "token" not in str(info.value)


def test_upsert_create_sends_if_none_match_star(client, rsps) -> None:
    rsps.patch(
        f"{API}/tasks({TASK1})",
        status=204,
        match=[
            matchers.header_matcher(
                {"If-None-Match": "*", "Content-Type": "application/json"}
            ),
            matchers.json_params_matcher({"subject": "Call"}),
        ],
    )
    client.upsert_create("tasks", TASK1, {"subject": "Call"})


def test_upsert_create_on_existing_row_is_duplicate_key(client, rsps) -> None:
    rsps.patch(
        f"{API}/tasks({TASK1})",
        status=412,
        json={"error": {"code": "", "message": "A record with matching key values already "
                                               "exists."}},
    )
    with pytest.raises(DuplicateKey):
        client.upsert_create("tasks", TASK1, {"subject": "Call"})


def test_update_sends_if_match(client, rsps) -> None:
    rsps.patch(f"{API}/tasks({TASK1})", status=204,
               match=[matchers.header_matcher({"If-Match": "*"})])
    rsps.patch(f"{API}/tasks({TASK1})", status=204,
               match=[matchers.header_matcher({"If-Match": 'W/"77"'})])
    client.update("tasks", TASK1, {"statecode": 1, "statuscode": 5})
    client.update("tasks", TASK1, {"subject": "x"}, if_match='W/"77"')
    assert json.loads(rsps.calls[0].request.body) == {"statecode": 1, "statuscode": 5}


def test_delete(client, rsps) -> None:
    rsps.delete(f"{API}/tasks({TASK1})", status=204)
    client.delete("tasks", TASK1)


def test_create_multiple_body_and_ids(client, rsps) -> None:
    rows = [
        {"activityid": TASK1, "subject": "Call back",
         "regardingobjectid_lead_task@odata.bind": f"/leads({LEAD})"},
        {"activityid": TASK2, "subject": "Send deck"},
    ]
    rsps.post(
        f"{API}/tasks/Microsoft.Dynamics.CRM.CreateMultiple",
        json={"Ids": [TASK1, TASK2.upper()]},
        match=[matchers.json_params_matcher({"Targets": [
            {**rows[0], "@odata.type": "Microsoft.Dynamics.CRM.task"},
            {**rows[1], "@odata.type": "Microsoft.Dynamics.CRM.task"},
        ]})],
    )
    assert client.create_multiple("tasks", "task", rows, key="activityid") == [TASK1, TASK2]
    assert "@odata.type" not in rows[0]  # the caller's rows are left alone


def test_create_multiple_rejects_a_bad_ids_reply(client, rsps) -> None:
    rsps.post(f"{API}/tasks/Microsoft.Dynamics.CRM.CreateMultiple", json={"Ids": [TASK1]})
    with pytest.raises(BadResponse, match="Ids"):
        client.create_multiple("tasks", "task", [{"activityid": TASK1}, {"activityid": TASK2}],
                               key="activityid")


def test_create_multiple_requires_ids_when_key_given(client) -> None:
    with pytest.raises(ValueError):
        client.create_multiple("tasks", "task", [{"subject": "no id"}], key="activityid")


def test_update_multiple(client, rsps) -> None:
    rsps.post(
        f"{API}/tasks/Microsoft.Dynamics.CRM.UpdateMultiple",
        status=204,
        match=[matchers.json_params_matcher({"Targets": [
            {"activityid": TASK1, "statecode": 1, "@odata.type": "Microsoft.Dynamics.CRM.task"}
        ]})],
    )
    client.update_multiple("tasks", "task", [{"activityid": TASK1, "statecode": 1}], "activityid")


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        ({"body": "<html>login</html>", "content_type": "text/html"}, "not valid JSON"),
        ({"body": '{"value": [', "content_type": "application/json"}, "not valid JSON"),
        ({"json": [1, 2]}, "not a JSON object"),
        ({"json": {"error": {"code": "0x1", "message": "boom"}}}, "error inside a success"),
    ],
)
def test_hostile_success_bodies_are_bad_responses(client, rsps, reply, match) -> None:
    rsps.get(f"{API}/WhoAmI", status=200, **reply)
    with pytest.raises(BadResponse, match=match):
        client.whoami()


def test_tls_failure_is_crm_unreachable_without_retry(client, rsps, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", body=requests.exceptions.SSLError("certificate verify failed"))
    from connector.dataverse import CrmUnreachable

    with pytest.raises(CrmUnreachable, match="TLS verification failed") as info:
        client.whoami()
    assert info.value.exit_code == 3
    assert sleeps == []


def test_one_session_per_thread(crm, tokens, sleeps) -> None:
    made: list[requests.Session] = []

    def factory() -> requests.Session:
        made.append(requests.Session())
        return made[-1]

    client = DataverseClient(crm, tokens, session_factory=factory, sleep=sleeps)
    seen: list[requests.Session] = []
    threads = [threading.Thread(target=lambda: seen.append(client.session())) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert client.session() is client.session()
    assert len(made) == 4 and len({id(s) for s in seen}) == 3
    client.close()


def test_http_crm_url_is_refused(tmp_path, tokens) -> None:
    from connector.config import CrmConfig
    from connector.errors import InvalidInput

    crm = CrmConfig.model_construct(url="http://crm.local", tenant_id="t", client_id="c")
    with pytest.raises(InvalidInput, match="https"):
        DataverseClient(crm, tokens)


def test_tokens_are_not_in_logs_or_errors(client, rsps, caplog) -> None:
    rsps.get(f"{API}/WhoAmI", status=503, json={"error": {"code": "", "message": "busy"}})
    rsps.get(f"{API}/WhoAmI", status=400, json={"error": {"code": "", "message": "bad"}})
    caplog.set_level("DEBUG")
    with pytest.raises(Exception) as info:
        client.whoami()
    assert "token-" not in caplog.text and "token-" not in str(info.value)
    assert isinstance(client.tokens, FakeTokens)


def test_query_in_uses_the_in_function(client, rsps) -> None:
    expected = (
        f"{API}/tasks?$select=activityid&$filter=Microsoft.Dynamics.CRM.In("
        "PropertyName%3D'activityid',PropertyValues%3D"
        f"%5B%22{TASK1}%22,%22{TASK2}%22%5D)"
    )
    rsps.get(expected, json={"value": [{"activityid": TASK1}]})
    rows = list(client.query_in("tasks", "activityid", [TASK1, TASK2], select=["activityid"]))
    assert rows == [{"activityid": TASK1}]
    assert rsps.calls[0].request.url == expected
    assert list(client.query_in("tasks", "activityid", [], select=["activityid"])) == []
