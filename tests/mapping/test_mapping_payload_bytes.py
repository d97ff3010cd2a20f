"""Payloads are the same bytes on the wire as before push got its precomputed plans.

The expected bodies below were recorded from the implementation that read every name off the
pydantic model per row; JSON is compared as text (what the client sends: `json.dumps` with
`ensure_ascii=False`), so key order counts as well as values.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from mapping_samples import ACTIVITY_ID, CONTACT_ID, LEAD_ID, OPP_ID, OWNER_ID, Item, payload

from connector.engine.models import Record, StepType
from connector.mapping import load_mappings
from connector.mapping.values import iso_utc
from connector.store.db import open_store
from connector.store.outbox import pending_chunks
from connector.store.schema import outbox, records
from connector.sync.payloads import build_payloads

Edit = Callable[[str, str, str], Path]

LEAD = Record(id=LEAD_ID, table="lead", name="Ada", owner_id=OWNER_ID)
OPPORTUNITY = Record(
    id=OPP_ID, table="opportunity", name="Upgrade", owner_id=OWNER_ID,
    columns={"_parentcontactid_value": CONTACT_ID, "estimatedvalue": 1.0},
)


def wire(body: dict[str, Any]) -> str:
    return json.dumps(body, ensure_ascii=False)


def test_email_for_a_lead_is_byte_for_byte_the_recorded_body() -> None:
    body = payload(load_mappings().activity("email"), Item(), LEAD)
    assert wire(body) == wire({
        "@odata.type": "Microsoft.Dynamics.CRM.email",
        "activityid": ACTIVITY_ID,
        "subject": "Intro call",
        "description": "Say hello",
        "scheduledend": "2025-03-01T09:30:15Z",
        "regardingobjectid_lead_email@odata.bind": f"/leads({LEAD_ID})",
        "ownerid@odata.bind": f"/systemusers({OWNER_ID})",
        "email_activity_parties": [
            {"partyid_systemuser@odata.bind": f"/systemusers({OWNER_ID})",
             "participationtypemask": 1},
            {"partyid_lead@odata.bind": f"/leads({LEAD_ID})", "participationtypemask": 2},
        ],
    })


def test_phonecall_for_an_opportunity_cut_subject_and_other_zone() -> None:
    item = Item(
        record_id=OPP_ID, record_table="opportunity", owner_id=None, subject="é" * 300,
        due_at=datetime(2025, 3, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=-5))),
    )
    body = payload(load_mappings().activity("phonecall"), item, OPPORTUNITY)
    assert wire(body) == wire({
        "@odata.type": "Microsoft.Dynamics.CRM.phonecall",
        "activityid": ACTIVITY_ID,
        "subject": "é" * 199 + "…",
        "description": "Say hello",
        "scheduledend": "2025-03-02T04:59:59Z",
        "regardingobjectid_opportunity_phonecall@odata.bind": f"/opportunities({OPP_ID})",
        "ownerid@odata.bind": f"/systemusers({OWNER_ID})",
        "phonecall_activity_parties": [
            {"partyid_systemuser@odata.bind": f"/systemusers({OWNER_ID})",
             "participationtypemask": 1},
            {"partyid_contact@odata.bind": f"/contacts({CONTACT_ID})",
             "participationtypemask": 2},
        ],
    })


def test_email_without_record_owner_or_description() -> None:
    item = Item(record_id=OPP_ID, record_table="opportunity", owner_id=None, description=None,
                due_at=datetime(2025, 3, 1, 9, 30))
    body = payload(load_mappings().activity("email"), item, None)
    assert wire(body) == wire({
        "@odata.type": "Microsoft.Dynamics.CRM.email",
        "activityid": ACTIVITY_ID,
        "subject": "Intro call",
        "description": "",
        "scheduledend": "2025-03-01T09:30:00Z",
        "regardingobjectid_opportunity_email@odata.bind": f"/opportunities({OPP_ID})",
    })


def test_task_constants_sit_between_regarding_and_owner(mapping_dir: Path, edit: Edit) -> None:
    edit("task.toml", "[payload.constants]\n",
         '[payload.constants]\nprioritycode = 2\nnew_source = "seqsync"\n')
    body = payload(load_mappings(mapping_dir).activity("task"), Item(), LEAD)
    assert wire(body) == wire({
        "@odata.type": "Microsoft.Dynamics.CRM.task",
        "activityid": ACTIVITY_ID,
        "subject": "Intro call",
        "description": "Say hello",
        "scheduledend": "2025-03-01T09:30:15Z",
        "regardingobjectid_lead_task@odata.bind": f"/leads({LEAD_ID})",
        "prioritycode": 2,
        "new_source": "seqsync",
        "ownerid@odata.bind": f"/systemusers({OWNER_ID})",
    })


def _old_iso_utc(moment: datetime) -> str:
    """The formatting iso_utc always had; the quick path must agree with it."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


