"""Retries: what is retried, how long it waits, when it gives up, and what it counts."""

from __future__ import annotations

import logging

import pytest
import requests

from connector.dataverse import (
    AuthFailed,
    CrmUnreachable,
    DataverseClient,
    DataverseError,
    Throttled,
    TransientError,
)
from connector.dataverse.retry import BACKOFF_CAP, backoff

from .conftest import API, FakeTokens, Sleeps, make_crm

TASK = "8f4c0000-0000-4000-8000-0000000000a1"
THROTTLE = {"error": {"code": "0x80072322", "message": "Number of requests exceeded the limit"}}


def test_429_waits_exactly_retry_after(client, rsps, sleeps, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="seqsync.dataverse")
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "2"})
    rsps.get(f"{API}/WhoAmI", json={"UserId": "u"})
    assert client.whoami() == {"UserId": "u"}
    assert sleeps == [2.0]
    snap = client.metrics.snapshot()
    assert snap == {
        "requests": 2,
        "retries": 1,
        "throttled": 1,
        "retry_wait_seconds": 2.0,
        "by_kind": {"throttled": 1},
        "by_reply": {"whoami 429": 1, "whoami 200": 1},
    }
    record = caplog.records[-1]
    assert "attempt 1" in record.getMessage() and "2.0s" in record.getMessage()
    assert record.retry_kind == "throttled"


def test_429_halves_concurrency(client, rsps) -> None:
    rsps.get(f"{API}/WhoAmI", json={}, headers={"x-ms-dop-hint": "8"})
    client.whoami()
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "1"})
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "1"})
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "1"})
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "1"})
    rsps.get(f"{API}/WhoAmI", json={})
    resp = client.request("GET", f"{API}/WhoAmI", idempotent=True)
    assert resp.status_code == 200
    assert client.concurrency == 1  # 8 -> 4 -> 2 -> 1 -> 1


def test_concurrency_grows_back_slowly() -> None:
    from connector.dataverse.retry import RESTORE_AFTER, Concurrency

    c = Concurrency(cap=52)
    c.set_hint(4)
    c.throttled()
    assert c.value == 2
    for _ in range(RESTORE_AFTER - 1):
        c.succeeded()
    assert c.value == 2
    c.succeeded()
    assert c.value == 3
    for _ in range(RESTORE_AFTER * 5):
        c.succeeded()
    assert c.value == 4


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_with_backoff(client, rsps, sleeps, status) -> None:
    rsps.get(f"{API}/WhoAmI", status=status, body="<html>oops</html>")
    rsps.get(f"{API}/WhoAmI", status=status, json={"error": {"code": "", "message": "busy"}})
    rsps.get(f"{API}/WhoAmI", json={})
    client.whoami()
    assert len(sleeps) == 2
    assert 0.5 <= sleeps[0] <= 1.0 and 1.0 <= sleeps[1] <= 2.0
    assert client.metrics.snapshot()["by_kind"] == {f"http_{status}": 2}


def test_connection_errors_and_timeouts_are_retried(client, rsps, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", body=requests.exceptions.ConnectionError("reset by peer"))
    rsps.get(f"{API}/WhoAmI", body=requests.exceptions.ReadTimeout("slow"))
    rsps.get(f"{API}/WhoAmI", body=requests.exceptions.ChunkedEncodingError("cut"))
    rsps.get(f"{API}/WhoAmI", json={})
    client.whoami()
    assert client.metrics.snapshot()["by_kind"] == {"connection": 3}


def test_attempts_are_bounded(client, rsps, sleeps) -> None:
    for _ in range(5):  # max_retries=4 -> 5 attempts
        rsps.get(f"{API}/WhoAmI", status=503, json={"error": {"code": "", "message": "down"}})
    with pytest.raises(TransientError, match="503") as info:
        client.whoami()
    assert info.value.exit_code == 3
    assert len(sleeps) == 4


def test_unreachable_after_retries_is_exit_three(client, rsps) -> None:
    for _ in range(5):
        rsps.get(f"{API}/WhoAmI", body=requests.exceptions.ConnectionError("refused"))
    with pytest.raises(CrmUnreachable, match="cannot reach CRM at contoso") as info:
        client.whoami()
    assert info.value.exit_code == 3


def test_total_wait_is_bounded_and_retry_after_never_shortened(tmp_path, tokens, rsps) -> None:
    sleeps = Sleeps()
    crm = make_crm(tmp_path, max_retries=10, max_retry_seconds=25.0)
    client = DataverseClient(crm, tokens, sleep=sleeps)
    for _ in range(3):
        rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE, headers={"Retry-After": "10"})
    with pytest.raises(Throttled) as info:
        client.whoami()
    # 10 + 10 fits in 25 s; a third wait of 10 would not, so it stops instead of waiting less.
    assert sleeps == [10.0, 10.0]
    assert info.value.retry_after == 10.0


