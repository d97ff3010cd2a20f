"""The console in a real browser: Chromium (Debian's, driven by Playwright) against `seqsync
web` under uvicorn, signing in through the mock's Entra page, syncing with the mock CRM.

Set SEQSYNC_WEB_SCREENSHOTS=DIR to save the screenshots docs/web.md shows.
"""

from __future__ import annotations

import os
import re
import threading
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from console_helpers import free_port
from playwright import sync_api
from support.world import World, make_world

from connector.app import open_app
from connector.web.app import create_app
from connector.web.entra import EntraSignIn

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
XSS = "<img src=x onerror=alert(1)>"
MANAGER, VIEWER, SECOND_MANAGER = "Avery Seller", "Blake Seller", "Dana Director"
# A second manager, given the role the way a seed does it (the mock's `approles` column).
DANA = {"systemuserid": "11111111-1111-4111-8111-111111111111", "fullname": SECOND_MANAGER,
        "domainname": "dana@contoso.example", "approles": "Sequence.Manager"}
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "sequences" / "cold-lead-outreach.toml"
SHOTS = os.environ.get("SEQSYNC_WEB_SCREENSHOTS")

pytestmark = pytest.mark.slow


@dataclass
class Site:
    world: World
    url: str
    browser: sync_api.Browser

    def person(self, who: str) -> sync_api.Page:
        """A new browser context (its own cookies), signed in as `who` through the mock."""
        # The mock's HTTPS certificate comes from a CA made at its start; only its pages need it.
        context = self.browser.new_context(ignore_https_errors=True,
                                           viewport={"width": 1200, "height": 900})
        page = context.new_page()
        page.on("dialog", lambda d: pytest.fail(f"a script ran: dialog {d.message!r}"))
        page.goto(self.url + "/")
        assert page.url.startswith(self.world.crm.authority + "/oauth2/v2.0/authorize")
        shoot(page, "web-signin")
        page.get_by_role("button", name=who).click()
        page.wait_for_url(self.url + "/")
        assert page.locator(".me .who").inner_text() == who
        return page


