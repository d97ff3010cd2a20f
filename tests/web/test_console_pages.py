"""The web console through Starlette's TestClient: what a manager and a viewer can do, and
that every refusal uses the engine's own words."""

from __future__ import annotations

import re
import tomllib
from html import unescape

from console_helpers import CLOSED, LEADS, field, notices, post

from connector.app import App
from connector.engine.models import ConnectRequest
from connector.pipeline.context import Message
from connector.sequence_file import load_sequence_file


def build(client, name: str = "Cold") -> str:
    """Create a sequence and give it email, wait 2 days, phone call; returns its page path."""
    made = post(client, "/", "/sequences", name=name, entity="lead", description="first touch")
    page = made.url.path
    post(client, page, f"{page}/steps", type="email", name="Introduction", description="Hi")
    post(client, page, f"{page}/steps", type="phonecall", name="Follow-up call")
    added = post(client, page, f"{page}/steps", type="wait", days="2", hours="0", position="2")
    assert notices(added.text) == [f"added step 2 to {name!r}"]
    return page


def test_pages_need_sign_in_and_a_role(browser) -> None:
    anonymous = browser("")
    first = anonymous.get("/outcomes", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/login?next=%2Foutcomes"
    nobody = anonymous.get("/auth/callback?code=nobody&state=s1", follow_redirects=False)
    assert nobody.status_code == 400  # no sign-in was started in this browser
    anonymous.get("/login", follow_redirects=False)
    refused = anonymous.get("/auth/callback?code=nobody&state=s1")
    assert refused.status_code == 403
    assert "neither the Sequence.Manager nor the Sequence.Viewer" in refused.text
    assert anonymous.get("/", follow_redirects=False).status_code == 303


def active_with_two_leads(client, state: App) -> str:
    """The built sequence, activated, with two leads connected; returns its page path."""
    page = build(client)
    post(client, page, f"{page}/activate")
    state.execute(Message.CONNECT, ConnectRequest(page.rsplit("/", 1)[1],
                                                  [LEADS[0].id, LEADS[1].id]))
    return page


def test_a_forged_sign_in_reply_is_refused(browser) -> None:
    client = browser("")
    client.get("/login", follow_redirects=False)
    reply = client.get("/auth/callback?code=manager&state=forged")
    assert reply.status_code == 401 and "does not match" in reply.text


def test_session_cookie_and_security_headers(browser) -> None:
    client = browser("")
    start = client.get("/login", follow_redirects=False)
    cookie = start.headers["set-cookie"].lower()
    assert "httponly" in cookie and "secure" in cookie and "samesite=lax" in cookie
    client.get("/auth/callback?code=viewer&state=s1", follow_redirects=False)
    page = client.get("/")
    csp = page.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    # No inline script, style or event handler: the CSP would block them anyway.
    assert not re.search(r"<script(?![^>]*\bsrc=)", page.text)
    assert not re.search(r"<[^>]+\s(style|on[a-z]+)=", page.text)
    assert client.get("/static/console.js").headers["content-security-policy"] == csp


def test_a_manager_builds_activates_and_exports_a_sequence(browser, state: App) -> None:
    manager = browser("manager")
    page = build(manager)
    designer = manager.get(page).text
    assert [m for m in re.findall(r'class="step-title">([^<]*)<', designer)] == [
        "Introduction", "wait 2 days", "Follow-up call"]
    activated = post(manager, page, f"{page}/activate")
    assert notices(activated.text) == ["sequence 'Cold' is active"]
    listing = manager.get("/?q=col&status=active").text
    assert 'data-sequence="Cold"' in listing and "morgan@contoso.example" in listing
    assert 'data-sequence="Cold"' not in manager.get("/?status=inactive").text
    exported = manager.get(f"{page}/export.toml")
    assert exported.headers["content-disposition"] == 'attachment; filename="cold.toml"'
    data = tomllib.loads(exported.text)
    assert [s["type"] for s in data["steps"]] == ["email", "wait", "phonecall"]
    path = state.settings.state.url.removeprefix("sqlite:///").replace("state.db", "cold.toml")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(exported.text)
    from pathlib import Path

    again = load_sequence_file(Path(path))
    assert [s.id for s in again.steps] == [s["id"] for s in data["steps"]]


def test_designer_edits_reorders_and_removes_steps(browser) -> None:
    manager = browser("manager")
    page = build(manager)
    html = manager.get(page).text
    ids = re.findall(r'/steps/([0-9a-f-]{36})/edit', html)
    edited = post(manager, page, f"{page}/steps/{ids[0]}/edit", name="Hello there",
                  description="New words", template="tmpl-1")
    assert notices(edited.text) == ["edited step 1 of 'Cold'"]
    assert "template tmpl-1" in edited.text
    refused = post(manager, page, f"{page}/steps/{ids[1]}/move", direction="up")
    assert notices(refused.text) == [
        "sequence 'Cold': step 1 (wait): a sequence cannot start with a wait"]
    post(manager, page, f"{page}/steps", type="task", name="Decide")
    moved = post(manager, page, f"{page}/steps/{ids[2]}/move", direction="up")
    assert notices(moved.text) == ["moved step 3 of 'Cold' to 2"]
    assert re.findall(r'class="step-title">([^<]*)<', moved.text) == [
        "Hello there", "Follow-up call", "wait 2 days", "Decide"]
    removed = post(manager, page, f"{page}/steps/{ids[1]}/remove")
    assert notices(removed.text) == ["removed step 3 from 'Cold'"]
    assert len(re.findall(r'class="step-title"', removed.text)) == 3
    renamed = post(manager, page, f"{page}/properties", name="Warm", entity="lead",
                   description="now warmer")
    assert notices(renamed.text) == ["saved the properties of 'Warm'"]
    post(manager, page, f"{page}/activate")
    refused = post(manager, page, f"{page}/properties", name="Hot", entity="lead")
    assert notices(refused.text) == ["sequence 'Warm' is active: deactivate it first to edit it"]


def test_wait_limits_are_enforced_on_save(browser) -> None:
    manager = browser("manager")
    page = build(manager)
    for days, hours, said in [
        ("31", "0", "step 2 (wait): wait days must be 0-30 (got 31)"),
        ("0", "24", "step 2 (wait): wait hours must be 0-23 (got 24)"),
        ("0", "0", "step 2 (wait): a wait must be longer than 0 (set --days or --hours)"),
        ("30", "1", "step 2 (wait): a wait can be at most 30 days"),
        ("two", "0", "wait days must be a whole number (got 'two')"),
    ]:
        refused = post(manager, page, f"{page}/steps", type="wait", days=days, hours=hours,
                       position="2")
        assert notices(refused.text) == [said]
    html = manager.get(page).text
    assert 'data-max-days="30" data-max-hours="23"' in html  # the page checks as you type


def test_edits_are_refused_while_active_with_the_cli_message(browser) -> None:
    manager = browser("manager")
    page = build(manager)
    html = manager.get(page).text
    step = re.findall(r'/steps/([0-9a-f-]{36})/edit', html)[0]
    version = field(html, "version")
    post(manager, page, f"{page}/activate")
    active = manager.get(page).text
    message = "sequence 'Cold' is active: deactivate it first to edit it"
    assert message in unescape(active) and "/edit" not in active  # no edit controls, active
    forged = manager.post(f"{page}/steps/{step}/edit", data={
        "csrf": field(active, "csrf"), "version": field(active, "csrf") and version,
        "name": "sneaky", "back": page})
    assert notices(forged.text) == [message]


def test_a_second_save_of_the_same_version_is_refused(browser) -> None:
    first, second = browser("manager"), browser("manager2")
    page = build(first)
    html_first, html_second = first.get(page).text, second.get(page).text
    step = re.findall(r'/steps/([0-9a-f-]{36})/edit', html_first)[0]
    saved = first.post(f"{page}/steps/{step}/edit", data={
        "csrf": field(html_first, "csrf"), "version": field(html_first, "version"),
        "name": "First manager's words", "back": page})
    assert notices(saved.text) == ["edited step 1 of 'Cold'"]
    late = second.post(f"{page}/steps/{step}/edit", data={
        "csrf": field(html_second, "csrf"), "version": field(html_second, "version"),
        "name": "Second manager's words", "back": page})
    [said] = notices(late.text)
    assert said.startswith("sequence 'Cold' changed since you opened it")
    page_now = unescape(late.text)
    assert "First manager's words" in page_now and "Second manager's words" not in page_now


def test_a_viewer_sees_everything_and_changes_nothing(browser, state: App) -> None:
    manager = browser("manager")
    page = build(manager)
    post(manager, page, f"{page}/activate")
    viewer = browser("viewer")
    for path in ("/", page, f"{page}/records", "/outcomes", f"/records/{LEADS[0].id}"):
        html = viewer.get(path).text
        forms = re.findall(r'<form method="post" action="([^"]+)"', html)
        assert forms == ["/logout"], (path, forms)
        buttons = set(re.findall(r"<button[^>]*>([^<]*)<", html))
        assert buttons <= {"Sign out", "Filter"}, (path, buttons)
        assert 'class="button' not in html and 'type="checkbox"' not in html
    html = viewer.get(page).text
    for action, values in [
        (f"{page}/deactivate", {}), ("/sequences", {"name": "X", "entity": "lead"}),
        (f"{page}/connect", {"record": LEADS[0].id}), ("/sync", {}),
    ]:
        forged = viewer.post(action, data={"csrf": field(html, "csrf"), **values})
        assert forged.status_code == 403, action
        assert "may look but not change" in forged.text
    assert 'id="sequence-status">active' in viewer.get(page).text


def test_a_change_without_the_csrf_token_is_refused(browser) -> None:
    manager = browser("manager")
    made = manager.post("/sequences", data={"name": "Forged", "entity": "lead"})
    assert made.status_code == 403 and "security token" in made.text
    stale = manager.post("/sequences", data={"name": "Forged", "entity": "lead",
                                             "csrf": "guess"})
    assert stale.status_code == 403
    cross = manager.post("/sequences", headers={"origin": "https://evil.example"}, data={
        "name": "Forged", "entity": "lead", "csrf": field(manager.get("/").text, "csrf")})
    assert cross.status_code == 403
    assert "Forged" not in manager.get("/").text


def test_connect_reports_each_record_and_shows_up_next(browser, state: App) -> None:
    manager = browser("manager")
    page = build(manager)
    post(manager, page, f"{page}/activate")
    found = manager.get(f"{page}/records?q=an").text
    assert "Nancy Anderson" in found and "Maria Campbell" not in found.split('id="candidates"')[1]
    ids = [LEADS[0].id, LEADS[1].id, CLOSED.id]
    connected = post(manager, f"{page}/records", f"{page}/connect", record=ids)
    assert notices(connected.text) == ["2 connected, 1 skipped"]
    results = connected.text.split('class="results"')[1]
    assert "Nancy Anderson" in results and "Closed Lead" in results
    assert "is closed" in results or "not open" in results
    table = connected.text.split('id="connected"')[1]
    assert table.count("1/3 email: Introduction") == 2 and "due " in table
    record = manager.get(f"/records/{LEADS[0].id}").text
    assert "1/3 email: Introduction" in record
    assert "wait 2 days; phonecall: Follow-up call" in record
    gone = post(manager, f"{page}/records", f"{page}/disconnect", record=[LEADS[1].id])
    assert notices(gone.text) == ["1 disconnected, 0 skipped"]
    again = post(manager, f"{page}/records", f"{page}/connect", all_matching="1", where="")
    assert notices(again.text) == ["3 connected, 0 skipped"]  # every open lead on no sequence


def test_a_filter_on_an_unknown_column_is_refused_by_name(browser) -> None:
    manager = browser("manager")
    page = build(manager)
    post(manager, page, f"{page}/activate")
    shown = manager.get(f"{page}/records", params={"where": "nosuchcol=1"})
    assert shown.status_code == 200
    [said] = notices(shown.text)
    assert said.startswith("filter nosuchcol=...: no such column of lead records (known: id,")
    refused = post(manager, f"{page}/records", f"{page}/connect", all_matching="1",
                   where="nosuchcol=1")
    assert notices(refused.text) == [said]


def test_hostile_names_are_shown_as_text(browser, state: App) -> None:
    manager = browser("manager")
    page = build(manager, name="<script>alert('s')</script>")
    post(manager, page, f"{page}/activate")
    seq_id = page.rsplit("/", 1)[1]
    state.execute(Message.CONNECT, ConnectRequest(seq_id, [LEADS[2].id]))
    for path in (f"{page}/records", f"/records/{LEADS[2].id}", "/", page):
        html = manager.get(path).text
        assert "<img src=x" not in html and "<script>alert" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in manager.get(f"{page}/records").text


def test_delete_confirmation_names_the_records_it_disconnects(browser, state: App) -> None:
    manager = browser("manager")
    page = active_with_two_leads(manager, state)
    confirm = manager.get(f"{page}/delete").text
    assert "disconnects 2 records (reason sequence_deleted)" in confirm
    done = post(manager, f"{page}/delete", f"{page}/delete")
    assert notices(done.text) == ["deleted sequence 'Cold'; 2 records disconnected"]
    assert manager.get(page).status_code == 404


def test_clone_copies_steps_with_new_ids(browser) -> None:
    manager = browser("manager")
    page = build(manager)
    post(manager, page, f"{page}/activate")
    cloned = post(manager, page, f"{page}/clone")
    assert notices(cloned.text) == ["cloned 'Cold' as 'Cold (copy)' (inactive)"]
    assert cloned.url.path != page
    old = set(re.findall(r'data-step="\d"', manager.get(page).text))
    assert len(old) == 3 and 'id="sequence-status">inactive' in cloned.text
    twice = post(manager, page, f"{page}/clone")
    assert notices(twice.text) == ["cloned 'Cold' as 'Cold (copy 2)' (inactive)"]


def test_outcomes_show_backlog_and_per_step_counts(browser, state: App) -> None:
    manager = browser("manager")
    active_with_two_leads(manager, state)
    html = manager.get("/outcomes").text
    backlog = html.split('id="backlog"')[1].split("</section>")[0]
    assert re.search(r"Steps due now</dt><dd>2<", backlog)
    chart = html.split('data-sequence="Cold"')[1].split("</section>")[0]
    assert "1. email: Introduction" in chart and ">2</text>" in chart
    assert "No connection has ended yet." in chart
    assert "No sync has run yet." in html
