"""The drop zone as a person meets it in Chromium: a dropped file waits in a small form with a
title from its name, goes only on "Upload"; a Windows program turns its progress bar into an
error with the service's message; the same bytes again offer the library item to link."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, expect
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import Evidence
from tests.browser.conftest import LiveServer
from tests.factories import make_engagement, make_org, make_person

PDF = "%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
DROP = """([name, text]) => {
  const transfer = new DataTransfer();
  transfer.items.add(new File([text], name, { type: "application/pdf" }));
  return transfer;
}"""


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page whose only expected console errors are the refused uploads' own status lines."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        refused = "Failed to load resource" in message.text and (
            "415" in message.text or "409" in message.text
        )
        if message.type == "error" and not refused:
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], f"browser errors: {problems}"


def evidence_rows(live_app: LiveServer) -> int:
    with session_scope(live_app.app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(Evidence)).one())


def drop(page: Page, name: str, text: str) -> None:
    transfer = page.evaluate_handle(DROP, [name, text])
    page.dispatch_event("#upload-form", "drop", {"dataTransfer": transfer})


def test_drop_fill_in_upload_then_a_refused_program_and_a_duplicate(
    page: Page, live_app: LiveServer, tmp_path: Path
) -> None:
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Test Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Test Department"), supplier)
    live_app.sign_in(page, make_person(engine, keys, "supplier_lead", supplier))
    control = f"{live_app.url}/engagements/{engagement.id}/controls/CPS-1.1"
    page.goto(control)
    expect(page.locator("#file-hint")).to_contain_text("up to 200 MB")

    drop(page, "access_control_policy.pdf", PDF)
    item = page.get_by_role("group", name="access_control_policy.pdf")
    expect(item.get_by_label("Title")).to_have_value("access control policy")
    assert evidence_rows(live_app) == 0  # nothing is sent before "Upload"
    item.get_by_label("Kind of document").select_option("policy")
    item.get_by_label("Expiry date (optional)").fill("2027-03-31")
    item.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#linked-evidence")).to_contain_text("access control policy")
    assert evidence_rows(live_app) == 1

    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ\x90\x00\x03\x00" + b"\x00" * 200)
    page.locator("#file").set_input_files(str(program))
    refused = page.get_by_role("group", name="setup.exe")
    expect(refused.get_by_label("Title")).to_have_value("setup")
    refused.get_by_role("button", name="Upload", exact=True).click()
    expect(refused.locator(".govuk-error-message")).to_have_text(
        "Error: This looks like a Windows program. Upload a PDF, Office document, image or text file."
    )
    expect(refused.locator("progress")).to_have_class("attest-progress attest-progress--error")
    expect(page.locator("#upload-status")).to_contain_text("Windows program")
    assert evidence_rows(live_app) == 1

    page.goto(f"{live_app.url}/engagements/{engagement.id}/controls/CPS-1.2")
    drop(page, "copy.pdf", PDF)
    again = page.get_by_role("group", name="copy.pdf")
    again.get_by_role("button", name="Upload", exact=True).click()
    expect(again).to_contain_text("You already have this file: access control policy")
    again.get_by_role("button", name="Link it to this control").click()
    expect(page.locator("#linked-evidence")).to_contain_text("access control policy")
    assert evidence_rows(live_app) == 1
