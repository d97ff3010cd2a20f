"""Issue 10, defect 2 (client side): a delta token the CRM calls invalid is recovered like an
expired one, with one warning and a full read; it is never retried as it is."""

from __future__ import annotations

import logging

import pytest
from responses import matchers

from connector.dataverse import ChangePage, DeltaTokenInvalid, DeltaTokenRejected, NotFound

from .conftest import API

DELTA = f"{API}/leads?$select=fullname&$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44"
DELTA2 = f"{API}/leads?$select=fullname&$deltatoken=5%2111%2f30%2f2026%2008%3a21%3a20"
INVALID = {"error": {"code": "0x80060888",
                     "message": "The delta token '919042!08/22/2017 08:10:44' is not valid."}}
ARGUMENT = {"error": {"code": "0x80040203", "message": "Invalid argument."}}
L1 = "5f0c0000-0000-4000-8000-000000000001"


def _full_read(rsps) -> None:
    rsps.get(f"{API}/leads?$select=fullname",
             json={"value": [{"leadid": L1, "fullname": "Ann"}], "@odata.deltaLink": DELTA2},
             match=[matchers.header_matcher(
                 {"Prefer": "odata.track-changes,odata.maxpagesize=5000"})])


def test_an_invalid_token_raises_its_own_error_by_default(client, rsps) -> None:
    rsps.get(DELTA, status=400, json=INVALID)
    with pytest.raises(DeltaTokenInvalid, match="0x80060888") as caught:
        list(client.read_changes("leads", ["fullname"], "leadid", DELTA))
    assert isinstance(caught.value, DeltaTokenRejected)
    assert len(rsps.calls) == 1  # permanent: never retried


@pytest.mark.parametrize("body", [INVALID, ARGUMENT], ids=["0x80060888", "any-400"])
def test_an_invalid_token_is_reread_with_one_warning(client, rsps, caplog, body) -> None:
    caplog.set_level(logging.WARNING, logger="seqsync.dataverse")
    rsps.get(DELTA, status=400, json=body)
    _full_read(rsps)
    pages = list(client.read_changes("leads", ["fullname"], "leadid", DELTA, on_expired="reread"))
    assert pages == [ChangePage([{"leadid": L1, "fullname": "Ann"}], [], DELTA2, True)]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "not valid" in warnings[0].getMessage() and "leads" in warnings[0].getMessage()


def test_other_errors_on_a_delta_link_are_not_taken_for_a_bad_token(client, rsps) -> None:
    rsps.get(DELTA, status=404, json={"error": {"code": "0x80040217", "message": "gone"}})
    with pytest.raises(NotFound):
        list(client.read_changes("leads", ["fullname"], "leadid", DELTA, on_expired="reread"))
