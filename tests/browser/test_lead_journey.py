"""Issue 15 Done-when, the lead's journey through the work view: sign in, answer 30 controls by
keyboard alone (moving through a row's options saves nothing: the `response_saved` events are
counted), bulk-set 10, and fix refused forms without typing anything again. After each step the
test reads what a person sees: the row's State tag, the score line and the live region."""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.main import create_app
from app.models import AuditEvent
from tests.browser.conftest import LiveServer, free_port
from tests.browser.test_accessibility import serious_violations
from tests.conftest import make_settings
from tests.factories import make_engagement, make_org, make_person
from tests.web.test_database_busy import write_lock_held

pytestmark = pytest.mark.xdist_group("chromium")

# How many ArrowDown presses from "Choose…" reach each status (the select's option order).
PRESSES = {"met": 1, "partially_met": 2, "not_met": 3, "not_applicable": 4}
LABEL = {
    "met": "met",
    "partially_met": "partially met",
    "not_met": "not met",
    "not_applicable": "not applicable",
}


# Chromium logs every 4xx answer as a console error; the journey's refusals are expected ones.
EXPECTED = re.compile(r"Failed to load resource: the server responded with a status of (422|503)\b")


@pytest.fixture
def journey(browser: Browser) -> Iterator[Page]:
    """A page like conftest's, failing on any script error or unexpected console error. A test
    asks for its server before this page, so the page is closed before the server stops (else
    a request still in flight is refused during teardown and counted as a browser error)."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, bypass_csp=True)  # for axe
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not EXPECTED.search(message.text):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], f"browser errors: {problems}"


def saves(live_app: LiveServer, engagement_id: str) -> int:
    with session_scope(live_app.app.state.engine) as session:
        query = select(func.count()).where(
            AuditEvent.action == "response_saved", AuditEvent.engagement_id == engagement_id
        )
        return int(session.exec(query).one())


def tab_to(page: Page, element_id: str, limit: int = 8) -> None:
    """Press Tab until the element with this id has focus, as a keyboard user would."""
    for _ in range(limit):
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement && document.activeElement.id") == element_id


def catalogue_score(page: Page) -> float:
    text = page.locator("#catalogue-score").inner_text()
    return float(text.rstrip("%"))


def test_the_lead_answers_30_by_keyboard_bulk_sets_10_and_fixes_errors_without_retyping(
    live_app: LiveServer, journey: Page
) -> None:
    page = journey
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Journey Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Journey Department"), supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    live_app.sign_in(page, lead)
    work = f"{live_app.url}/engagements/{engagement.id}/catalogues/cps-security-policy"
    page.goto(work)
    expect(page.locator("#catalogue-score")).to_have_text("0.0%")
    ids = page.locator("#work-rows tbody tr").evaluate_all("rows => rows.map(r => r.id.slice(4))")
    assert len(ids) == 41  # the CPS catalogue
    # A control the scoping switched off keeps its "out of scope" tag whatever it is answered.
    initial = page.locator("#work-rows tbody tr .attest-row__state .govuk-tag").all_inner_texts()
    off = {control_id for control_id, state in zip(ids, initial, strict=True) if state == "out of scope"}

    # Thirty answers, by keyboard alone: arrows through the options, Tab to Save, Enter.
    cycle = ["met", "partially_met", "not_met", "met", "not_applicable"]
    page.locator(f"[id='quick-{ids[0]}']").focus()
    score = 0.0
    for n, control_id in enumerate(ids[:30]):
        status = cycle[n % len(cycle)]
        tab_to(page, f"quick-{control_id}")
        before = saves(live_app, engagement.id)
        for _ in range(PRESSES[status]):
            page.keyboard.press("ArrowDown")
        assert saves(live_app, engagement.id) == before, "moving through the options saved"
        if status == "not_applicable":
            tab_to(page, f"why-{control_id}")
            page.keyboard.type("Handled by the buyer's own service desk.")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.textContent.trim()") == f"Save {control_id}"
        page.keyboard.press("Enter")
        expect(page.locator("#work-live")).to_have_text(f"Saved {control_id}: {LABEL[status]}")
        row = page.locator(f"[id='row-{control_id}']")
        shown = "out of scope" if control_id in off else LABEL[status]
        expect(row.locator(".attest-row__state .govuk-tag")).to_have_text(shown)
        assert saves(live_app, engagement.id) == before + 1
        # Focus stays in the row that was saved, so the next Tab goes on down the list.
        expect(page.locator(f"[id='quick-{control_id}']")).to_be_focused()
        now = catalogue_score(page)
        assert now >= score  # the score line changed with the row, in the same answer
        score = now
    assert score > 0
    engagement_score = page.locator("#engagement-score").inner_text()
    api = page.request.get(f"{live_app.url}/api/engagements/{engagement.id}/readiness").json()
    assert engagement_score == f"{api['score']}%"

    # Bulk: tick ten rows, set them to met, one save.
    for control_id in ids[30:40]:
        page.locator(f"[id='pick-{control_id}']").check()
    page.get_by_label("Set status").select_option("met")
    page.get_by_role("button", name="Save selected controls").click()
    banner = page.locator("#work-saved")
    expect(banner).to_contain_text("Saved 10 controls.")
    expect(banner).to_be_focused()
    assert saves(live_app, engagement.id) == 40
    for control_id in ids[30:40]:
        shown = "out of scope" if control_id in off else "met"
        expect(page.locator(f"[id='row-{control_id}'] .attest-row__state .govuk-tag")).to_have_text(shown)

    # A refused bulk edit keeps the ticks and what was typed; nothing is saved.
    for control_id in ids[38:40]:
        page.locator(f"[id='pick-{control_id}']").check()
    page.get_by_label("Set status").select_option("met")
    page.get_by_label("Set target date (YYYY-MM-DD)").fill("2027-03-31")
    page.get_by_role("button", name="Save selected controls").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.locator("#error-summary")).to_contain_text("a target date is kept only for not met")
    expect(page).to_have_title(re.compile("^Error: "))
    expect(page.get_by_label("Set target date (YYYY-MM-DD)")).to_have_value("2027-03-31")
    expect(page.locator(f"[id='pick-{ids[38]}']")).to_be_checked()
    assert serious_violations(page) == []
    assert saves(live_app, engagement.id) == 40
    page.get_by_label("Set status").select_option("not_met")
    page.get_by_role("button", name="Save selected controls").click()
    expect(page.locator("#work-saved")).to_contain_text("Saved 2 controls.")
    assert saves(live_app, engagement.id) == 42

    # A refused row save: not applicable with no reason. The row says why, keeps the choice, and
    # "Try again" saves once the reason is given.
    control_id = ids[40]
    select = page.locator(f"[id='quick-{control_id}']")
    select.select_option("not_applicable")
    page.get_by_role("button", name=f"Save {control_id}").click()
    row = page.locator(f"[id='row-{control_id}']")
    expect(row.locator(".govuk-error-message")).to_have_text("Error: Say why this control does not apply.")
    expect(page.locator("#work-live")).to_contain_text(f"Could not save {control_id}")
    expect(select).to_have_value("not_applicable")
    assert saves(live_app, engagement.id) == 42
    assert serious_violations(page) == []  # a row showing its error passes axe too
    page.locator(f"[id='why-{control_id}']").fill("No buyer data reaches this system.")
    page.get_by_role("button", name=f"Try again {control_id}").click()
    expect(page.locator("#work-live")).to_have_text(f"Saved {control_id}: not applicable")
    expect(row.locator(".govuk-error-message")).to_be_hidden()
    assert saves(live_app, engagement.id) == 43

    # The control page: a refused full answer keeps the statement; the save shows a banner.
    page.get_by_role("link", name=ids[0], exact=True).click()
    page.get_by_label("Not applicable", exact=True).check()
    page.get_by_label("How you meet it (implementation statement)").fill("Our SOC watches it.")
    page.get_by_role("button", name="Save answer").click()
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.get_by_label("How you meet it (implementation statement)")).to_have_value(
        "Our SOC watches it."
    )
    page.get_by_label("If not applicable: why").fill("Out of the contract's reach.")
    page.get_by_role("button", name="Save answer").click()
    expect(page.locator("#saved-banner")).to_be_focused()
    expect(page.locator("#history")).to_contain_text("met → not_applicable")
    page.get_by_role("link", name=re.compile("^Next control")).click()
    expect(page.locator("#control-id")).to_have_text(ids[1])


@pytest.fixture
def busy_live_app(tmp_path: Path, sqlite_template: Path) -> Iterator[tuple[LiveServer, str]]:
    """A served instance whose writes give up after 0.3 s waiting for another writer's lock."""
    database = tmp_path / "attest.db"
    shutil.copyfile(sqlite_template, database)
    url = f"sqlite:///{database}"
    app = create_app(make_settings(tmp_path, url, database_busy_seconds=0.3))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the test server did not start"
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", app), url
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


def test_a_save_while_another_process_holds_the_write_lock_shows_in_the_row_with_try_again(
    busy_live_app: tuple[LiveServer, str], journey: Page
) -> None:
    page, (live_app, url) = journey, busy_live_app
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    live_app.sign_in(page, make_person(engine, keys, "supplier_lead", supplier))
    page.goto(f"{live_app.url}/engagements/{engagement.id}/catalogues/cps-security-policy")
    row = page.locator("[id='row-CPS-1.2']")
    page.get_by_label("Status of CPS-1.2").select_option("met")
    with write_lock_held(url):
        page.get_by_role("button", name="Save CPS-1.2").click()
        expect(row.locator(".govuk-error-message")).to_contain_text("Error: Attest is busy")
        expect(page.locator("#work-live")).to_contain_text("Could not save CPS-1.2: Attest is busy")
    expect(row.locator(".attest-row__state .govuk-tag")).to_have_text("unanswered")
    assert saves(live_app, engagement.id) == 0
    page.get_by_role("button", name="Try again CPS-1.2").click()
    expect(page.locator("#work-live")).to_have_text("Saved CPS-1.2: met")
    expect(row.locator(".attest-row__state .govuk-tag")).to_have_text("met")
    assert saves(live_app, engagement.id) == 1
