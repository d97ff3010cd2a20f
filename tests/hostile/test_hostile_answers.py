"""What a broken proxy or a misbehaving CRM can send, and what seqsync does with it.

Each answer must give a clear error naming the table, write nothing for that page, keep the
old delta link (so the next run reads the same changes again), and leave the rest of the run
to do its work.
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from chaos.invariants import check
from chaos.spoiler import Hostile
from support.world import T0, World

from connector.store.schema import records, sync_state

NOW = T0 + timedelta(minutes=1)
LEADS_PAGE = r"/leads(\?.*)?$"


def _html(status, headers, body, n):  # type: ignore[no-untyped-def]
    return 200, {"Content-Type": "text/html"}, b"<html><body><h1>Gateway says hi</h1></body></html>"


def _truncated(status, headers, body, n):  # type: ignore[no-untyped-def]
    return status, headers, body[: len(body) // 2]


def _error_body(status, headers, body, n):  # type: ignore[no-untyped-def]
    payload = {"error": {"code": "0x80040265", "message": "Plugin failed, but we said 200"}}
    return 200, headers, json.dumps(payload).encode()


def _second_page(spoil):  # type: ignore[no-untyped-def]
    """Spoil only the second page of a read: the first one is fine and may be applied."""
    def mutate(status, headers, body, n):  # type: ignore[no-untyped-def]
        return spoil(status, headers, body, n) if n == 1 else (status, headers, body)
    return mutate


def _rows(edit):  # type: ignore[no-untyped-def]
    def mutate(status, headers, body, n):  # type: ignore[no-untyped-def]
        if n != 1:
            return status, headers, body
        page = json.loads(body)
        edit(page["value"])
        return status, headers, json.dumps(page).encode()
    return mutate


def _drop_key(rows):  # type: ignore[no-untyped-def]
    del rows[3]["leadid"]


def _wrong_type(rows):  # type: ignore[no-untyped-def]
    rows[2]["statecode"] = "open"


def _name_is_object(rows):  # type: ignore[no-untyped-def]
    rows[4]["fullname"] = {"first": "Ann"}


def _loop(status, headers, body, n):  # type: ignore[no-untyped-def]
    page = json.loads(body)
    if "@odata.nextLink" in page:
        loop = page["@odata.nextLink"]
        page["@odata.nextLink"] = loop  # page 2 will point at itself, see below
    if n == 1:
        page.pop("@odata.deltaLink", None)
        page["@odata.nextLink"] = _loop.last  # type: ignore[attr-defined]
    _loop.last = page.get("@odata.nextLink", "")  # type: ignore[attr-defined]
    return status, headers, json.dumps(page).encode()


SPOILERS = {
    "html page": (_html, "not valid JSON"),
    "truncated json": (_truncated, "not valid JSON"),
    "200 with an error body": (_error_body, "error inside a success reply"),
    "row without its primary key": (_rows(_drop_key), "primary key"),
    "statecode of the wrong type": (_rows(_wrong_type), "statecode"),
    "name of the wrong type": (_rows(_name_is_object), "fullname"),
    "nextLink that loops": (_loop, "loops"),
}


def _local_leads(world: World) -> set[str]:
    return {r.id for r in world.db(records) if r.table == "lead"}


def _delta(world: World, entity_set: str) -> str | None:
    rows = {r.key: r.value for r in world.db(sync_state)}
    return rows.get(f"delta:{entity_set}")


def _first(kind: str):  # type: ignore[no-untyped-def]
    spoil = SPOILERS[kind][0]
    return _second_page(spoil) if spoil in (_html, _truncated, _error_body) else spoil


# A row that cannot be mapped is quarantined and the rest of its page kept (issue 16); a row
# without its primary key is a broken reply, refused by the client as a whole page.
ROW_SPOILERS = ("statecode of the wrong type", "name of the wrong type")


@pytest.mark.parametrize("kind", [k for k in SPOILERS if k not in ROW_SPOILERS])
def test_a_spoiled_page_is_one_clear_error_and_writes_nothing_of_it(
    world: World, hostile: Hostile, kind: str
) -> None:
    hostile.on("GET", LEADS_PAGE, _first(kind))
    result = world.cli("sync", now=T0)
    assert result.exit_code == 1, result.output  # the run went on without that table
    assert "Traceback" not in result.output
    assert SPOILERS[kind][1] in result.stdout and "leads" in result.stdout, result.stdout
    # Only whole pages before the spoiled one are kept, and the delta link is not saved.
    kept = len(_local_leads(world))
    assert kept % 10 == 0 and kept < len(world.crm.rows("leads"))
    assert _delta(world, "leads") is None


@pytest.mark.parametrize("kind", ROW_SPOILERS)
def test_a_spoiled_row_is_quarantined_and_the_rest_of_its_page_is_kept(
    world: World, hostile: Hostile, kind: str
) -> None:
    hostile.on("GET", LEADS_PAGE, _first(kind))
    result = world.cli("sync", now=T0)
    assert result.exit_code == 1, result.output  # one row failed; the rest went on
    assert "Traceback" not in result.output
    assert SPOILERS[kind][1] in result.stdout and '"quarantine"' in result.stdout, result.stdout
    assert len(_local_leads(world)) == len(world.crm.rows("leads")) - 1
    assert _delta(world, "leads") is not None
    status = json.loads(world.cli("--json", "status").stdout)
    assert [q["table"] for q in status["quarantined"]] == ["lead"]


def test_after_a_spoiled_read_the_next_clean_run_catches_up(world: World, hostile: Hostile
                                                           ) -> None:
    hostile.on("GET", LEADS_PAGE, _second_page(_truncated))
    assert world.cli("sync", now=T0).exit_code == 1
    hostile.rsps.reset()
    hostile.rsps.add_passthru(world.crm.url)
    assert world.sync(T0 + timedelta(seconds=1)).outcome == "ok"
    assert len(_local_leads(world)) == len(world.crm.rows("leads"))
    assert check(world, T0, complete=True).ok


def test_a_spoiled_pull_of_one_table_does_not_stop_the_rest_of_the_run(
    world: World, hostile: Hostile
) -> None:
    world.sync(T0)
    connected = world.open_leads(5)
    world.connect(world.sequence(), connected)
    world.crm.update("leads", world.open_leads()[-1], {"fullname": "Changed"})
    hostile.on("GET", LEADS_PAGE, _html)
    report = world.sync(NOW)
    assert report.outcome == "partial"
    [error] = report.errors
    assert error["kind"] == "pull" and "leads" in error["message"]
    assert sorted(str(e["_regardingobjectid_value"]) for e in world.crm.rows("emails")) \
        == sorted(connected)
    assert check(world, NOW, complete=False).ok


@pytest.mark.parametrize("spoil", [_html, _truncated, _error_body],
                         ids=["html", "truncated", "error-body"])
def test_a_spoiled_create_multiple_reply_is_isolated_and_nothing_is_duplicated(
    world: World, hostile: Hostile, spoil
) -> None:
    world.sync(T0)
    connected = world.open_leads(12)
    world.connect(world.sequence(), connected)
    # The CRM creates the rows, then the reply is lost in a broken proxy.
    hostile.on("POST", r"/emails/Microsoft\.Dynamics\.CRM\.CreateMultiple$",
               lambda s, h, b, n: spoil(s, h, b, n) if n == 0 else (s, h, b))
    report = world.sync(NOW)
    emails = world.crm.rows("emails")
    assert sorted(str(e["_regardingobjectid_value"]) for e in emails) == sorted(connected)
    assert check(world, NOW, complete=report.outcome == "ok").ok
    world.sync(NOW + timedelta(minutes=1))
    assert len(world.crm.rows("emails")) == len(connected)
    assert check(world, NOW + timedelta(minutes=1), complete=True).ok


def _drop_a_part(status, headers, body, n):  # type: ignore[no-untyped-def]
    boundary = headers.get("Content-Type", "").split("boundary=")[-1].strip('"')
    parts = body.split(f"--{boundary}".encode())
    return status, headers, f"--{boundary}".encode().join(parts[:1] + parts[2:])


@pytest.mark.parametrize("spoil", [_html, _truncated, _drop_a_part],
                         ids=["html", "truncated", "a-part-missing"])
def test_a_spoiled_batch_reply_costs_a_retry_on_the_next_run_not_a_duplicate(
    world: World, hostile: Hostile, spoil
) -> None:
    world.sync(T0)
    connected = world.open_leads(6)
    world.connect(world.sequence(), connected)
    # CreateMultiple refuses (so rows go one by one in $batch), and that reply is spoiled.
    hostile.on("POST", r"/emails/Microsoft\.Dynamics\.CRM\.CreateMultiple$",
               lambda s, h, b, n: (400, {"Content-Type": "application/json"}, json.dumps(
                   {"error": {"code": "0x80040216", "message": "nope"}}).encode()))
    hostile.on("POST", r"/\$batch$", lambda s, h, b, n: spoil(s, h, b, n) if n == 0
               else (s, h, b))
    result = world.cli("sync", now=NOW)
    assert "Traceback" not in result.output and "unexpected" not in result.output
    # The spoiled chunk is set aside for the next run; the run itself finishes, partially.
    assert result.exit_code == 1, result.output
    assert check(world, NOW, complete=False).ok
    hostile.rsps.reset()
    hostile.rsps.add_passthru(world.crm.url)
    later = NOW + timedelta(minutes=1)
    assert world.sync(later).outcome == "ok"
    assert len(world.crm.rows("emails")) == len(connected)
    assert check(world, later, complete=True).ok