def test_backoff_grows_and_is_capped() -> None:
    for attempt in range(1, 12):
        low = backoff(attempt, lambda a, b: a)
        high = backoff(attempt, lambda a, b: b)
        assert high == min(BACKOFF_CAP, 2 ** (attempt - 1))
        assert low == high / 2
    assert backoff(3) <= 4.0


def test_non_idempotent_calls_are_not_retried(client, rsps, sleeps) -> None:
    rsps.post(f"{API}/tasks/Microsoft.Dynamics.CRM.CreateMultiple", status=503,
              json={"error": {"code": "", "message": "busy"}})
    with pytest.raises(TransientError):
        client.create_multiple("tasks", "task", [{"subject": "no caller id"}])
    assert sleeps == [] and len(rsps.calls) == 1


def test_creates_with_caller_ids_are_retried(client, rsps, sleeps) -> None:
    url = f"{API}/tasks({TASK})"
    rsps.patch(url, body=requests.exceptions.ReadTimeout("lost reply"))
    rsps.patch(url, status=412,
               json={"error": {"code": "", "message": "A record with matching key values "
                                                      "already exists."}})
    from connector.dataverse import DuplicateKey

    with pytest.raises(DuplicateKey):  # the first attempt did create it: caller counts success
        client.upsert_create("tasks", TASK, {"subject": "x"})
    assert len(sleeps) == 1


def test_permanent_errors_are_not_retried(client, rsps, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", status=400, json={"error": {"code": "0x80044331", "message": "no"}})
    with pytest.raises(DataverseError):
        client.whoami()
    assert sleeps == []


def test_401_refreshes_the_token_once_then_succeeds(client, rsps, tokens) -> None:
    rsps.get(f"{API}/WhoAmI", status=401, json={"error": {"code": "", "message": "Expired"}})
    rsps.get(f"{API}/WhoAmI", json={"UserId": "u"})
    client.whoami()
    assert tokens.refreshes == 1
    assert rsps.calls[0].request.headers["Authorization"] == "Bearer token-1"
    assert rsps.calls[1].request.headers["Authorization"] == "Bearer token-2"


def test_401_twice_is_auth_failed(client, rsps, tokens: FakeTokens, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", status=401, json={"error": {"code": "", "message": "BadAuthTicket"}})
    rsps.get(f"{API}/WhoAmI", status=401, json={"error": {"code": "", "message": "BadAuthTicket"}})
    with pytest.raises(AuthFailed, match=r"CRM refused authentication .*client id/secret") as info:
        client.whoami()
    assert info.value.exit_code == 3
    assert tokens.refreshes == 1 and sleeps == []


def test_retry_after_as_http_date(client, rsps, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", status=429, json=THROTTLE,
             headers={"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})
    rsps.get(f"{API}/WhoAmI", json={})
    client.whoami()
    assert sleeps == [0.0]  # a date in the past means "now"


def test_503_with_retry_after_waits_at_least_that_long(client, rsps, sleeps) -> None:
    rsps.get(f"{API}/WhoAmI", status=503, json={"error": {"code": "", "message": "busy"}},
             headers={"Retry-After": "7"})
    rsps.get(f"{API}/WhoAmI", json={})
    client.whoami()
    assert sleeps == [7.0]


def test_timeouts_and_ca_bundle_reach_requests(tmp_path, tokens, sleeps) -> None:
    sent: list[dict] = []

    class Recorder(requests.Session):
        def request(self, method, url, **kwargs):  # type: ignore[override]
            sent.append(kwargs)
            resp = requests.Response()
            resp.status_code = 200
            resp._content = b"{}"
            resp.request = requests.Request(method, url, headers=kwargs["headers"]).prepare()
            return resp

    ca = tmp_path / "ca.pem"
    crm = make_crm(tmp_path, connect_timeout=3.0, read_timeout=30.0, ca_bundle=ca)
    DataverseClient(crm, tokens, session_factory=Recorder, sleep=sleeps).whoami()
    assert sent[0]["timeout"] == (3.0, 30.0)
    assert sent[0]["verify"] == str(ca)
    assert sent[0]["allow_redirects"] is False


def test_create_multiple_with_ids_in_rows_is_retried_without_key(client, rsps, sleeps) -> None:
    url = f"{API}/tasks/Microsoft.Dynamics.CRM.CreateMultiple"
    rsps.post(url, status=429, json=THROTTLE, headers={"Retry-After": "3"})
    rsps.post(url, json={"Ids": [TASK]})
    assert client.create_multiple("tasks", "task", [{"activityid": TASK}]) == [TASK]
    assert sleeps == [3.0]
