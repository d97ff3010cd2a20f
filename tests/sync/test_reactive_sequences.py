"""Sequences that react, end to end: the seqsync CLI against the mock Dataverse, with the
sellers' and buyers' actions made through the Web API (a DataverseClient of their own).

Each exit criterion, each condition kind and each command step; templates filled by the CRM;
bad sequence files refused with one line naming the file and the step.
"""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from support.world import T0, World

from connector.dataverse.client import DataverseClient
from connector.store.schema import connection_history, connections, outbox, sequences

H = timedelta(hours=1)


@pytest.fixture
def crm_user(env: World) -> DataverseClient:
    """The sellers' and buyers' side: their own client, talking to the CRM's Web API."""
    client = DataverseClient(env.settings.crm)
    yield client
    client.close()


def apply(env: World, name: str, text: str, *extra: str) -> Any:
    path = env.folder / f"{name}.toml"
    path.write_text(text, encoding="utf-8")
    return env.cli("--json", "sequence", "apply", str(path), "--activate", *extra, now=T0)


def connect(env: World, sequence: str, *leads: str) -> None:
    result = env.cli("connect", sequence, *leads, now=T0)
    assert result.exit_code == 0, result.output


def sync(env: World, at) -> dict[str, Any]:
    result = env.cli("--json", "sync", now=at)
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.output.strip().splitlines()[-1])


def ended(env: World, lead: str) -> list[Any]:
    return [h for h in env.history(lead) if h.event == "ended"]


def crm_activities(env: World, entity_set: str, lead: str) -> list[dict[str, Any]]:
    return [r for r in env.crm.rows(entity_set) if r.get("_regardingobjectid_value") == lead]


def new_id() -> str:
    return str(uuid.uuid4())


EMAIL_WAIT_CALL = """\
name = "Outreach"
entity = "lead"
{exit_on}
[[steps]]
type = "email"
name = "Introduction"
{template}
[[steps]]
type = "wait"
days = 2
[[steps]]
type = "phonecall"
name = "Follow-up call"
"""


def outreach(exit_on: str = "", template: str = "") -> str:
    return EMAIL_WAIT_CALL.format(exit_on=exit_on, template=template)


# Templates -----------------------------------------------------------------------------------


def test_an_email_step_with_a_template_gets_the_crm_filled_subject_and_body(
    env: World, crm_user: DataverseClient
) -> None:
    env.sync(T0)
    lead = env.open_leads(1)[0]
    name = env.crm.get("leads", lead)["fullname"]
    crm_user.upsert_create("templates", new_id(), {
        "title": "Intro for new leads", "templatetypecode": "lead", "languagecode": 1033,
        "subject": "Hello {!lead:fullname;there}", "body": "<p>Dear {!lead:fullname;}</p>",
    })
    result = apply(env, "outreach", outreach(template='template = "Intro for new leads"'))
    assert result.exit_code == 0, result.output
    connect(env, "Outreach", lead)
    sync(env, T0 + H)
    (email,) = crm_activities(env, "emails", lead)
    assert email["subject"] == f"Hello {name}"
    assert email["description"] == f"<p>Dear {name}</p>"


def test_a_missing_template_is_refused_at_apply_naming_file_and_step(env: World) -> None:
    env.sync(T0)
    result = apply(env, "outreach", outreach(template='template = "No such template"'))
    assert result.exit_code == 2
    path = env.folder / "outreach.toml"
    assert result.output.strip().splitlines()[-1] == (
        f"seqsync: error: {path}: step 1 (email 'Introduction'): template 'No such template' "
        "does not exist in the CRM"
    )
    assert env.db(sequences) == []


