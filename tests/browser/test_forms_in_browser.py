"""A refused form in Chromium, as a person meets it: the title starts with "Error: ", focus is on
the error summary, its link takes focus to the field, every other value is still there, and
fixing the one field is enough to save (issue 15 item 3)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import Risk
from tests.browser.conftest import LiveServer
from tests.factories import make_engagement, make_org, make_person


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose only expected console error is the refused post's own 422 status line."""
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


def risks(live_app: LiveServer) -> int:
    with session_scope(live_app.app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(Risk)).one())


def test_a_refused_risk_is_fixed_without_typing_anything_again(page: Page, live_app: LiveServer) -> None:
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Test Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Test Department"), supplier)
    live_app.sign_in(page, make_person(engine, keys, "supplier_lead", supplier))
    page.goto(f"{live_app.url}/engagements/{engagement.id}/plan")
    page.get_by_text("Add a risk").click()
    form = page.locator("#risk-form")
    form.get_by_label("Risk", exact=True).fill("Lost laptop")
    form.get_by_label("Linked controls").fill("NOPE-1")
    form.get_by_label("Likelihood", exact=True).select_option("4")
    form.get_by_label("Impact", exact=True).select_option("5")
    form.get_by_label("Treatment").fill("Full-disk encryption")
    form.get_by_label("Owner").fill("Head of IT")
    form.get_by_role("button", name="Add risk").click()

    expect(page).to_have_title(re.compile(r"^Error: "))
    summary = page.locator("#error-summary")
    expect(summary).to_be_focused()
    expect(summary).to_contain_text("NOPE-1")
    form = page.locator("#risk-form")
    expect(form.get_by_label("Risk", exact=True)).to_have_value("Lost laptop")
    expect(form.get_by_label("Likelihood", exact=True)).to_have_value("4")
    expect(form.get_by_label("Impact", exact=True)).to_have_value("5")
    expect(form.get_by_label("Treatment")).to_have_value("Full-disk encryption")
    expect(form.get_by_label("Owner")).to_have_value("Head of IT")
    assert risks(live_app) == 0

    summary.get_by_role("link").first.click()
    controls = form.get_by_label("Linked controls")
    expect(controls).to_be_focused()
    controls.fill("CPS-1.1")
    form.get_by_role("button", name="Add risk").click()
    expect(page.locator("#risks-saved")).to_contain_text("The risk was saved.")
    expect(page).not_to_have_title(re.compile(r"^Error: "))
    assert risks(live_app) == 1
