"""$batch: the multipart text we send, and a parser that only ever fails with BadResponse."""

from __future__ import annotations

import contextlib
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from responses import matchers

from connector.dataverse import BadResponse, BatchOperation, DuplicateKey
from connector.dataverse.batch import build_batch, parse_batch

from .conftest import API

T1 = "e73f0000-0000-4000-8000-0000000000c9"
LEAD = "5f0c0000-0000-4000-8000-000000000001"


def normalise(text: str) -> str:
    return re.sub(r"(batch|changeset)_[0-9a-f-]{36}", r"\1_X", text)


def test_build_non_atomic_batch_text() -> None:
    ops = [
        BatchOperation("PATCH", f"tasks({T1})", {"subject": "Call"}, {"If-None-Match": "*"}),
        BatchOperation("GET", f"leads({LEAD})?$select=fullname"),
    ]
    content_type, body = build_batch(ops, API, atomic=False)
    assert normalise(content_type) == 'multipart/mixed; boundary="batch_X"'
    assert normalise(body.decode()) == (
        "--batch_X\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        f"PATCH {API}/tasks({T1}) HTTP/1.1\r\n"
        "If-None-Match: *\r\n"
        "Content-Type: application/json; type=entry\r\n"
        "\r\n"
        '{"subject": "Call"}\r\n'
        "--batch_X\r\n"
        "Content-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\n"
        "\r\n"
        f"GET {API}/leads({LEAD})?$select=fullname HTTP/1.1\r\n"
        "\r\n"
        "\r\n"
        "--batch_X--\r\n"
    )


def test_build_atomic_batch_uses_one_changeset_with_content_ids() -> None:
    ops = [
        BatchOperation("POST", "tasks", {"subject": "a"}, content_id="1"),
        BatchOperation("PATCH", "$1", {"subject": "b"}, content_id="2"),
    ]
    _, body = build_batch(ops, API, atomic=True)
    text = normalise(body.decode())
    assert text.startswith(
        '--batch_X\r\nContent-Type: multipart/mixed; boundary="changeset_X"\r\n\r\n'
        "--changeset_X\r\nContent-Type: application/http\r\n"
        "Content-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\n"
        f"POST {API}/tasks HTTP/1.1\r\n"
    )
    assert "PATCH $1 HTTP/1.1\r\n" in text
    assert text.endswith("\r\n--changeset_X--\r\n--batch_X--\r\n")


def test_build_refuses_bad_batches() -> None:
    with pytest.raises(ValueError):
        build_batch([], API, atomic=False)
    with pytest.raises(ValueError, match="GET"):
        build_batch([BatchOperation("GET", "leads")], API, atomic=True)
    with pytest.raises(ValueError):
        build_batch([BatchOperation("GET", "leads HTTP/1.1\r\nX: y")], API, atomic=False)
    with pytest.raises(ValueError):
        build_batch([BatchOperation("GET", "leads", headers={"X": "a\r\nB: c"})], API,
                    atomic=False)
    with pytest.raises(ValueError):
        build_batch([BatchOperation("GET", "leads")] * 1001, API, atomic=False)


DOC_REPLY = (
    "--batchresponse_3f9e\r\n"
    "Content-Type: multipart/mixed; boundary=changesetresponse_88ab\r\n"
    "\r\n"
    "--changesetresponse_88ab\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "Content-ID: 1\r\n"
    "\r\n"
    "HTTP/1.1 204 No Content\r\n"
    "OData-Version: 4.0\r\n"
    f"Location: {API}/tasks({T1})\r\n"
    f"OData-EntityId: {API}/tasks({T1})\r\n"
    "\r\n"
    "\r\n"
    "--changesetresponse_88ab--\r\n"
    "--batchresponse_3f9e\r\n"
    "Content-Type: application/http\r\n"
    "Content-Transfer-Encoding: binary\r\n"
    "\r\n"
    "HTTP/1.1 200 OK\r\n"
    "Content-Type: application/json; odata.metadata=minimal\r\n"
    "OData-Version: 4.0\r\n"
    "\r\n"
    '{"value":[{"subject":"Step 2: call","activityid":"' + T1 + '"}]}\r\n'
    "--batchresponse_3f9e--\r\n"
)


def test_parse_the_documented_reply() -> None:
    results = parse_batch("multipart/mixed; boundary=batchresponse_3f9e", DOC_REPLY.encode())
    assert [r.status for r in results] == [204, 200]
    assert results[0].content_id == "1" and results[0].entity_id == T1
    assert results[1].body["value"][0]["subject"] == "Step 2: call"
    assert all(r.ok and r.error is None for r in results)


def test_parse_accepts_lf_only() -> None:
    lf = DOC_REPLY.replace("\r\n", "\n").encode()
    results = parse_batch('multipart/mixed; boundary="batchresponse_3f9e"', lf)
    assert [r.status for r in results] == [204, 200]