def test_offline_a_missing_template_is_found_by_the_next_sync_never_sent_empty(
    env: World,
) -> None:
    env.sync(T0)
    lead = env.open_leads(1)[0]
    env.write_config(crm={"url": "https://127.0.0.1:9"})  # the CRM is out of reach
    path = env.folder / "outreach.toml"
    path.write_text(outreach(template='template = "Gone"'), encoding="utf-8")
    result = env.cli("sequence", "apply", str(path), "--activate", now=T0)
    assert result.exit_code == 0, result.output
    assert "templates not checked now" in result.output
    env.write_config()
    connect(env, "Outreach", lead)
    summary = sync(env, T0 + H)
    assert any("template 'Gone' does not exist" in e["message"]
               for e in summary["error_details"])
    assert crm_activities(env, "emails", lead) == []  # never an empty email
    (end,) = ended(env, lead)
    assert end.reason == "error" and "template 'Gone'" in end.message
    status = env.cli("--json", "status")
    assert any("step 1 (email 'Introduction'): template 'Gone'" in p
               for p in json.loads(status.output)["template_problems"])


# Exit criteria --------------------------------------------------------------------------------


def _started(env: World, text: str | None = None) -> tuple[str, dict[str, Any]]:
    env.sync(T0)
    lead = env.open_leads(1)[0]
    assert apply(env, "outreach", text or outreach()).exit_code == 0
    connect(env, "Outreach", lead)
    sync(env, T0 + H)
    (email,) = crm_activities(env, "emails", lead)
    return lead, email


def test_a_reply_regarding_the_record_ends_it_and_cancels_the_open_email(
    env: World, crm_user: DataverseClient
) -> None:
    lead, email = _started(env)
    crm_user.upsert_create("emails", new_id(), {
        "subject": "Re: Introduction", "directioncode": False,
        "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
    })
    summary = sync(env, T0 + 2 * H)
    assert summary["records_disconnected"] == {"replied": 1}
    (end,) = ended(env, lead)
    assert end.reason == "replied"
    assert env.crm.get("emails", email["activityid"])["statecode"] == 2  # cancelled in the CRM
    sync(env, T0 + timedelta(days=3))
    assert crm_activities(env, "phonecalls", lead) == []  # no follow-up for a buyer who answered


def test_a_reply_from_the_records_address_counts_too(
    env: World, crm_user: DataverseClient
) -> None:
    lead, _ = _started(env)
    address = env.crm.get("leads", lead)["emailaddress1"]
    assert address
    crm_user.upsert_create("emails", new_id(), {
        "subject": "Interested", "directioncode": False, "sender": str(address).upper(),
    })
    sync(env, T0 + 2 * H)
    assert [e.reason for e in ended(env, lead)] == ["replied"]


def test_a_meeting_booked_ends_it(env: World, crm_user: DataverseClient) -> None:
    lead, _ = _started(env)
    crm_user.upsert_create("appointments", new_id(), {
        "subject": "Demo", "scheduledstart": "2026-03-05T10:00:00Z",
        "scheduledend": "2026-03-05T11:00:00Z",
        "regardingobjectid_lead_appointment@odata.bind": f"/leads({lead})",
    })
    summary = sync(env, T0 + 2 * H)
    assert summary["records_disconnected"] == {"meeting_booked": 1}


def test_a_bounced_email_ends_it(env: World, crm_user: DataverseClient) -> None:
    lead, email = _started(env)
    crm_user.update("emails", email["activityid"], {"statecode": 0, "statuscode": 8})
    sync(env, T0 + 2 * H)
    assert [e.reason for e in ended(env, lead)] == ["bounced"]


def test_exit_criteria_are_per_sequence(env: World, crm_user: DataverseClient) -> None:
    lead, email = _started(env, outreach(exit_on='exit_on = ["meeting"]'))
    crm_user.upsert_create("emails", new_id(), {
        "subject": "Re", "directioncode": False,
        "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
    })
    sync(env, T0 + 2 * H)
    assert ended(env, lead) == []
    assert [h.event for h in env.history(lead)].count("replied") == 1
    assert env.crm.get("emails", email["activityid"])["statecode"] == 0  # still open


# Conditions and commands ----------------------------------------------------------------------


BRANCHING = """\
name = "Outreach"
entity = "lead"
exit_on = ["meeting", "bounce"]
[[steps]]
type = "email"
name = "Introduction"
[[steps]]
type = "wait"
days = 2
[[steps]]
type = "condition"
name = "Check"
if = {test}
[[steps.then]]
type = "phonecall"
name = "Follow-up call"
[[steps.then]]
type = "update_record"
name = "Mark hot"
set = {{ leadqualitycode = 1 }}
[[steps.else]]
type = "task"
name = "Research the account"
"""


