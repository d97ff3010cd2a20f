"""Paging and change tracking, page by page."""

from __future__ import annotations

import logging
from urllib.parse import unquote

import pytest
import responses
from responses import matchers

from connector.dataverse import BadResponse, ChangePage, DataverseClient, DeltaTokenExpired

from .conftest import API

L1 = "5f0c0000-0000-4000-8000-000000000001"
L2 = "5f0c0000-0000-4000-8000-000000000002"
L3 = "5f0c0000-0000-4000-8000-000000000003"
GONE = "2e451703-c686-e711-80e5-00155db19e6d"
NEXT = f"{API}/leads?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%3E"
DELTA = f"{API}/leads?$select=fullname&$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44"
DELTA2 = f"{API}/leads?$select=fullname&$deltatoken=919058%2108%2f22%2f2017%2008%3a21%3a20"
EXPIRED = {"error": {"code": "0x80040203", "message": "Version stamp associated with the client "
                                                      "has expired. Please perform a full sync."}}


def lead(i: str, name: str = "Ann") -> dict[str, str]:
    return {"@odata.etag": 'W/"1"', "leadid": i, "fullname": name}


def deleted(i: str) -> dict[str, str]:
    return {"@odata.context": f"{API}/$metadata#leads/$deletedEntity", "id": i,
            "reason": "deleted"}


def prefer(value: str) -> list:
    return [matchers.header_matcher({"Prefer": value})]


def test_query_streams_pages_following_next_link_verbatim(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname&$filter=statecode%20eq%200",
             json={"value": [lead(L1), lead(L2)], "@odata.nextLink": NEXT},
             match=prefer("odata.maxpagesize=2"))
    rsps.get(NEXT, json={"value": [lead(L3)]}, match=prefer("odata.maxpagesize=2"))
    rows = client.query("leads", ["fullname"], "statecode eq 0", page_size=2, key="leadid")
    assert next(rows)["leadid"] == L1
    assert len(rsps.calls) == 1  # the second page is fetched only when needed
    assert [r["leadid"] for r in rows] == [L2, L3]
    assert rsps.calls[1].request.url == NEXT


def test_looping_next_link_is_detected(client, rsps) -> None:
    first = f"{API}/leads?$select=fullname"
    rsps.get(first, json={"value": [lead(L1)], "@odata.nextLink": NEXT})
    rsps.get(NEXT, json={"value": [lead(L2)], "@odata.nextLink": first})
    with pytest.raises(BadResponse, match="loops"):
        list(client.query("leads", ["fullname"]))


def test_next_link_to_another_host_is_refused(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname",
             json={"value": [], "@odata.nextLink": "https://evil.example/api/data/v9.2/leads"})
    with pytest.raises(BadResponse, match="outside"):
        list(client.query("leads", ["fullname"]))


def test_rows_missing_the_primary_key_are_refused(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname", json={"value": [{"fullname": "x"}]})
    with pytest.raises(BadResponse, match="primary key 'leadid'"):
        list(client.query("leads", ["fullname"], key="leadid"))


def test_page_without_value_is_refused(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname", json={"rows": []})
    with pytest.raises(BadResponse, match="value"):
        list(client.query("leads", ["fullname"]))


def test_first_read_tracks_changes_and_ends_with_delta_link(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname",
             json={"value": [lead(L1)], "@odata.nextLink": NEXT},
             match=prefer("odata.track-changes,odata.maxpagesize=1"))
    rsps.get(NEXT, json={"value": [lead(L2)], "@odata.deltaLink": DELTA},
             match=prefer("odata.track-changes,odata.maxpagesize=1"))
    pages = list(client.read_changes("leads", ["fullname"], "leadid", None, page_size=1))
    assert pages == [
        ChangePage([lead(L1)], [], None, True),
        ChangePage([lead(L2)], [], DELTA, True),
    ]


def test_delta_read_with_deletes(client, rsps) -> None:
    rsps.get(DELTA, json={"value": [lead(L3, "Cy"), deleted(GONE)], "@odata.deltaLink": DELTA2},
             match=prefer("odata.track-changes,odata.maxpagesize=5000"))
    (page,) = client.read_changes("leads", ["fullname"], "leadid", DELTA)
    assert page.upserts == [lead(L3, "Cy")]
    assert page.deleted_ids == [GONE]
    assert page.delta_link == DELTA2 and page.full_read is False
    # requests upper-cases percent escapes (%2f -> %2F): the same URL per RFC 3986.
    assert unquote(rsps.calls[0].request.url) == unquote(DELTA)


def test_no_changes_gives_one_empty_page(client, rsps) -> None:
    rsps.get(DELTA, json={"value": [], "@odata.deltaLink": DELTA2})
    assert list(client.read_changes("leads", ["fullname"], "leadid", DELTA)) == [
        ChangePage([], [], DELTA2, False)
    ]


def test_expired_token_raises_by_default(client, rsps) -> None:
    rsps.get(DELTA, status=400, json=EXPIRED)
    with pytest.raises(DeltaTokenExpired):
        list(client.read_changes("leads", ["fullname"], "leadid", DELTA))


def test_expired_token_rereads_everything_when_asked(client, rsps, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="seqsync.dataverse")
    rsps.get(DELTA, status=400, json=EXPIRED)
    rsps.get(f"{API}/leads?$select=fullname",
             json={"value": [lead(L1), lead(L2)], "@odata.deltaLink": DELTA2},
             match=prefer("odata.track-changes,odata.maxpagesize=5000"))
    pages = list(client.read_changes("leads", ["fullname"], "leadid", DELTA, on_expired="reread"))
    assert pages == [ChangePage([lead(L1), lead(L2)], [], DELTA2, True)]
    assert "expired" in caplog.text and "leads" in caplog.text


def test_missing_delta_link_means_tracking_is_off(client, rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname", json={"value": [lead(L1)]})
    with pytest.raises(BadResponse, match="change tracking"):
        list(client.read_changes("leads", ["fullname"], "leadid", None))


def test_deleted_row_without_id_is_refused(client, rsps) -> None:
    rsps.get(DELTA, json={"value": [{"reason": "deleted"}], "@odata.deltaLink": DELTA2})
    with pytest.raises(BadResponse, match="deleted row"):
        list(client.read_changes("leads", ["fullname"], "leadid", DELTA))


def test_saved_delta_link_for_another_host_is_refused(client: DataverseClient) -> None:
    with pytest.raises(BadResponse, match="outside"):
        list(client.read_changes("leads", ["fullname"], "leadid", "https://evil.example/x"))


def test_page_size_is_bounded(client: DataverseClient) -> None:
    with pytest.raises(ValueError):
        list(client.query("leads", ["fullname"], page_size=5001))


def test_sync_layer_style_loop(client, rsps: responses.RequestsMock) -> None:
    """What the sync layer does: first run, save the link, next run from the link."""
    rsps.get(f"{API}/leads?$select=fullname",
             json={"value": [lead(L1)], "@odata.deltaLink": DELTA})
    rsps.get(DELTA, json={"value": [deleted(L1)], "@odata.deltaLink": DELTA2})
    saved = None
    seen: dict[str, dict] = {}
    for _ in range(2):
        for page in client.read_changes("leads", ["fullname"], "leadid", saved):
            seen.update({r["leadid"]: r for r in page.upserts})
            for i in page.deleted_ids:
                seen.pop(i, None)
            saved = page.delta_link or saved
    assert seen == {} and saved == DELTA2
