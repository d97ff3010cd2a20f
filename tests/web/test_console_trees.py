"""The console over step trees (issue 12) and team features (issue 14): the designer edits
condition branches and command steps through the engine's add/edit/drop_step, the record page
shows each connection's path, the list filters by tag and owner, outcomes count branches."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from console_helpers import LEADS, field, notices, post

from connector.app import App
from connector.engine.models import (
    ActivityOutcome,
    ActivityResult,
    Branch,
    ConditionKind,
    ConnectRequest,
    ExitCriterion,
    Op,
    Signal,
    StepType,
)
from connector.pipeline.context import Message
from connector.store import sequences as seq_store
from connector.sync.plan import plan_due_batches


def _seq(state: App, page: str):  # type: ignore[no-untyped-def]
    with state.store.begin() as db:
        return seq_store.load_sequence(db, page.rsplit("/", 1)[1])


def tree(client, name: str = "Tree") -> str:
    """Task, then a condition on it with a phone call (then) and a task (else)."""
    page = post(client, "/", "/sequences", name=name, entity="lead").url.path
    post(client, page, f"{page}/steps", type="task", name="Research")
    made = post(client, page, f"{page}/steps", type="condition", name="Handled?",
                **{"if": "previous"}, previous="completed")
    assert notices(made.text) == [f"added step 2 to {name!r}"]
    ring = post(client, page, f"{page}/steps", type="phonecall", name="Ring", branch="2.then")
    assert notices(ring.text) == [f"added step 2.then.1 to {name!r}"]
    post(client, page, f"{page}/steps", type="task", name="Think again", branch="2.else")
    return page


def test_the_designer_builds_and_draws_a_tree(browser, state: App) -> None:
    manager = browser("manager")
    page = tree(manager)
    seq = _seq(state, page)
    condition = seq.steps[1]
    assert condition.type is StepType.CONDITION
    assert (condition.condition.kind, condition.condition.previous) == (
        ConditionKind.PREVIOUS, "completed")
    assert [s.name for s in condition.branch(Branch.THEN)] == ["Ring"]
    assert [s.name for s in condition.branch(Branch.ELSE)] == ["Think again"]
    html = manager.get(page).text
    assert re.findall(r'data-step="([^"]+)"', html) == ["1", "2", "2.then.1", "2.else.1"]
    then = html.split('data-branch="2.then"')[1].split('data-branch="2.else"')[0]
    assert "Ring" in then and "Think again" not in then
    assert "if the previous activity was completed" in html
    # "add here" per branch, and the branch travels in the form
    assert 'name="branch" value="2.then"' in html and 'name="branch" value="2.else"' in html
    assert 'id="problem"' not in html  # every path has an activity
    activated = post(manager, page, f"{page}/activate")
    assert notices(activated.text) == ["sequence 'Tree' is active"]


def test_insert_edit_move_and_remove_inside_a_branch(browser, state: App) -> None:
    manager = browser("manager")
    page = tree(manager)
    first = post(manager, page, f"{page}/steps", type="email", name="Note", branch="2.else",
                 position="1")
    assert notices(first.text) == ["added step 2.else.1 to 'Tree'"]
    seq = _seq(state, page)
    note = seq.steps[1].otherwise[0]
    moved = post(manager, page, f"{page}/steps/{note.id}/move", direction="down")
    assert notices(moved.text) == ["moved step 2.else.1 of 'Tree' to 2.else.2"]
    edited = post(manager, page, f"{page}/steps/{note.id}/edit", name="Written note")
    assert notices(edited.text) == ["edited step 2.else.2 of 'Tree'"]
    assert [s.name for s in _seq(state, page).steps[1].otherwise] == ["Think again",
                                                                      "Written note"]
    condition = _seq(state, page).steps[1]
    changed = post(manager, page, f"{page}/steps/{condition.id}/edit", name="Rich?",
                   **{"if": "column"}, column="leadqualitycode", op="gt", value="2")
    assert notices(changed.text) == ["edited step 2 of 'Tree'"]
    test = _seq(state, page).steps[1].condition
    assert (test.kind, test.column, test.op, test.value) == (
        ConditionKind.COLUMN, "leadqualitycode", Op.GT, 2)
    assert "if leadqualitycode gt 2" in manager.get(page).text
    gone = post(manager, page, f"{page}/steps/{condition.id}/remove")
    assert notices(gone.text) == ["removed step 2 from 'Tree'"]
    assert [s.name for s in _seq(state, page).steps] == ["Research"]


def test_command_steps_and_exit_on(browser, state: App) -> None:
    manager = browser("manager")
    target = post(manager, "/", "/sequences", name="Nurture", entity="lead").url.path
    post(manager, target, f"{target}/steps", type="email", name="Keep in touch")
    page = tree(manager)
    added = post(manager, page, f"{page}/steps", type="update_record", name="Mark",
                 branch="2.else", set="leadqualitycode = 3\ncompanyname = warm <b>")
    assert notices(added.text) == ["added step 2.else.2 to 'Tree'"]
    post(manager, page, f"{page}/steps", type="move_to_sequence", sequence="Nurture",
         branch="2.else")
    els = _seq(state, page).steps[1].otherwise
    assert els[1].values == (("leadqualitycode", 3), ("companyname", "warm <b>"))
    assert els[2].sequence == "Nurture"
    html = manager.get(page).text
    assert "move to <strong>Nurture</strong>" in html
    assert "companyname = warm &lt;b&gt;" in html and "warm <b>" not in html
    bad = post(manager, page, f"{page}/steps", type="update_record", set="no equals sign")
    assert notices(bad.text) == ["update_record: 'no equals sign': expected column = value"]
    saved = post(manager, page, f"{page}/properties", name="Tree", entity="lead",
                 exit_on_shown="1", exit_on=["reply", "bounce"], tags="Outbound, q3")
    assert notices(saved.text) == ["saved the properties of 'Tree'"]
    seq = _seq(state, page)
    assert seq.exit_on == frozenset({ExitCriterion.REPLY, ExitCriterion.BOUNCE})
    assert seq.tags == ("Outbound", "q3")
    assert "exits on bounce, reply" in manager.get(page).text


def test_validation_messages_are_the_engines_own(browser) -> None:
    manager = browser("manager")
    page = post(manager, "/", "/sequences", name="Bad", entity="lead").url.path
    refused = post(manager, page, f"{page}/steps", type="condition", name="Replied?",
                   **{"if": "replied_within_days"}, within_days="0")
    assert notices(refused.text) == [
        "step 1 (condition 'Replied?'): replied_within_days must be 1-365 (got 0)"]
    op = post(manager, page, f"{page}/steps", type="condition", name="C", **{"if": "column"},
              column="x", op="in", value="3")
    assert notices(op.text) == ['step 1 (condition \'C\'): op "in" needs a non-empty list as '
                                '`value`']
    post(manager, page, f"{page}/steps", type="condition", name="Handled?",
         **{"if": "previous"}, previous="completed")
    html = manager.get(page).text
    [problem] = re.findall(r'id="problem">([^<]*)<', html)
    assert problem.startswith("Not ready to activate: ")
    refused = post(manager, page, f"{page}/activate")
    assert notices(refused.text)[0].startswith("cannot activate 'Bad'")


def test_a_viewer_sees_the_tree_without_edit_controls(browser) -> None:
    manager = browser("manager")
    page = tree(manager)
    viewer = browser("viewer")
    html = viewer.get(page).text
    assert re.findall(r'data-step="([^"]+)"', html) == ["1", "2", "2.then.1", "2.else.1"]
    assert re.findall(r'<form method="post" action="([^"]+)"', html) == ["/logout"]
    assert "add here" not in html and 'name="branch"' not in html
    forged = viewer.post(f"{page}/steps", data={"csrf": field(html, "csrf"), "type": "task",
                                               "name": "x", "branch": "2.then"})
    assert forged.status_code == 403


def _walk_a_lead_down_the_then_branch(state: App, page: str) -> None:
    seq_id = page.rsplit("/", 1)[1]
    now = datetime.now(UTC) + timedelta(minutes=1)
    state.execute(Message.CONNECT, ConnectRequest(seq_id, [LEADS[2].id, LEADS[0].id]))
    list(plan_due_batches(state, now))
    with state.store.begin() as db:
        from connector.store import outbox as outbox_store

        task = next(dict(a._mapping) for a in outbox_store.of_record(db, LEADS[2].id))
    state.execute(Message.ACTIVITY_COMPLETED,
                  [ActivityResult(task["activity_id"], ActivityOutcome.COMPLETED, now)], now=now)
    list(plan_due_batches(state, now + timedelta(minutes=1)))
    later = now + timedelta(minutes=2)
    state.execute(Message.SIGNAL_RECEIVED, [Signal(ExitCriterion.REPLY, LEADS[2].id, later)],
                  now=later)


def test_the_record_page_shows_path_ending_and_activity_ids(browser, state: App) -> None:
    manager = browser("manager")
    page = tree(manager)
    post(manager, page, f"{page}/activate")
    _walk_a_lead_down_the_then_branch(state, page)
    html = manager.get(f"/records/{LEADS[2].id}").text
    section = html.split('id="connections"')[1].split("</section>")[0]
    assert "took the then branch" in section and "Handled?" in section
    assert 'class="reason reason-replied">replied<' in section
    ids = re.findall(r"<code>([0-9a-f-]{36})</code>", section.split("CRM activity ids")[1])
    assert len(ids) == 2  # the task, and the phone call of the then branch
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


def test_outcomes_count_steps_branches_and_endings(browser, state: App) -> None:
    manager = browser("manager")
    page = tree(manager)
    post(manager, page, f"{page}/activate")
    _walk_a_lead_down_the_then_branch(state, page)
    html = manager.get("/outcomes").text
    card = html.split('data-sequence="Tree"')[1].split("</section>")[0]
    rows = dict(re.findall(r'<tr data-address="([^"]+)">(.*?)</tr>', card, re.S))
    assert set(rows) == {"1", "2", "2.then.1", "2.else.1"}
    cells = lambda addr: re.findall(r"<td[^>]*>([^<]*)</td>", rows[addr])  # noqa: E731
    assert cells("1")[1] == "1"  # the other lead is still on the task
    assert cells("2")[2:] == ["1", "0"]  # the then branch taken once
    assert "replied" in card.split("Endings by reason")[1]
    designer = manager.get(page).text
    assert "(1 taken)" in designer.split('data-branch="2.then"')[1]


def test_the_list_shows_and_filters_tags_and_owner(browser, state: App) -> None:
    manager = browser("manager")
    page = tree(manager)
    post(manager, page, f"{page}/properties", name="Tree", entity="lead", exit_on_shown="1",
         exit_on=["reply"], tags="outbound, <i>q3</i>")
    post(manager, "/", "/sequences", name="Other", entity="lead")
    html = manager.get("/").text
    row = html.split('data-sequence="Tree"')[1].split("</tr>")[0]
    assert "morgan@contoso.example" in row or "Morgan" in row
    assert "&lt;i&gt;q3&lt;/i&gt;" in row and "<i>q3" not in row
    tagged = manager.get("/?tag=OUTBOUND").text
    assert 'data-sequence="Tree"' in tagged and 'data-sequence="Other"' not in tagged
    owner = _seq(state, page).owner
    mine = manager.get("/", params={"owner": owner}).text
    assert 'data-sequence="Tree"' in mine and 'data-sequence="Other"' in mine
    handed = post(manager, page, f"{page}/properties", name="Tree", entity="lead",
                  exit_on_shown="1", exit_on=["reply"], tags="outbound", owner="Dana Director")
    assert notices(handed.text) == ["saved the properties of 'Tree'"]
    danas = manager.get("/?owner=dana director").text
    assert 'data-sequence="Tree"' in danas and 'data-sequence="Other"' not in danas
    nobody = manager.get("/?owner=someone-else").text
    assert 'data-sequence="Tree"' not in nobody
    assert unescape(field(tagged, "tag")) == "OUTBOUND"