def _branch_taken(env: World, test: str, seller_does) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    lead, email = _started(env, BRANCHING.format(test=test))
    seller_does(lead, email)
    sync(env, T0 + 3 * H)
    sync(env, T0 + timedelta(days=3))
    took = [h.message for h in env.history(lead) if h.event == "branch"]
    return lead, took[0]


@pytest.mark.parametrize("cancel,branch", [(False, "then"), (True, "else")])
def test_condition_on_the_previous_activity(env: World, cancel: bool, branch: str) -> None:
    lead, took = _branch_taken(
        env, '{ previous = "completed" }',
        lambda lead, email: env.complete("emails", email["activityid"], T0 + 2 * H, cancel),
    )
    assert took == branch
    kind = "phonecalls" if branch == "then" else "tasks"
    assert len(crm_activities(env, kind, lead)) == 1


def test_condition_on_a_reply_within_days(env: World, crm_user: DataverseClient) -> None:
    def buyer_replies(lead: str, email: dict[str, Any]) -> None:
        crm_user.upsert_create("emails", new_id(), {
            "subject": "Re", "directioncode": False,
            "regardingobjectid_lead_email@odata.bind": f"/leads({lead})",
        })
        env.complete("emails", email["activityid"], T0 + 2 * H)

    _, took = _branch_taken(env, "{ replied_within_days = 3 }", buyer_replies)
    assert took == "then"


def test_condition_on_a_column_and_update_record(env: World, crm_user: DataverseClient) -> None:
    def seller_sets_warm(lead: str, email: dict[str, Any]) -> None:
        crm_user.update("leads", lead, {"leadqualitycode": 2})
        env.complete("emails", email["activityid"], T0 + 2 * H)

    env.sync(T0)
    lead, took = _branch_taken(
        env, '{ column = "leadqualitycode", op = "in", value = [2, 3] }', seller_sets_warm)
    assert took == "then"
    (call,) = crm_activities(env, "phonecalls", lead)
    env.complete("phonecalls", call["activityid"], T0 + timedelta(days=3, hours=1))
    summary = sync(env, T0 + timedelta(days=3, hours=2))
    assert summary["records_updated"] == 1
    assert env.crm.get("leads", lead)["leadqualitycode"] == 1  # set through the mapping
    assert [e.reason for e in ended(env, lead)] == ["completed"]


def test_move_to_sequence_ends_with_moved_and_connects_in_one_step(env: World) -> None:
    nurture = outreach().replace('"Outreach"', '"Nurture"').replace("Introduction", "Nurture me")
    assert apply(env, "nurture", nurture).exit_code == 0
    moving = outreach().replace(
        'type = "phonecall"\nname = "Follow-up call"',
        'type = "move_to_sequence"\nsequence = "Nurture"')
    lead, email = _started(env, moving)
    env.complete("emails", email["activityid"], T0 + 2 * H)
    sync(env, T0 + 3 * H)
    sync(env, T0 + timedelta(days=3))
    assert [e.reason for e in ended(env, lead)] == ["moved"]
    (current,) = [c for c in env.db(connections) if c.record_id == lead]
    names = {s.id: s.name for s in env.db(sequences)}
    assert names[current.sequence_id] == "Nurture"
    subjects = sorted(e["subject"] for e in crm_activities(env, "emails", lead))
    assert subjects == ["Introduction", "Nurture me"]
    shown = json.loads(env.cli("--json", "records", "show", lead).output)
    first = shown["connections"][0]
    assert first["ended"] == "moved" and first["activity_ids"] == [email["activityid"]]
    assert [p.get("event") for p in first["path"]][:2] == ["planned", "completed"]