def shoot(page: sync_api.Page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=str(Path(SHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"no Chromium at {CHROMIUM}: `make browser` installs it (`make test` does)")
    folder = tmp_path_factory.mktemp("web")
    with pytest.MonkeyPatch.context() as patch, make_world(
        folder, patch, generate={"leads": 8, "opportunities": 2},
        seed={"systemusers": [DANA]},
    ) as world:
        lead = world.open_leads(1)[0]
        # The mock computes fullname from first and last name, as Dataverse does.
        world.crm.update("leads", lead,
                         {"firstname": "<img", "lastname": "src=x onerror=alert(1)>"})
        settings = world.settings
        port = free_port()
        with open_app(settings) as app:
            web = create_app(settings, app, EntraSignIn(settings))
            server = uvicorn.Server(uvicorn.Config(web, host="127.0.0.1", port=port,
                                                   log_level="warning", access_log=False))
            thread = threading.Thread(target=server.run, daemon=True)
            thread.start()
            deadline = time.monotonic() + 30
            while not server.started and time.monotonic() < deadline:
                time.sleep(0.05)
            try:
                with sync_api.sync_playwright() as playwright:
                    browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                         args=CHROMIUM_ARGS)
                    try:
                        yield Site(world, f"http://127.0.0.1:{port}", browser)
                    finally:
                        browser.close()
            finally:
                server.should_exit = True
                thread.join(timeout=10)


def notice(page: sync_api.Page) -> str:
    return page.locator(".notice[role=status] p").first.inner_text()


def create_sequence(page: sync_api.Page, site: Site, name: str, description: str = "") -> str:
    page.goto(site.url + "/")
    form = page.locator("#create-sequence")
    form.locator("input[name=name]").fill(name)
    form.locator("select[name=entity]").select_option("lead")
    form.locator("input[name=description]").fill(description)
    form.get_by_role("button", name="Create").click()
    page.wait_for_url(re.compile(r".*/sequences/[0-9a-f-]{36}$"))
    return page.url


def add_step(page: sync_api.Page, kind: str, name: str = "", description: str = "",
             days: int = 0, hours: int = 0, position: int | None = None) -> None:
    if position is None:
        form = page.locator("#add-step")
    else:
        insert = page.locator("li.insert").nth(position - 1)
        insert.locator("summary").click()
        form = insert.locator("form")
    form.locator("select[name=type]").select_option(kind)
    if kind == "wait":
        form.locator("input[name=days]").fill(str(days))
        form.locator("input[name=hours]").fill(str(hours))
    else:
        form.locator("input[name=name]").fill(name)
        form.locator("input[name=description]").fill(description)
    form.locator("button").click()
    page.wait_for_load_state()
    assert notice(page).startswith("added step"), notice(page)


def test_a_manager_builds_activates_connects_and_syncs(site: Site) -> None:
    page = site.person(MANAGER)
    page.goto(site.url + "/outcomes")
    page.locator("#sync-now").click()
    assert re.match(r"sync ok: 10 rows pulled", notice(page)), notice(page)

    example = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    designer = create_sequence(page, site, example["name"], example["description"])
    activities = [s for s in example["steps"] if s["type"] != "wait"]
    for step in activities:
        add_step(page, step["type"], step["name"], step["description"])
    # Waits go between the activities (a sequence never starts or ends with one).
    add_step(page, "wait", days=2, hours=0, position=2)
    # Limits are checked as the user types, before anything is sent.
    insert = page.locator("li.insert").nth(3)
    insert.locator("summary").click()
    form = insert.locator("form")
    form.locator("select[name=type]").select_option("wait")
    form.locator("input[name=days]").fill("31")
    assert form.locator(".wait-message").inner_text() == "wait days must be 0-30"
    assert form.locator("button").is_disabled()
    form.locator("input[name=days]").fill("30")
    form.locator("input[name=hours]").fill("1")
    assert form.locator(".wait-message").inner_text() == "a wait can be at most 30 days"
    form.locator("input[name=days]").fill("3")
    form.locator("input[name=hours]").fill("12")
    assert form.locator(".wait-message").inner_text() == ""
    form.locator("button").click()
    page.wait_for_load_state()
    titles = page.locator(".step-title").all_inner_texts()
    assert titles == ["Introduction", "wait 2 days", "Follow-up call", "wait 3 days 12 hours",
                      "Decide next step"]
    exported = tomllib.loads(page.request.get(designer + "/export.toml").text())
    assert [{k: v for k, v in s.items() if k != "id"} for s in exported["steps"]] == [
        {**s, "hours": s.get("hours", 0)} if s["type"] == "wait" else s
        for s in example["steps"]]
    shoot(page, "web-designer")

    page.locator("#activate").click()
    assert notice(page) == "sequence 'Cold lead outreach' is active"
    assert "deactivate it first to edit it" in page.locator("#locked").inner_text()

    page.goto(designer + "/records")
    page.locator("#find").click()
    boxes = page.locator("#candidates input[type=checkbox]")
    names = page.locator("#candidates tbody tr td:nth-child(2)").all_inner_texts()
    picked = [n for n in names if n != XSS][:3]
    for name in picked:
        page.get_by_role("checkbox", name=f"connect {name}", exact=True).check()
    assert boxes.count() >= 3
    page.locator("#connect-selected").click()
    assert notice(page) == "3 connected, 0 skipped"
    assert page.locator(".results tbody tr").count() == 3
    shoot(page, "web-records")

    page.goto(site.url + "/outcomes")
    page.locator("#sync-now").click()
    assert "3 activities created" in notice(page), notice(page)
    emails = site.world.crm.rows("emails")
    assert sorted(e["subject"] for e in emails) == ["Introduction"] * 3
    shoot(page, "web-outcomes")

    page.goto(designer + "/records")
    assert page.locator("#connected tbody tr").count() == 3
    assert page.locator("#connected").inner_text().count("activity open in the CRM") == 3
    page.get_by_role("link", name=picked[0]).click()
    assert page.locator("#current-step").inner_text() == "1/5 email: Introduction"
    assert "activity open in the CRM" in page.locator("#up-next-status").inner_text()
    activities = page.locator("#activities").inner_text()
    assert "Introduction" in activities and "pushed" in activities
    assert "wait 2 days; phonecall: Follow-up call" in page.locator("#up-next").inner_text()
    shoot(page, "web-record")
    page.goto(site.url + "/")
    shoot(page, "web-sequences")
    page.context.close()


def test_a_viewer_finds_no_change_control_and_a_forged_post_is_refused(site: Site) -> None:
    manager = site.person(MANAGER)
    designer = create_sequence(manager, site, "Viewer check")
    add_step(manager, "email", "Hello")
    manager.context.close()
    page = site.person(VIEWER)
    assert page.locator(".role").inner_text() == "Viewer"
    for path in ("/", designer, designer + "/records", "/outcomes"):
        page.goto(site.url + path if path.startswith("/") else path)
        actions = page.locator("form[method=post]").evaluate_all(
            "forms => forms.map(f => f.getAttribute('action'))")
        assert actions == ["/logout"], (path, actions)
        assert page.locator("input[type=checkbox], a.button, #sync-now").count() == 0
    token = page.locator("input[name=csrf]").first.get_attribute("value")
    forged = page.request.post(designer + "/activate", form={"csrf": token or ""})
    assert forged.status == 403 and "may look but not change" in forged.text()
    page.goto(designer)
    assert page.locator("#sequence-status").inner_text() == "inactive"
    page.context.close()


def test_a_hostile_lead_name_is_shown_as_text(site: Site) -> None:
    page = site.person(MANAGER)
    page.goto(site.url + "/outcomes")
    page.locator("#sync-now").click()
    designer = create_sequence(page, site, "Hostile names")
    add_step(page, "email", "Hello")
    page.locator("#activate").click()
    page.goto(designer + "/records?q=onerror")
    cell = page.locator("#candidates tbody tr td:nth-child(2)")
    assert cell.all_inner_texts() == [XSS]
    assert page.locator("#candidates img").count() == 0
    page.get_by_role("checkbox", name=f"connect {XSS}", exact=True).check()
    page.locator("#connect-selected").click()
    assert notice(page) == "1 connected, 0 skipped"
    page.get_by_role("link", name=XSS).click()
    assert page.locator("#record-name").inner_text() == XSS
    assert page.locator("main img").count() == 0  # the dialog handler fails on any alert
    page.context.close()


def test_two_managers_saving_one_sequence_the_second_is_refused(site: Site) -> None:
    first = site.person(MANAGER)
    designer = create_sequence(first, site, "Edited twice")
    add_step(first, "email", "Hello")
    second = site.person(SECOND_MANAGER)
    second.goto(designer)
    for page, words in ((first, "First words"), (second, "Second words")):
        page.locator("li.step summary", has_text="Edit").first.click()
        form = page.locator("li.step form.step-form").first
        form.locator("input[name=name]").fill(words)
    first.locator("li.step form.step-form").first.locator("button").click()
    assert notice(first) == "edited step 1 of 'Edited twice'"
    second.locator("li.step form.step-form").first.locator("button").click()
    assert "changed since you opened it" in notice(second)
    assert second.locator(".step-title").all_inner_texts() == ["First words"]
    shoot(second, "web-conflict")
    first.context.close()
    second.context.close()


def add_to_branch(page: sync_api.Page, branch: str, kind: str, name: str) -> None:
    here = page.locator(f'[data-branch="{branch}"] > ol > li.add-here')
    here.locator("summary").click()
    form = here.locator("form")
    form.locator("select[name=type]").select_option(kind)
    form.locator("input[name=name]").fill(name)
    form.locator("button").click()
    page.wait_for_load_state()
    assert notice(page) == f"added step {branch}.1 to 'Branching'", notice(page)


def test_a_manager_builds_a_condition_tree_and_a_viewer_sees_it_read_only(site: Site) -> None:
    page = site.person(MANAGER)
    designer = create_sequence(page, site, "Branching", "a call if the email was handled")
    add_step(page, "email", "Introduction")
    form = page.locator("#add-step")
    form.locator("select[name=type]").select_option("condition")
    # The condition form shows only for condition steps; wait inputs hide.
    assert form.locator(".for-condition").is_visible()
    assert not form.locator(".for-wait").is_visible()
    form.locator("input[name=name]").fill("Handled?")
    form.locator("select[name=if]").select_option("previous")
    form.locator("select[name=previous]").select_option("completed")
    form.locator("button").click()
    page.wait_for_load_state()
    assert notice(page) == "added step 2 to 'Branching'", notice(page)
    # Empty branches go on after the condition: every path has the email, so it is ready.
    assert "Not ready to activate" not in page.locator("main").inner_text()
    add_to_branch(page, "2.then", "phonecall", "Call back")
    add_to_branch(page, "2.else", "task", "Research the account")
    page.locator("#add-step select[name=type]").select_option("wait")
    page.locator("#add-step input[name=days]").fill("31")
    assert page.locator("#add-step .wait-message").inner_text() == "wait days must be 0-30"
    page.goto(designer)
    steps = page.locator("li.step").evaluate_all(
        "els => els.map(e => e.dataset.step)")
    assert steps == ["1", "2", "2.then.1", "2.else.1"]
    then = page.locator('[data-branch="2.then"]').inner_text()
    assert "Call back" in then and "Research" not in then
    assert "Research the account" in page.locator('[data-branch="2.else"]').inner_text()
    shoot(page, "web-designer-branches")
    page.locator("#activate").click()
    assert notice(page) == "sequence 'Branching' is active"
    assert page.locator("li.step").count() == 4 and page.locator("li.add-here").count() == 0
    shoot(page, "web-designer-tree")
    page.context.close()

    viewer = site.person(VIEWER)
    viewer.goto(designer)
    assert viewer.locator("li.step").evaluate_all(
        "els => els.map(e => e.dataset.step)") == ["1", "2", "2.then.1", "2.else.1"]
    assert "if the previous activity was completed" in viewer.locator("main").inner_text()
    actions = viewer.locator("form[method=post]").evaluate_all(
        "forms => forms.map(f => f.getAttribute('action'))")
    assert actions == ["/logout"]
    assert viewer.locator("li.insert, .step-controls, #add-step").count() == 0
    viewer.context.close()