@pytest.mark.parametrize(
    ("content_type", "payload"),
    [
        ("application/json", b"{}"),
        ("multipart/mixed", b"--x--"),
        ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n\r\nHTTP/1.1"),
        ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--"),
        ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n\r\n"
                                        b"garbage\r\n--b--"),
        ("multipart/mixed; boundary=b", b"--b\r\nContent-Type: application/http\r\n\r\n"
                                        b"HTTP/1.1 200 OK\r\n\r\n{not json\r\n--b--"),
        ("multipart/mixed; boundary=b", b"\xff\xfe"),
    ],
)
def test_parse_malformed_replies_raise_bad_response(content_type: str, payload: bytes) -> None:
    with pytest.raises(BadResponse):
        parse_batch(content_type, payload)


@settings(max_examples=300, deadline=None)
@given(st.text(), st.binary())
def test_parser_never_crashes_on_random_input(content_type: str, payload: bytes) -> None:
    # Any outcome but BadResponse (another exception, a hang) fails the test.
    with contextlib.suppress(BadResponse):
        parse_batch(content_type, payload)


_pieces = st.sampled_from(
    ["--b", "--b--", "\r\n", "\n", "Content-Type: application/http", "Content-ID: 1",
     "Content-Type: multipart/mixed; boundary=c", "--c", "--c--", "HTTP/1.1 204 No Content",
     "HTTP/1.1 400 Bad Request", '{"error":{"code":"","message":"x"}}', "{", ":", "HTTP/1.1 2"]
)


@settings(max_examples=500, deadline=None)
@given(st.lists(_pieces, max_size=30))
def test_parser_never_crashes_on_near_valid_input(pieces: list[str]) -> None:
    try:
        results = parse_batch("multipart/mixed; boundary=b", "".join(pieces).encode())
    except BadResponse:
        return
    assert all(100 <= r.status <= 999 for r in results)


def test_execute_batch_continue_on_error_reports_each_part(client, rsps) -> None:
    reply = (
        "--batchresponse_1\r\nContent-Type: application/http\r\n\r\n"
        "HTTP/1.1 204 No Content\r\n\r\n\r\n"
        "--batchresponse_1\r\nContent-Type: application/http\r\n\r\n"
        "HTTP/1.1 412 Precondition Failed\r\nREQ_ID: part-2\r\n"
        "Content-Type: application/json\r\n\r\n"
        '{"error":{"code":"","message":"A record with matching key values already exists."}}\r\n'
        "--batchresponse_1--\r\n"
    )
    rsps.post(
        f"{API}/$batch", body=reply,
        content_type="multipart/mixed; boundary=batchresponse_1",
        match=[matchers.header_matcher({"Prefer": "odata.continue-on-error"})],
    )
    ops = [
        BatchOperation("PATCH", f"tasks({T1})", {"subject": "a"}, {"If-None-Match": "*"}),
        BatchOperation("PATCH", f"tasks({LEAD})", {"subject": "b"}, {"If-None-Match": "*"}),
    ]
    results = client.execute_batch(ops, continue_on_error=True)
    assert [r.status for r in results] == [204, 412]
    assert isinstance(results[1].error, DuplicateKey)
    assert results[1].error.request_id == "part-2"
    assert results[1].message.startswith("CRM 412: A record with matching key values")
    assert results[0].message == ""
    sent = rsps.calls[0].request
    assert sent.headers["Content-Type"].startswith('multipart/mixed; boundary="batch_')
    assert sent.headers["Authorization"] == "Bearer token-1"


def test_execute_batch_400_with_multipart_returns_the_failed_part(client, rsps) -> None:
    reply = (
        "--batchresponse_2\r\nContent-Type: application/http\r\n\r\n"
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n\r\n"
        '{"error":{"code":"0x80044331","message":"A validation error occurred."}}\r\n'
        "--batchresponse_2--\r\n"
    )
    rsps.post(f"{API}/$batch", status=400, body=reply,
              content_type="multipart/mixed; boundary=batchresponse_2")
    results = client.execute_batch(
        [BatchOperation("PATCH", f"tasks({T1})", {"subject": "x" * 300})], atomic=True
    )
    assert len(results) == 1 and results[0].status == 400
    assert results[0].error is not None and results[0].error.code == "0x80044331"


def test_execute_batch_400_json_raises(client, rsps) -> None:
    from connector.dataverse import DataverseError

    rsps.post(f"{API}/$batch", status=400,
              json={"error": {"code": "", "message": "Content-ID Reference: '$1' does not exist"}})
    with pytest.raises(DataverseError, match="Content-ID"):
        client.execute_batch([BatchOperation("PATCH", "$1", {"a": 1})])


def test_batch_with_plain_posts_is_not_retried(client, rsps, sleeps) -> None:
    from connector.dataverse import TransientError

    rsps.post(f"{API}/$batch", status=503, json={"error": {"code": "", "message": "busy"}})
    with pytest.raises(TransientError):
        client.execute_batch([BatchOperation("POST", "tasks", {"subject": "a"})])
    assert sleeps == []