def test_sequence_show_counts_records_per_step_and_branch(env: World) -> None:
    _, took = _branch_taken(
        env, '{ previous = "completed" }',
        lambda lead, email: env.complete("emails", email["activityid"], T0 + 2 * H),
    )
    assert took == "then"
    shown = json.loads(env.cli("--json", "sequence", "show", "Outreach").output)
    condition = shown["steps"][2]
    assert condition["took"] == {"then": 1, "else": 0}
    assert condition["then"][0]["on_step"] == 1
    assert shown["steps"][0]["on_step"] == 0
    text = env.cli("sequence", "show", "Outreach").output
    assert "then 1 / else 0" in text and "  then:" in text


# Bad files -------------------------------------------------------------------------------------


BAD = {
    "branch without an activity": ("""\
name = "Bad"
entity = "lead"
[[steps]]
type = "condition"
name = "Check"
if = { column = "leadqualitycode", value = 1 }
[[steps.then]]
type = "task"
name = "Call"
[[steps.else]]
type = "update_record"
set = { leadqualitycode = 3 }
""", "[[steps]]: step 1 (condition 'Check'): its else branch leads to a path without an "
     "email, phonecall or task step"),
    "unknown column": ("""\
name = "Bad"
entity = "lead"
[[steps]]
type = "email"
name = "Hi"
[[steps]]
type = "condition"
name = "Rich?"
if = { column = "budget", op = "gt", value = 1000 }
[[steps.then]]
type = "task"
name = "Call"
""", "sequence 'Bad': step 2 (condition 'Rich?'): unknown column 'budget' for lead"),
    "move to another table's sequence": ("""\
name = "Bad"
entity = "lead"
[[steps]]
type = "email"
name = "Hi"
[[steps]]
type = "move_to_sequence"
sequence = "Deals"
""", "sequence 'Bad': step 2 (move_to_sequence): sequence 'Deals' is for opportunity records, "
     "not lead"),
    "move to a sequence that does not exist": ("""\
name = "Bad"
entity = "lead"
[[steps]]
type = "email"
name = "Hi"
[[steps]]
type = "move_to_sequence"
sequence = "Nowhere"
""", "cannot activate 'Bad': step 2 (move_to_sequence): no sequence named 'Nowhere'"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_sequence_files_get_one_line_naming_file_and_step(env: World, case: str) -> None:
    deals = outreach().replace('"Outreach"', '"Deals"').replace('"lead"', '"opportunity"')
    assert apply(env, "deals", deals).exit_code == 0
    before = env.db(sequences)
    text, message = BAD[case]
    path = env.folder / "bad.toml"
    path.write_text(text, encoding="utf-8")
    result = env.cli("sequence", "apply", str(path), "--activate", now=T0)
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"seqsync: error: {path}: "), lines
    assert message in lines[0]
    assert env.db(sequences) == before and env.db(outbox) == []
    assert env.db(connection_history) == []


def test_add_step_into_a_branch_and_the_tree_shows(env: World, tmp_path: Path) -> None:
    for args in (
        ("sequence", "create", "Tree", "--entity", "lead"),
        ("sequence", "add-step", "Tree", "email", "--name", "Hi"),
        ("sequence", "add-step", "Tree", "condition", "--name", "Done?", "--previous",
         "completed"),
        ("sequence", "add-step", "Tree", "phonecall", "--name", "Ring", "--branch", "2.then"),
        ("sequence", "add-step", "Tree", "update_record", "--set", "leadqualitycode=3",
         "--branch", "2.else"),
        ("sequence", "add-step", "Tree", "task", "--name", "Think", "--branch", "2.else",
         "--position", "1"),
        ("sequence", "activate", "Tree"),
    ):
        result = env.cli(*args, now=T0)
        assert result.exit_code == 0, (args, result.output)
    shown = json.loads(env.cli("--json", "sequence", "show", "Tree").output)
    branch = shown["steps"][1]
    assert [s["name"] for s in branch["then"]] == ["Ring"]
    assert [s["type"] for s in branch["else"]] == ["task", "update_record"]
    assert branch["else"][1]["position"] == "2.else.2"
    bad = env.cli("sequence", "add-step", "Tree", "task", "--name", "x", "--branch", "1.then")
    assert bad.exit_code != 0
