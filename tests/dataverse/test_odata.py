from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from urllib.parse import unquote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from connector.dataverse import odata

GUID = "5F0C1A2B-0000-4000-8000-0000000000AA"


def test_guid_accepts_and_normalises() -> None:
    assert odata.guid(GUID) == GUID.lower()
    assert odata.guid(uuid.UUID(GUID)) == GUID.lower()


@pytest.mark.parametrize(
    "bad", ["", "abc", GUID + "x", f"{GUID})?$x=1", "{" + GUID + "}", None, 12, GUID + "\n"]
)
def test_guid_rejects_everything_else(bad: object) -> None:
    with pytest.raises(ValueError, match="not a GUID"):
        odata.guid(bad)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("O'Bryan", "'O''Bryan'"),
        ("", "''"),
        (None, "null"),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (-1.5, "-1.5"),
        (Decimal("10.50"), "10.50"),
        (uuid.UUID(GUID), GUID.lower()),
        (datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC), "2025-01-02T03:04:05Z"),
        (
            datetime(2025, 1, 2, 5, 4, 5, tzinfo=timezone(timedelta(hours=2))),
            "2025-01-02T03:04:05Z",
        ),
        (date(2025, 1, 2), "2025-01-02"),
    ],
)
def test_literal(value: object, expected: str) -> None:
    assert odata.literal(value) == expected


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), datetime(2025, 1, 1), object()])
def test_literal_refuses_unrepresentable(bad: object) -> None:
    with pytest.raises((ValueError, TypeError)):
        odata.literal(bad)


def test_entity_path_validates_both_parts() -> None:
    assert odata.entity_path("leads", GUID) == f"leads({GUID.lower()})"
    with pytest.raises(ValueError):
        odata.entity_path("leads?x=1", GUID)
    with pytest.raises(ValueError):
        odata.entity_path("leads", "1 or 1 eq 1")


def test_in_filter_matches_the_documented_shape() -> None:
    text = odata.in_filter("activityid", ["a1", uuid.UUID(GUID)])
    assert text == (
        "Microsoft.Dynamics.CRM.In(PropertyName='activityid',"
        f'PropertyValues=["a1","{GUID.lower()}"])'
    )
    assert odata.in_filter("x", ['say "hi"']).endswith('PropertyValues=["say \\"hi\\""])')
    with pytest.raises(ValueError):
        odata.in_filter("activityid", [])
    with pytest.raises(ValueError):
        odata.in_filter("a'b", ["x"])


def test_query_string_encodes_dangerous_characters() -> None:
    qs = odata.query_string(
        {"$select": "fullname,statecode", "$filter": "name eq 'A+B & C #1 100%\nx'", "$x": None}
    )
    assert qs == (
        "$select=fullname,statecode&$filter=name%20eq%20'A%2BB%20%26%20C%20%231%20100%25%0Ax'"
    )


def _split(qs: str) -> list[tuple[str, str]]:
    pairs = []
    for part in qs.split("&"):
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    return pairs


@settings(deadline=None)
@given(st.dictionaries(st.sampled_from(["$filter", "$select", "a", "$orderby"]), st.text()))
def test_query_string_round_trips_any_text(params: dict[str, str]) -> None:
    qs = odata.query_string(dict(params))
    if not params:
        assert qs == ""
        return
    assert _split(qs) == list(params.items())
    assert not any(c in qs for c in " \n\r\t#+")


@settings(deadline=None)
@given(st.text())
def test_string_literal_round_trips(text: str) -> None:
    lit = odata.literal(text)
    assert lit[0] == lit[-1] == "'"
    inner = lit[1:-1]
    # Every quote inside is doubled, so the literal cannot end early.
    assert inner.replace("''", "").count("'") == 0
    assert inner.replace("''", "'") == text


@settings(deadline=None)
@given(st.text())
def test_filter_with_user_text_cannot_add_query_options(text: str) -> None:
    qs = odata.query_string({"$filter": f"fullname eq {odata.literal(text)}", "$top": "5"})
    assert [k for k, _ in _split(qs)] == ["$filter", "$top"]
