"""Activity payloads for every step type and target table, parties, outcomes and cancelling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mapping_samples import ACTIVITY_ID, CONTACT_ID, LEAD_ID, OPP_ID, OWNER_ID, Item, payload

from connector.engine.models import ActivityOutcome, Record, StepType
from connector.mapping import MappingError, RowError, load_mappings

Edit = Callable[[str, str, str], Path]

LEAD = Record(id=LEAD_ID, table="lead", name="Ada", owner_id=OWNER_ID)
OPPORTUNITY = Record(
    id=OPP_ID, table="opportunity", name="Upgrade", owner_id=OWNER_ID,
    columns={"_parentcontactid_value": CONTACT_ID, "estimatedvalue": 1.0},
)
SETS = {"lead": "leads", "opportunity": "opportunities"}
SENDER = {"partyid_systemuser@odata.bind": f"/systemusers({OWNER_ID})", "participationtypemask": 1}
TO = {
    "lead": {"partyid_lead@odata.bind": f"/leads({LEAD_ID})", "participationtypemask": 2},
    "opportunity": {
        "partyid_contact@odata.bind": f"/contacts({CONTACT_ID})", "participationtypemask": 2,
    },
}
PARTIES = {"email": "email_activity_parties", "phonecall": "phonecall_activity_parties"}


@pytest.mark.parametrize("step", [StepType.EMAIL, StepType.PHONECALL, StepType.TASK])
@pytest.mark.parametrize("record", [LEAD, OPPORTUNITY], ids=["lead", "opportunity"])
def test_payload_for_each_activity_and_target(step: StepType, record: Record) -> None:
    activity = load_mappings().activity(step)
    item = Item(record_id=record.id, record_table=record.table)
    expected = {
        "@odata.type": f"Microsoft.Dynamics.CRM.{step}",
        "activityid": ACTIVITY_ID,
        "subject": "Intro call",
        "description": "Say hello",
        "scheduledend": "2025-03-01T09:30:15Z",
        f"regardingobjectid_{record.table}_{step}@odata.bind":
            f"/{SETS[record.table]}({record.id})",
        "ownerid@odata.bind": f"/systemusers({OWNER_ID})",
    }
    if step in PARTIES:
        expected[PARTIES[step]] = [SENDER, TO[record.table]]
    assert payload(activity, item, record) == expected


def test_owner_comes_from_the_record_when_the_item_has_none() -> None:
    body = payload(load_mappings().activity("email"), Item(owner_id=None), LEAD)
    assert body["ownerid@odata.bind"] == f"/systemusers({OWNER_ID})"
    assert body["email_activity_parties"][0] == SENDER


def test_no_owner_leaves_owner_and_sender_out() -> None:
    unowned = replace(LEAD, owner_id=None)
    body = payload(load_mappings().activity("phonecall"), Item(owner_id=None), unowned)
    assert "ownerid@odata.bind" not in body
    assert body["phonecall_activity_parties"] == [TO["lead"]]


def test_opportunity_without_contact_has_no_to_party() -> None:
    no_contact = replace(OPPORTUNITY, columns={"_parentcontactid_value": None})
    item = Item(record_id=OPP_ID, record_table="opportunity")
    body = payload(load_mappings().activity("email"), item, no_contact)
    assert body["email_activity_parties"] == [SENDER]


def test_no_owner_and_no_recipient_means_no_parties_at_all() -> None:
    item = Item(record_id=OPP_ID, record_table="opportunity", owner_id=None)
    body = payload(load_mappings().activity("email"), item, None)
    assert "email_activity_parties" not in body
    assert "ownerid@odata.bind" not in body
    assert body["regardingobjectid_opportunity_email@odata.bind"] == f"/opportunities({OPP_ID})"


def test_task_never_has_parties() -> None:
    body = payload(load_mappings().activity("task"), Item(), LEAD)
    assert not any("parties" in key for key in body)


def test_long_subject_is_cut_to_the_column_length() -> None:
    email = load_mappings().activity("email")
    subject = payload(email, Item(subject="x" * 500), LEAD)["subject"]
    assert len(subject) == 200 and subject.endswith("…")
    assert payload(email, Item(subject="y" * 200), LEAD)["subject"] == "y" * 200


def test_due_time_is_utc_with_z_and_empty_description() -> None:
    naive = datetime(2025, 3, 1, 9, 30)  # the store hands back UTC; naive means UTC
    body = payload(load_mappings().activity("task"), Item(due_at=naive, description=None), LEAD)
    assert body["scheduledend"] == "2025-03-01T09:30:00Z"
    assert body["description"] == ""


def test_constants_are_written_on_every_activity(mapping_dir: Path, edit: Edit) -> None:
    edit("task.toml", "[payload.constants]\n", '[payload.constants]\nprioritycode = 2\n')
    task = load_mappings(mapping_dir).activity("task")
    assert payload(task, Item(), LEAD)["prioritycode"] == 2


def test_record_table_without_regarding_binding() -> None:
    email = load_mappings(tables=["lead"]).activity("email")
    with pytest.raises(MappingError, match=r"email.toml: \[regarding\] opportunity: no binding"):
        payload(email, Item(record_table="opportunity"), None)


@pytest.mark.parametrize(
    ("step", "row", "outcome"),
    [
        ("task", {"statecode": 0, "statuscode": 3}, None),
        ("task", {"statecode": 1, "statuscode": 5}, ActivityOutcome.COMPLETED),
        ("task", {"statecode": 2, "statuscode": 6}, ActivityOutcome.CANCELED),
        ("email", {"statecode": 1, "statuscode": 3}, ActivityOutcome.COMPLETED),
        ("phonecall", {"statecode": 2, "statuscode": 3}, ActivityOutcome.CANCELED),
    ],
)
def test_outcome(step: str, row: dict[str, object], outcome: ActivityOutcome | None) -> None:
    assert load_mappings().activity(step).outcome({"activityid": ACTIVITY_ID, **row}) == outcome


@pytest.mark.parametrize("state", [None, 5, "1", True])
def test_outcome_of_a_bad_row(state: object) -> None:
    with pytest.raises(RowError, match=f"task {ACTIVITY_ID}: column statecode: unexpected"):
        load_mappings().activity("task").outcome({"activityid": ACTIVITY_ID, "statecode": state})


def test_closed_at_reads_actualend() -> None:
    task = load_mappings().activity("task")
    row = {"activityid": ACTIVITY_ID, "statecode": 1, "actualend": "2025-03-02T10:00:00Z"}
    assert task.closed_at(row) == datetime(2025, 3, 2, 10, tzinfo=UTC)
    assert task.closed_at({"activityid": ACTIVITY_ID, "statecode": 0, "actualend": None}) is None
    with pytest.raises(RowError, match="column actualend"):
        task.closed_at({**row, "actualend": 17})