ZONES = st.sampled_from([None, UTC, timezone(timedelta(hours=2)), timezone(-timedelta(hours=9))])


@given(st.datetimes(min_value=datetime(2, 1, 2), max_value=datetime(9998, 12, 30)), ZONES)
def test_iso_utc_agrees_with_astimezone_and_strftime(moment: datetime, zone: Any) -> None:
    moment = moment.replace(tzinfo=zone)
    assert iso_utc(moment) == _old_iso_utc(moment)


def test_iso_utc_of_early_years_keeps_strftime_form() -> None:
    early = datetime(999, 1, 1, tzinfo=UTC)
    assert iso_utc(early) == _old_iso_utc(early)


# Push builds bodies from its query rows without a Record per row: same bytes as `payload`.

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
NO_CONTACT_OPP = "7a1d2c3b-0000-4000-8000-0000000000b2"
GONE_LEAD = "5f0c1b2a-0000-4000-8000-0000000000c3"


def _record_row(record: Record) -> dict[str, Any]:
    return {"id": record.id, "table": record.table, "name": record.name,
            "owner_id": record.owner_id, "statecode": 0, "columns": dict(record.columns)}


def _outbox_row(n: int, step: StepType, record_id: str, table: str, owner: str | None,
                ) -> dict[str, Any]:
    return {
        "activity_id": f"8f4c0000-0000-4000-8000-{n:012d}", "connection_id": record_id,
        "record_id": record_id, "record_table": table, "step_id": "s1",
        "activity_type": step.value, "subject": f"Step {n} " + "x" * (n * 50),
        "description": "" if n % 2 else "Hi", "owner_id": owner,
        "due_at": NOW + timedelta(days=n, microseconds=n), "status": "pending",
        "created_on": NOW,
    }


@pytest.mark.parametrize("step", [StepType.EMAIL, StepType.PHONECALL, StepType.TASK])
def test_push_bodies_match_payload_for_stored_rows(tmp_path: Path, step: StepType) -> None:
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    no_contact = replace(OPPORTUNITY, id=NO_CONTACT_OPP, owner_id=None,
                         columns={"_parentcontactid_value": None})
    stored = [LEAD, OPPORTUNITY, no_contact]
    items = [
        _outbox_row(1, step, LEAD_ID, "lead", None),  # owner from the record
        _outbox_row(2, step, OPP_ID, "opportunity", OWNER_ID),  # To party from a column
        _outbox_row(3, step, NO_CONTACT_OPP, "opportunity", None),  # no owner, no contact
        _outbox_row(4, step, GONE_LEAD, "lead", OWNER_ID),  # record no longer stored
    ]
    with store.engine.begin() as conn:
        conn.execute(records.insert(), [_record_row(r) for r in stored])
        conn.execute(outbox.insert(), items)
    mapping = load_mappings().activity(step)
    chunks = list(pending_chunks(store, step, 3))
    assert [len(c) for c in chunks] == [3, 1]
    sent = [p for chunk in chunks for p in build_payloads(mapping, chunk)]
    by_id = {r.id: r for r in stored}
    expected = [
        (i["activity_id"], i["record_id"], payload(
            mapping,             SimpleNamespace(**i), by_id.get(i["record_id"])))  # type: ignore[arg-type]
        for i in items
    ]
    assert [(a, r, wire(b)) for a, r, b in sent] == [(a, r, wire(b)) for a, r, b in expected]
    store.close()
