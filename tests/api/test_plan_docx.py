"""Issue 17 item 4: the Security Management Plan as a Word document, from the same content as
the PDF. The DOCX is opened with python-docx: the parts are real Word headings, and the
parties, the version's SHA-256, a risk, a control's answer and an evidence file's SHA-256 are in
it; the download is authorised and audited as the PDF's is."""

from __future__ import annotations

import io
import json

from docx import Document
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, Evidence, Organisation
from tests.api.test_plan_document import filled_plan
from tests.factories import make_org, make_person, sign_in

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def cells_of(document: object) -> list[list[list[str]]]:
    return [[[c.text for c in row.cells] for row in t.rows] for t in document.tables]  # type: ignore[attr-defined]


def test_the_plan_as_docx_has_word_headings_and_the_plans_values(app: FastAPI) -> None:
    plan = filled_plan(app)
    response = plan.client.get(f"/api/engagements/{plan.engagement.id}/plan.docx")
    assert response.status_code == 200 and response.headers["content-type"] == DOCX
    assert 'draft.docx"' in response.headers["content-disposition"]
    document = Document(io.BytesIO(response.content))
    headings = [
        (p.style.name, p.text) for p in document.paragraphs if p.style.name.startswith(("Heading", "Title"))
    ]
    assert ("Title", "Security Management Plan") in headings
    level_one = [text for style, text in headings if style == "Heading 1"]
    assert level_one[:3] == [
        "Security roles",
        "Readiness summary",
        "Information Assurance Assessment: responses by catalogue",
    ]
    assert "Risk register (1)" in level_one and "Required Changes Register (1)" in level_one
    assert "Incident Management Process" in level_one and "Evidence index (1)" in level_one
    assert any(style == "Heading 2" and text.startswith("CPS Security Policy") for style, text in headings)
    tables = cells_of(document)
    cover = {row[0]: row[1] for row in tables[0]}
    assert cover["Buyer"] == "Department for Ledgers" and cover["Supplier"] == "Northwind Data Ltd"
    assert cover["Contract"].startswith(plan.engagement.reference)
    assert cover["Plan SHA-256"] == plan.sha256 and cover["Plan"].startswith("Draft: not submitted")
    rows = [row for table in tables for row in table]
    assert [
        "Designated security contact (Schedule 2.4 para 3.5)",
        "Priya Shah",
        "priya@example.com",
        "",
    ] in rows
    risk = next(row for row in rows if row[0].startswith("Laptop theft"))
    assert risk[1:] == ["CPS-1.1", "4 \u00d7 5 = 20", "Full-disk encryption", "IT manager", "2 \u00d7 3 = 6"]
    answer = next(row for row in rows if row[0].startswith("CPS-1.1\n"))
    assert answer[1] == "met" and answer[2] == "Staff are vetted to BPSS before they start."
    assert answer[4] == "Vetting procedure (v1)"
    entry = next(row for row in rows if row[0].startswith("Replace the VPN gateway"))
    assert entry[1:] == ["manual", "", "not agreed", "", "planned"]
    with session_scope(app.state.engine) as session:
        (evidence,) = session.exec(
            select(Evidence).where(Evidence.supplier_org_id == plan.lead.organisation.id)
        )
    indexed = next(row for row in rows if row[0].startswith("Vetting procedure (version 1)"))
    assert indexed[1] == "CPS-1.1" and indexed[4] == evidence.sha256
    # the heat maps as tables: the one risk sits at impact 5, likelihood 4 (inherent)
    heat = next(t for t in tables if t[0][0] == "Risks per cell")
    assert heat[1] == ["Impact 5", "0", "0", "0", "1", "0"]
    assert "Call the duty officer, then the buyer." in [p.text for p in document.paragraphs]
    section = document.sections[0]
    assert section.header.paragraphs[0].text == "OFFICIAL-SENSITIVE"
    assert section.footer.paragraphs[0].text.startswith("OFFICIAL-SENSITIVE")
    assert document.core_properties.subject == f"SHA-256 {plan.sha256}"
    # the header row of every table repeats on each page and is read as headers
    assert all(t.rows[0]._tr.trPr is not None for t in document.tables[1:])


def test_the_docx_download_is_audited_and_refused_to_other_tenants(app: FastAPI) -> None:
    plan = filled_plan(app)
    engine, keys = app.state.engine, app.state.keys
    page = plan.client.get(f"/engagements/{plan.engagement.id}/plan.docx")
    assert page.status_code == 200 and page.headers["content-type"] == DOCX
    with session_scope(engine) as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "engagement_exported")))
    details = [json.loads(e.details) for e in events if e.engagement_id == plan.engagement.id]
    assert details[-1] == {
        "format": "docx",
        "what": "security_management_plan",
        "version": "draft",
        "sha256": plan.sha256,
    }
    with session_scope(engine) as session:
        own_buyer = session.get(Organisation, plan.engagement.buyer_org_id)
    advisor = make_person(engine, keys, "buyer_advisor", own_buyer)
    url = f"/api/engagements/{plan.engagement.id}/plan.docx"
    assert sign_in(app, TestClient(app), advisor).get(url).status_code == 200
    for outsider in (
        make_person(engine, keys, "buyer_advisor", make_org(engine, "buyer")),
        make_person(engine, keys, "supplier_lead"),
    ):
        refused = sign_in(app, TestClient(app), outsider).get(url)
        assert refused.status_code == 404 and not refused.content.startswith(b"PK")
    assert TestClient(app).get(url).status_code == 401
    plan_page = plan.client.get(f"/engagements/{plan.engagement.id}/plan")
    assert f"/engagements/{plan.engagement.id}/plan.docx" in plan_page.text
