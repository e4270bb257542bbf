"""Issue 15 Done-when, the lead's journey from sign-in to a submitted plan, in order, on a served
instance in Chromium: scoping (the banner), answers from the work view by keyboard (row state,
score, live region), the rest imported from a spreadsheet, evidence dropped on a control and
described before "Upload", a refused risk fixed without typing it again, what the stricter
pre-submission check asks (statements, planned changes and dates, the plan's own parts), and
the submission with its banner. Each step asserts what the person sees, not only the database,
and axe finds no serious or critical violation on the scoping page, the drop zone's form and
the submitted plan."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi import FastAPI
from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer
from tests.browser.test_accessibility import serious_violations
from tests.browser.test_lead_journey import LABEL, PRESSES, catalogue_score, journey, saves, tab_to
from tests.browser.test_upload_dropzone import PDF, drop
from tests.factories import make_engagement, make_org, make_person
from tests.web.test_no_secret_in_urls import END, field, plain_client

pytestmark = pytest.mark.xdist_group("chromium")
__all__ = ["journey"]  # the fixture, imported for its name

# The three answers given by keyboard: each leaves something the stricter check asks for.
BY_KEYBOARD = ("met", "partially_met", "not_met")


def test_the_lead_goes_from_sign_in_through_scoping_answers_and_evidence_to_a_submitted_plan(
    live_app: LiveServer, journey: Page, tmp_path: Path
) -> None:
    page = journey
    engine, keys = live_app.app.state.engine, live_app.app.state.keys
    supplier = make_org(engine, "supplier", "Northwind Submit Ltd")
    engagement = make_engagement(engine, make_org(engine, "buyer", "Submit Department"), supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    base = f"{live_app.url}/engagements/{engagement.id}"

    # Sign in: the home page names the lead's engagement and leads to it.
    live_app.sign_in(page, lead)
    page.goto(live_app.url + "/")
    page.get_by_role("link", name=engagement.reference).first.click()
    expect(page).to_have_url(re.compile(f"/engagements/{engagement.id}$"))

    # Scoping: every question answered no; the banner takes focus.
    page.goto(base + "/scoping")
    for radio in page.locator("input[type=radio][value=no]").all():
        radio.check()
    page.get_by_role("button", name="Save answers").click()
    banner = page.locator("#scoping-saved")
    expect(banner).to_be_focused()
    expect(banner).to_contain_text("Your scoping answers were saved.")
    assert serious_violations(page) == []

    # The work view follows the scoping: some rows are out of scope, nothing is answered yet.
    page.goto(base + "/catalogues/cps-security-policy")
    expect(page.locator("#catalogue-score")).to_have_text("0.0%")
    ids = page.locator("#work-rows tbody tr").evaluate_all("rows => rows.map(r => r.id.slice(4))")
    tags = page.locator("#work-rows tbody tr .attest-row__state .govuk-tag").all_inner_texts()
    applicable = [control_id for control_id, tag in zip(ids, tags, strict=True) if tag != "out of scope"]
    assert 0 < len(applicable) < len(ids), "answering no to every question took nothing out"

    # Three answers by keyboard alone: arrows through the options save nothing, Tab, Enter.
    keyed = applicable[:3]
    page.locator(f"[id='quick-{keyed[0]}']").focus()
    score = 0.0
    for control_id, status in zip(keyed, BY_KEYBOARD, strict=True):
        tab_to(page, f"quick-{control_id}", limit=60)
        before = saves(live_app, engagement.id)
        for _ in range(PRESSES[status]):
            page.keyboard.press("ArrowDown")
        assert saves(live_app, engagement.id) == before, "moving through the options saved"
        page.keyboard.press("Tab")
        page.keyboard.press("Enter")
        expect(page.locator("#work-live")).to_have_text(f"Saved {control_id}: {LABEL[status]}")
        row = page.locator(f"[id='row-{control_id}']")
        expect(row.locator(".attest-row__state .govuk-tag")).to_have_text(LABEL[status])
        assert saves(live_app, engagement.id) == before + 1
        now = catalogue_score(page)
        assert now >= score
        score = now
    assert score > 0

    # The rest from a spreadsheet: a dry run first, then the import, each with what it says.
    rest = applicable[3:]
    sheet = tmp_path / "answers.csv"
    lines = ["Control,Status,Implementation statement"]
    lines += [f"{control_id},met,{control_id} is in place and reviewed every year." for control_id in rest]
    sheet.write_text("\n".join(lines) + "\n", encoding="utf-8")
    page.goto(base)
    page.get_by_role("link", name="Import answers from a spreadsheet").click()
    page.get_by_label("Spreadsheet").set_input_files(str(sheet))
    page.get_by_role("button", name=re.compile("^Check the file")).click()
    expect(page.locator("#dry-run-summary")).to_contain_text(f"{len(rest)} answers would change; 0 rows have")
    assert saves(live_app, engagement.id) == 3  # a dry run writes nothing
    page.get_by_role("button", name=f"Import these {len(rest)} answers").click()
    expect(page.locator("#imported")).to_contain_text(f"{len(rest)} answers imported.")
    assert saves(live_app, engagement.id) == 3 + len(rest)

    # Evidence by drop on the first keyboard-answered control, described before it is sent.
    page.goto(f"{base}/controls/{keyed[0]}")
    drop(page, "access_control_policy.pdf", PDF)
    item = page.get_by_role("group", name="access_control_policy.pdf")
    expect(item.get_by_label("Title")).to_have_value("access control policy")
    assert serious_violations(page) == []  # the metadata form, before anything is sent
    item.get_by_label("Title").fill("Access control policy 2026")
    item.get_by_label("Protective marking").select_option("OFFICIAL-SENSITIVE")
    item.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#linked-evidence")).to_contain_text("Access control policy 2026")
    # Once every file is in, the page reloads and lists it with its marking.

    # The pre-submission check names what is still missing, each control linked.
    page.goto(base + "/plan")
    gaps = page.locator("#gaps")
    expect(gaps.get_by_role("link", name=re.compile(keyed[0]))).to_have_count(1)
    expect(gaps.get_by_role("link", name=re.compile(keyed[1]))).to_have_count(1)
    expect(gaps.get_by_role("link", name=re.compile(keyed[2]))).to_have_count(1)
    expect(gaps).to_contain_text(f"{keyed[0]} is marked met without an implementation statement")
    expect(gaps).to_contain_text(f"{keyed[1]} is partially met without a planned change or a target date")
    expect(gaps).to_contain_text("The risk register is empty")
    expect(gaps).to_contain_text("There is no Incident Management Process.")
    expect(gaps).to_contain_text("Name the designated security contact")

    # A refused risk (no title) keeps everything typed; giving the title alone saves it.
    page.get_by_text("Add a risk").click()
    page.get_by_label("Description").fill("Laptops holding buyer data could be lost in transit.")
    page.get_by_label("Treatment").fill("Full-disk encryption and remote wipe.")
    page.get_by_label("Owner", exact=True).fill("Head of IT")
    page.get_by_role("button", name="Add risk").click()
    expect(page).to_have_title(re.compile("^Error: "))
    expect(page.locator("#error-summary")).to_be_focused()
    expect(page.get_by_label("Treatment")).to_have_value("Full-disk encryption and remote wipe.")
    expect(page.get_by_label("Owner", exact=True)).to_have_value("Head of IT")
    page.get_by_label("Risk", exact=True).fill("Lost laptop")
    page.get_by_role("button", name="Add risk").click()
    expect(page.locator("#risks-saved")).to_contain_text("The risk was saved.")
    expect(page.locator("#risk-table")).to_contain_text("Lost laptop")

    # What the check asks of each control, through its own link: a statement for "met", a
    # planned change and a date for a gap, an answer for a control not answered yet.
    for _ in range(12):
        link = page.locator("#gaps a[href*='/controls/']").first
        if not link.count():
            break
        asked = link.inner_text()
        control_id = asked.split()[0]
        link.click()
        expect(page.locator("#control-id")).to_have_text(control_id)
        if "is not answered" in asked:
            page.locator("#status-met").check()
        if "planned change" in asked:
            page.get_by_label("If not met or partly met: the planned change").fill("Roll out by spring.")
            page.get_by_label("Target date (YYYY-MM-DD)").fill("2027-03-31")
        else:
            page.get_by_label("How you meet it (implementation statement)").fill(f"{control_id}: in place.")
        page.get_by_role("button", name="Save answer").click()
        expect(page.locator("#saved-banner")).to_be_focused()
        page.goto(base + "/plan")
        expect(page.locator("#gaps")).not_to_contain_text(asked)
    expect(page.locator("#gaps a[href*='/controls/']")).to_have_count(0)

    page.get_by_label("How incidents are detected, reported, contained and reviewed").fill(
        "The duty manager logs each incident, tells the buyer within the hour and reviews it after."
    )
    page.locator("#contact_name_0").fill("Sam Duty")
    page.locator("#contact_email_0").fill("duty@northwind.example")
    page.get_by_role("button", name="Save process").click()
    expect(page.locator("#incident-saved")).to_contain_text("The Incident Management Process was saved.")
    page.locator("#role_name_0").fill("Dana Chief")
    page.locator("#role_email_0").fill("dana@northwind.example")
    page.locator("#role_board_0").check()
    page.get_by_role("button", name="Save roles").click()
    expect(page.locator("#roles-saved")).to_contain_text("The security roles were saved.")
    expect(page.locator("#gaps")).to_have_text("Nothing missing: the plan can be submitted.")

    # Submit: the declaration left unticked is refused with the names kept; ticked, it goes.
    page.get_by_label("Board-level officer who signs off the plan").fill("Dana Chief")
    page.get_by_label("Their role on the board").fill("Chief Operating Officer")
    page.get_by_role("button", name="Submit plan version 1").click()
    expect(page).to_have_title(re.compile("^Error: "))
    expect(page.get_by_label("Board-level officer who signs off the plan")).to_have_value("Dana Chief")
    expect(page.get_by_label("Their role on the board")).to_have_value("Chief Operating Officer")
    expect(page.locator("#plan-state")).to_have_text("draft")
    page.locator("#confirmed").check()
    page.get_by_role("button", name="Submit plan version 1").click()
    submitted = page.locator("#submissions-saved")
    expect(submitted).to_be_focused()
    expect(submitted).to_contain_text("The plan was submitted to the buyer.")
    expect(page.locator("#plan-state")).to_have_text("submitted")
    expect(page.locator("#submissions")).to_contain_text("Version 1")
    expect(page.locator("#submissions")).to_contain_text("awaiting decision")
    assert serious_violations(page) == []


def test_the_import_form_without_javascript_carries_its_token_first_and_nothing_else_passes(
    app: FastAPI,
) -> None:
    """The journey found the import page refused by the CSRF check (403, "This form has
    expired") in every browser: its multipart body was not read for the token. Now it is read
    as the body's first field, like the uploads'; any other body is still refused."""
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    client, token = plain_client(app, make_person(engine, app.state.keys, "supplier_lead", supplier))
    sheet = b"Control,Status,Implementation statement\r\nCPS-1.1,met,Done\r\n"

    def body(*parts: bytes) -> bytes:
        return b"".join(parts) + END

    def sheet_part() -> bytes:
        head = '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="answers.csv"\r\n'
        return head.encode() + b"Content-Type: text/csv\r\n\r\n" + sheet + b"\r\n"

    def post(path: str, content: bytes):  # type: ignore[no-untyped-def]
        headers = {"Content-Type": "multipart/form-data; boundary=XyZ"}
        return client.post(f"/engagements/{engagement.id}/{path}", content=content, headers=headers)

    refused = {
        "no token": body(sheet_part()),
        "token after the file": body(sheet_part(), field("csrf_token", token)),
        "wrong token": body(field("csrf_token", "x" * 43), sheet_part()),
    }
    for why, content in refused.items():
        for path in ("import/check", "import"):
            response = post(path, content)
            assert response.status_code == 403, (why, path, response.status_code)
            assert "This form has expired" in response.text, why
    checked = post("import/check", body(field("csrf_token", token), sheet_part()))
    assert checked.status_code == 200, checked.text
    assert "1 answer would change; 0 rows have errors" in checked.text
    sha = checked.text.split('name="sha256" value="')[1].split('"')[0]
    done = post("import", body(field("csrf_token", token), field("sha256", sha)))
    assert done.status_code == 200 and "1 answer imported." in done.text
