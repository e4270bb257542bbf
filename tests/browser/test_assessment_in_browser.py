"""Tried as a new user would: sign in as a supplier lead, answer three controls, upload a PDF."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.factories import make_engagement, make_org, make_person


def test_supplier_lead_answers_three_controls_and_uploads_a_pdf(
    page: Page, live_app: LiveServer, tmp_path: Path
) -> None:
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Test Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Test Department"), supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    live_app.sign_in(page, lead)

    page.get_by_role("link", name="Engagements").first.click()
    page.get_by_role("link", name=engagement.reference).click()
    expect(page.locator("#readiness-score")).to_contain_text("Readiness 0.0%")
    page.get_by_role("link", name="CPS Security Policy").click()

    # Two quick answers from the work view: saved by the row's Save button, no reload, score follows.
    page.get_by_label("Status of CPS-1.2").select_option("met")
    page.get_by_role("button", name="Save CPS-1.2").click()
    expect(page.locator("#work-score")).not_to_contain_text("This catalogue: 0.0%")
    page.get_by_label("Status of CPS-1.3").select_option("partially_met")
    page.get_by_role("button", name="Save CPS-1.3").click()
    expect(page.locator("#work-live")).to_have_text("Saved CPS-1.3: partially met")

    # A third with the full form, then evidence through the drop zone.
    page.get_by_role("link", name="CPS-1.1", exact=True).click()
    page.get_by_label("Met", exact=True).check()
    page.get_by_label("How you meet it (implementation statement)").fill("We follow GovS 007.")
    page.get_by_role("button", name="Save answer").click()
    expect(page.locator("#history")).to_contain_text("unanswered → met")

    pdf = tmp_path / "security-policy.pdf"
    pdf.write_bytes(b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n")
    page.locator("#file").set_input_files(str(pdf))
    page.get_by_label("Kind").select_option("policy")
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#linked-evidence")).to_contain_text("security-policy.pdf")

    page.goto(f"{live_app.url}/engagements/{engagement.id}")
    expect(page.locator("#readiness-score")).not_to_contain_text("Readiness 0.0%")
