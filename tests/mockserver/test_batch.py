"""$batch exactly as the docs' examples write it: change sets, Content-ID, errors."""

from __future__ import annotations

import json
import re

import requests

from connector.mockserver import MockDataverse

from .conftest import Api, new_id


def _part(method: str, url: str, body: dict | None = None, content_id: str | None = None) -> str:
    lines = ["Content-Type: application/http", "Content-Transfer-Encoding: binary"]
    if content_id:
        lines.append(f"Content-ID: {content_id}")
    lines += ["", f"{method} {url} HTTP/1.1"]
    if body is not None:
        lines += ["Content-Type: application/json; type=entry", "", json.dumps(body)]
    else:
        lines += ["", ""]
    return "\r\n".join(lines)


def _batch(items: list[str | list[str]]) -> tuple[bytes, str]:
    out = []
    for item in items:
        if isinstance(item, list):
            inner = "".join(f"--changeset_c01\r\n{p}\r\n" for p in item) + "--changeset_c01--"
            out.append("--batch_7a1d\r\nContent-Type: multipart/mixed; "
                       f'boundary="changeset_c01"\r\n\r\n{inner}\r\n')
        else:
            out.append(f"--batch_7a1d\r\n{item}\r\n")
    body = "".join(out) + "--batch_7a1d--\r\n"
    return body.encode(), 'multipart/mixed; boundary="batch_7a1d"'


def _send(api: Api, items: list, prefer: str | None = None) -> requests.Response:
    body, content_type = _batch(items)
    headers = {"Content-Type": content_type}
    if prefer:
        headers["Prefer"] = prefer
    return api.post("$batch", data=body, headers=headers)


def _statuses(text: str) -> list[int]:
    return [int(s) for s in re.findall(r"^HTTP/1.1 (\d{3})", text, re.MULTILINE)]


def test_docs_example_change_set_then_get(crm: MockDataverse, api: Api) -> None:
    lead = crm.insert("leads", {"fullname": "Ann Lee"})
    resp = _send(api, [
        [_part("POST", "/api/data/v9.2/tasks",
               {"subject": "Step 2: call",
                "regardingobjectid_lead_task@odata.bind": f"/leads({lead})"}, "1")],
        _part("GET", f"/api/data/v9.2/leads({lead})/Lead_Tasks?$select=subject"),
    ])
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("multipart/mixed; boundary=batchresponse_")
    assert _statuses(resp.text) == [204, 200]
    assert "Content-ID: 1" in resp.text and "OData-EntityId: " in resp.text
    assert '"subject":"Step 2: call"' in resp.text
    assert len(crm.rows("tasks")) == 1
    assert crm.stats()["batch_operations"] == 2


def test_content_id_references_in_url_and_body(crm: MockDataverse, api: Api) -> None:
    resp = _send(api, [[
        _part("POST", f"{crm.api_url}/leads", {"fullname": "Ref Lead"}, "1"),
        _part("PATCH", "$1", {"subject": "patched via $1"}, "2"),
        _part("POST", "tasks", {"subject": "t", "regardingobjectid_lead_task@odata.bind": "$1"},
              "3"),
    ]])
    assert resp.status_code == 200, resp.text
    assert _statuses(resp.text) == [204, 204, 204]
    (lead,) = crm.rows("leads")
    assert lead["subject"] == "patched via $1"
    assert crm.rows("tasks")[0]["_regardingobjectid_value"] == lead["leadid"]


def test_a_failing_change_set_rolls_back_and_stops_the_batch(crm: MockDataverse, api: Api) -> None:
    resp = _send(api, [
        [_part("POST", "/api/data/v9.2/tasks", {"subject": "kept?"}, "1"),
         _part("POST", "/api/data/v9.2/tasks", {"subject": "x" * 201}, "2")],
        _part("POST", "/api/data/v9.2/tasks", {"subject": "never runs"}),
    ])
    assert resp.status_code == 400
    assert _statuses(resp.text) == [400]
    assert "0x80044331" in resp.text and "REQ_ID:" in resp.text
    assert crm.rows("tasks") == []


def test_continue_on_error_runs_every_part(crm: MockDataverse, api: Api) -> None:
    resp = _send(api, [
        _part("POST", "/api/data/v9.2/tasks", {"subject": "one"}),
        _part("PATCH", f"/api/data/v9.2/tasks({new_id()})", {"subject": "x"}),
        _part("POST", "/api/data/v9.2/tasks", {"subject": "three"}),
    ], prefer="odata.continue-on-error")
    assert resp.status_code == 200
    assert _statuses(resp.text) == [204, 204, 204]  # PATCH without If-Match upserts
    resp = _send(api, [
        _part("POST", "/api/data/v9.2/tasks", {"subject": "x" * 300}),
        _part("POST", "/api/data/v9.2/tasks", {"subject": "four"}),
    ], prefer="odata.continue-on-error")
    assert resp.status_code == 200 and _statuses(resp.text) == [400, 204]
    assert len(crm.rows("tasks")) == 4


def test_reference_before_declaration_is_400(api: Api) -> None:
    resp = _send(api, [[_part("PATCH", "$7", {"subject": "x"}, "1")]])
    assert resp.status_code == 400
    assert "Content-ID Reference: '$7' does not exist in the batch context." in resp.text


def test_more_than_1000_operations_is_refused(crm: MockDataverse, api: Api) -> None:
    parts = [_part("POST", "/api/data/v9.2/tasks", {"subject": f"t{i}"}) for i in range(1001)]
    resp = _send(api, parts)
    assert resp.status_code == 400
    assert "exceeds the limit of 1000" in resp.json()["error"]["message"]
    assert crm.rows("tasks") == []


def test_get_inside_a_change_set_and_missing_boundary_are_400(api: Api) -> None:
    resp = _send(api, [[_part("GET", "/api/data/v9.2/leads")]])
    assert resp.status_code == 400
    plain = api.post("$batch", data=b"x", headers={"Content-Type": "application/json"})
    assert plain.status_code == 400
    assert "multipart/mixed" in plain.json()["error"]["message"]


def test_lf_only_bodies_are_accepted(crm: MockDataverse, api: Api) -> None:
    body, content_type = _batch([_part("POST", "/api/data/v9.2/leads", {"fullname": "LF"})])
    resp = api.post("$batch", data=body.replace(b"\r\n", b"\n"),
                    headers={"Content-Type": content_type})
    assert resp.status_code == 200 and _statuses(resp.text) == [204]
    assert crm.rows("leads")[0]["fullname"] == "LF"
