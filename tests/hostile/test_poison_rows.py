"""Issue 16, defect 2: one CRM row that cannot be stored or mapped poisoned every run.

A lead whose name holds a lone UTF-16 surrogate (a cut-off emoji, which the Web API accepts)
made every sync exit 1 with `unexpected UnicodeEncodeError`; a lead whose `emailaddress1`
holds a number failed every run with "expected a string". Meanwhile nothing else advanced.
"""

from __future__ import annotations

import json
from datetime import timedelta

from support.world import EMAIL_THEN_CALL, T0, World

from connector.store.schema import connections, records

NOW = T0 + timedelta(minutes=1)


def test_a_poisoned_row_is_quarantined_and_the_rest_of_the_run_goes_on(world: World) -> None:
    assert world.sync(T0).outcome == "ok"
    leads = world.open_leads(6)
    world.connect(world.sequence(text=EMAIL_THEN_CALL), leads[:4])
    cut_emoji, numeric_mail, closed = leads[4], leads[5], leads[0]
    world.crm.update("leads", cut_emoji, {"fullname": "Ada \ud83d"})
    world.crm.update("leads", numeric_mail, {"emailaddress1": 12345})
    world.crm.update("leads", closed, {"statecode": 2, "statuscode": 4})

    report = world.sync(NOW)

    # The run went on: the closed lead left its sequence, due steps were planned and sent.
    assert report.disconnected == {"record_closed": 1}
    assert len(world.crm.rows("emails")) == 3
    assert [e["kind"] for e in report.errors] == ["quarantine"]
    assert report.errors[0]["record_id"] == numeric_mail
    assert "emailaddress1" in report.errors[0]["message"]
    # What can be stored is stored: the lone surrogate became U+FFFD.
    local = {r.id: r for r in world.db(records)}
    assert local[cut_emoji].name == "Ada \ufffd"
    # The quarantined row is visible in `status` and `records show`.
    status = json.loads(world.cli("--json", "status").stdout)
    assert [(q["table"], q["record_id"]) for q in status["quarantined"]] == [
        ("lead", numeric_mail)
    ]
    shown = world.cli("--json", "records", "show", numeric_mail)
    assert shown.exit_code == 0, shown.output
    assert "emailaddress1" in json.loads(shown.stdout)["quarantined"]["error"]
    # The next run is clean: nothing is stuck behind the row.
    assert world.sync(NOW + timedelta(minutes=1)).outcome == "ok"
    # Fixed in the CRM, the row is read again and leaves quarantine.
    world.crm.update("leads", numeric_mail, {"emailaddress1": "ada@example.com"})
    assert world.sync(NOW + timedelta(minutes=2)).outcome == "ok"
    assert json.loads(world.cli("--json", "status").stdout)["quarantined"] == []
    assert {r.id: r for r in world.db(records)}[numeric_mail].email == "ada@example.com"
    assert len(world.db(connections)) == 3


def test_sync_full_retries_a_quarantined_row(world: World) -> None:
    assert world.sync(T0).outcome == "ok"
    lead = world.open_leads(1)[0]
    world.crm.update("leads", lead, {"emailaddress1": 7})
    assert world.sync(NOW).outcome == "partial"
    assert world.sync(NOW + timedelta(minutes=1)).outcome == "ok"  # not read again
    result = world.cli("--json", "sync", "--full", now=NOW + timedelta(minutes=2))
    assert result.exit_code == 1, result.output  # read again, still refused
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["errors"] == 1
