from __future__ import annotations

import json

import pytest

from connector import errors as base
from connector.dataverse import errors as dv


def body(code: str, message: str) -> str:
    return json.dumps({"error": {"code": code, "message": message}})


@pytest.mark.parametrize(
    ("status", "text", "kind", "exit_code"),
    [
        (404, body("0x80040217", "lead With Id = x Does Not Exist"), dv.NotFound, 2),
        (400, body("-2147220969", "lead With Id = x Does Not Exist"), dv.NotFound, 2),
        (412, body("", "A record with matching key values already exists."), dv.DuplicateKey, 2),
        (400, body("0x80040237", "Cannot insert duplicate key."), dv.DuplicateKey, 2),
        (500, body("-2147220937", "Cannot insert duplicate key."), dv.TransientError, 3),
        (412, body("", "The version of the existing record doesn't match the RowVersion"),
         dv.PreconditionFailed, 2),
        (429, body("0x80072322", "Number of requests exceeded the limit"), dv.Throttled, 3),
        (401, body("", "BadAuthTicket"), dv.AuthFailed, 3),
        (403, body("0x80040220", "PrivilegeDenied"), dv.AuthFailed, 3),
        (503, body("", "Service Unavailable"), dv.TransientError, 3),
        (502, "<html><body><h1>502 Bad Gateway</h1></body></html>", dv.TransientError, 3),
        (400, "<html><body>Proxy says no</body></html>", dv.BadResponse, 3),
        (404, "<html>Not here</html>", dv.BadResponse, 3),
        (400, body("0x80044331", "A validation error occurred."), dv.DataverseError, 2),
        (400, body("", "Version stamp associated with the client has expired. Please perform a "
                       "full sync."), dv.DeltaTokenExpired, 2),
    ],
)
def test_error_mapping(status: int, text: str, kind: type, exit_code: int) -> None:
    err = dv.error_for(status, text, "req-1")
    assert type(err) is kind
    assert err.exit_code == exit_code
    assert isinstance(err, base.SeqsyncError)
    assert str(status) in str(err) and "req-1" in str(err)
    assert "\n" not in str(err)


def test_exit_three_errors_are_crm_unavailable() -> None:
    for kind in (dv.AuthFailed, dv.CrmUnreachable, dv.TransientError, dv.Throttled):
        assert issubclass(kind, base.CrmUnavailable)
    assert issubclass(dv.NotFound, base.NotFound)


def test_message_names_status_code_message_and_request_id() -> None:
    err = dv.error_for(400, body("0x80044331", "subject too long"), "abc-123")
    assert str(err) == "CRM 400 0x80044331: subject too long (request id abc-123)"
    assert (err.status, err.code, err.message, err.request_id) == (
        400, "0x80044331", "subject too long", "abc-123"
    )


def test_code_value_matches_hex_and_decimal() -> None:
    assert dv.code_value("0x80040237") == dv.code_value("-2147220937") == dv.CODE_DUPLICATE_KEY
    assert dv.code_value("") is None
    assert dv.code_value("nonsense") is None


def test_throttled_keeps_retry_after() -> None:
    err = dv.error_for(429, body("0x80072322", "slow down"), None, retry_after=7.0)
    assert isinstance(err, dv.Throttled) and err.retry_after == 7.0


def test_long_and_multiline_messages_become_one_short_line() -> None:
    err = dv.error_for(400, body("", "line one\nline two " + "x" * 2000), None)
    assert "\n" not in str(err) and len(str(err)) < 500
