"""Property-based fuzzing: OData literals through the real mock's parser, $batch round trips."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.world import World

from connector.dataverse import odata
from connector.dataverse.batch import parse_batch
from connector.dataverse.client import DataverseClient
from connector.dataverse.errors import BadResponse

# Text a CRM name can hold: anything but NUL and lone surrogates (not representable in JSON
# requests to Dataverse either).
NAMES = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                min_size=1, max_size=40)


def test_any_name_reaches_the_crm_as_exactly_one_literal(world: World) -> None:
    client = DataverseClient(world.settings.crm)

    @settings(max_examples=120, deadline=None,
              suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(NAMES)
    def round_trip(name: str) -> None:
        row_id = world.crm.insert("leads", {"fullname": name, "statecode": 0, "statuscode": 1})
        try:
            rows = list(client.query("leads", ["leadid", "fullname"],
                                     f"fullname eq {odata.literal(name)}"))
            assert [(r["leadid"], r["fullname"]) for r in rows] == [(row_id, name)]
        finally:
            world.crm.delete("leads", row_id)

    round_trip()


_part = st.tuples(
    st.sampled_from([200, 201, 204, 400, 404, 409, 412, 429, 500, 503]),
    st.one_of(st.none(), st.dictionaries(st.text(min_size=1, max_size=8),
                                         st.text(max_size=20), max_size=3)),
)


def _reply(parts: list[tuple[int, dict | None]], boundary: str = "batchresponse_x") -> bytes:
    out = []
    for status, body in parts:
        if status >= 300:
            body = {"error": {"code": "0x1", "message": json.dumps(body or {})}}
        text = "" if body is None else json.dumps(body)
        out.append(f"--{boundary}\r\nContent-Type: application/http\r\n"
                   "Content-Transfer-Encoding: binary\r\n\r\n"
                   f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n\r\n{text}\r\n")
    out.append(f"--{boundary}--\r\n")
    return "".join(out).encode()


@settings(max_examples=200, deadline=None)
@given(st.lists(_part, min_size=1, max_size=8))
def test_batch_replies_parse_back_to_what_was_sent(parts: list[tuple[int, dict | None]]) -> None:
    results = parse_batch("multipart/mixed; boundary=batchresponse_x", _reply(parts))
    assert [r.status for r in results] == [s for s, _ in parts]
    for (status, body), result in zip(parts, results, strict=True):
        if 200 <= status < 300:
            assert result.body == body and result.error is None
        else:
            assert result.error is not None and result.error.status == status


@settings(max_examples=200, deadline=None)
@given(st.lists(_part, min_size=1, max_size=6), st.data())
def test_a_truncated_batch_reply_never_passes_for_a_whole_one(
    parts: list[tuple[int, dict | None]], data: st.DataObject
) -> None:
    whole = _reply(parts)
    cut = data.draw(st.integers(0, len(whole) - 1))
    try:
        results = parse_batch("multipart/mixed; boundary=batchresponse_x", whole[:cut])
    except BadResponse:
        return
    # Only a cut inside the final line break can leave a reply that still parses; then it
    # must be the whole reply.
    assert [r.status for r in results] == [s for s, _ in parts]


@pytest.mark.parametrize("boundary", ["b", "batchresponse_0b5c", "--weird--"])
def test_the_boundary_is_taken_from_the_content_type(boundary: str) -> None:
    results = parse_batch(f"multipart/mixed; boundary={boundary}", _reply([(204, None)], boundary))
    assert [r.status for r in results] == [204]
