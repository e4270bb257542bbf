"""The drop zone as a person meets it in Chromium: a dropped file waits in a small form with a
title from its name, goes only on "Upload"; a Windows program turns its progress bar into an
error with the service's message; the same bytes again offer the library item to link."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
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
    expect(item.get_by_label("Kind of document")).to_have_value("policy")  # from the name
    assert evidence_rows(live_app) == 0  # nothing is sent before "Upload"
    item.get_by_label("Protective marking").select_option("OFFICIAL-SENSITIVE")
    expiry = item.get_by_role("group", name="Expiry date (optional)")
    expiry.get_by_label("Day").fill("31")
    expiry.get_by_label("Month").fill("3")
    expiry.get_by_label("Year").fill("2027")
    item.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#linked-evidence")).to_contain_text("access control policy")
    with session_scope(live_app.app.state.engine) as session:
        (row,) = session.exec(select(Evidence)).all()
        assert (row.kind, row.marking, row.expires_on) == ("policy", "OFFICIAL-SENSITIVE", date(2027, 3, 31))

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


def test_the_form_takes_defaults_from_the_name_lays_out_at_1280_and_320_and_a_stall_is_told(
    page: Page, live_app: LiveServer
) -> None:
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Test Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Test Department"), supplier)
    live_app.sign_in(page, make_person(engine, keys, "supplier_lead", supplier))
    page.goto(f"{live_app.url}/engagements/{engagement.id}/controls/CPS-1.1")
    drop(page, "pen_test_report_OFFICIAL-SENSITIVE_2025-04-01.pdf", PDF)
    item = page.get_by_role("group", name="pen_test_report_OFFICIAL-SENSITIVE_2025-04-01.pdf")
    expect(item.get_by_label("Kind of document")).to_have_value("report")
    expect(item.get_by_label("Protective marking")).to_have_value("OFFICIAL-SENSITIVE")
    effective = item.get_by_role("group", name="Effective date (optional)")
    expect(effective.get_by_label("Day")).to_have_value("1")
    expect(effective.get_by_label("Month")).to_have_value("4")
    expect(effective.get_by_label("Year")).to_have_value("2025")

    def boxes() -> tuple[dict[str, float], dict[str, float]]:
        kind = item.get_by_label("Kind of document").bounding_box()
        marking = item.get_by_label("Protective marking").bounding_box()
        assert kind is not None and marking is not None
        return kind, marking

    kind, marking = boxes()  # 1280 px: side by side, apart
    assert abs(kind["y"] - marking["y"]) < 2 and kind["x"] + kind["width"] < marking["x"]
    page.set_viewport_size({"width": 320, "height": 900})
    kind, marking = boxes()  # 320 px: one above the other, nothing wider than the screen
    assert kind["y"] + kind["height"] < marking["y"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 320

    # A connection that stops sending: the route never answers, and the zone's watchdog (made
    # short here; in service it is ATTEST_UPLOAD_IDLE_SECONDS) ends it with a message.
    page.route("**/evidence", lambda route: None)
    page.eval_on_selector("#upload-form", "zone => { zone.dataset.stallSeconds = '0.5'; }")
    item.get_by_role("button", name="Upload", exact=True).click()
    expect(item.locator(".govuk-error-message")).to_contain_text("The upload stalled", timeout=10_000)
    expect(item.locator("progress")).to_have_class("attest-progress attest-progress--error")
    expect(item.get_by_role("button", name="Upload", exact=True)).to_be_enabled()
    assert evidence_rows(live_app) == 0
