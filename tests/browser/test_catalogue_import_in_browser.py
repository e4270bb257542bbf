"""Issue 17 item 6 in the browser: a buyer advisor imports its own policy as an OSCAL catalog on
the catalogue page; a broken document shows every problem and creates nothing, a good one
lands on the new catalogue, which a new engagement can then choose."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlmodel import func, select

from app.db import session_scope
from app.models import ImportedCatalogue
from tests.browser.conftest import LiveServer
from tests.browser.test_accessibility import overflow, serious_violations

pytestmark = pytest.mark.xdist_group("chromium")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose only expected console error is the refused import's own 422 status line."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not (
            "Failed to load resource" in message.text and "422" in message.text
        ):
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], f"browser errors: {problems}"


def imported(live_app: LiveServer) -> int:
    with session_scope(live_app.app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(ImportedCatalogue)).one())


def test_an_advisor_imports_a_policy_in_the_browser(page: Page, live_app: LiveServer) -> None:
    live_app.sign_in(page, live_app.person("buyer_advisor"))
    exported = page.request.get(live_app.url + "/api/catalogues/cps-security-policy/oscal").json()
    exported["catalog"]["metadata"]["title"] = "Harbour Department supplier policy"
    good = json.dumps(exported).replace('"CPS-', '"HDP-').replace("_CPS-", "_HDP-").encode()
    broken = json.loads(good)
    del broken["catalog"]["metadata"]["title"]

    page.goto(live_app.url + "/catalogues")
    page.get_by_label("Catalogue id").fill("harbour-policy")
    page.get_by_label("OSCAL document (JSON)").set_input_files(
        {"name": "policy.json", "mimeType": "application/json", "buffer": json.dumps(broken).encode()}
    )
    page.get_by_role("button", name="Import catalogue").click()
    expect(page.locator("#error-summary")).to_contain_text("Nothing was imported")
    expect(page.locator("#import-problems")).to_contain_text("catalog.metadata.title")
    expect(page.get_by_label("Catalogue id")).to_have_value("harbour-policy")
    assert imported(live_app) == 0
    assert serious_violations(page) == []  # the form and its error list, as axe reads them
    page.set_viewport_size({"width": 320, "height": 720})
    assert overflow(page) == 0
    page.set_viewport_size({"width": 1280, "height": 900})

    page.get_by_label("OSCAL document (JSON)").set_input_files(
        {"name": "policy.json", "mimeType": "application/json", "buffer": good}
    )
    page.get_by_role("button", name="Import catalogue").click()
    page.wait_for_url("**/catalogues/harbour-policy")
    expect(page.locator("h1")).to_contain_text("Harbour Department supplier policy")
    assert imported(live_app) == 1

    page.goto(live_app.url + "/engagements/new")
    expect(page.get_by_label("Harbour Department supplier policy")).to_be_attached()
