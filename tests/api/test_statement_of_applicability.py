"""Issue 17 item 5: the ISO/IEC 27001 Statement of Applicability (clause 6.1.3 d)) as XLSX and
as a tagged PDF: the 93 Annex A controls with their 2013 numbers, applicability and the reason
for it, implementation status and statement, and evidence."""

from __future__ import annotations

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from pypdf import PdfReader

from app.db import session_scope
from app.models import EngagementCatalogue, Risk
from tests.factories import make_engagement, make_org, make_person, sign_in


def iso_engagement(app: FastAPI) -> tuple[TestClient, str]:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier", "Northwind Ltd"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    with session_scope(engine, write=True) as session:
        session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="iso27001-2022"))
        session.add(
            Risk(
                engagement_id=engagement.id, title="Malware on laptops", control_ids="ISO-A.8.7",
                likelihood=3,
                impact=4, residual_likelihood=1, residual_impact=3, updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.commit()
    client = sign_in(app, TestClient(app), lead)
    base = f"/api/engagements/{engagement.id}/responses"
    assert (
        client.put(
            f"{base}/ISO-A.5.1", json={"status": "met", "statement": "Policy set approved by the board."}
        ).status_code
        == 200
    )
    na = {"status": "not_applicable", "justification": "No premises: the service runs in a public cloud."}
    assert client.put(f"{base}/ISO-A.7.4", json=na).status_code == 200
    return client, engagement.id


def test_the_soa_lists_the_93_annex_a_controls_with_applicability_and_why(app: FastAPI) -> None:
    client, engagement_id = iso_engagement(app)
    response = client.get(f"/api/engagements/{engagement_id}/statement-of-applicability.xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content))["Statement of Applicability"]
    header = [c.value for c in sheet[1]]
    rows = {r[0]: dict(zip(header, r, strict=True)) for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert len(rows) == 93 and all(str(k).startswith("A.") for k in rows)
    assert rows["A.5.1"]["ISO/IEC 27001:2013"] == "A.5.1.1, A.5.1.2"
    assert rows["A.5.1"]["Applicable"] == "yes" and rows["A.5.1"]["Implementation status"] == "met"
    assert rows["A.5.1"]["How it is implemented"] == "Policy set approved by the board."
    assert rows["A.7.4"]["Applicable"] == "no"
    assert rows["A.7.4"]["Why included or excluded"] == "No premises: the service runs in a public cloud."
    assert rows["A.8.7"]["Why included or excluded"] == "Treats the risks: Malware on laptops"


def test_the_soa_pdf_is_tagged_and_marked_on_every_page(app: FastAPI) -> None:
    client, engagement_id = iso_engagement(app)
    response = client.get(f"/engagements/{engagement_id}/statement-of-applicability.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    text = [page.extract_text() for page in reader.pages]
    assert all(t.count("OFFICIAL-SENSITIVE") >= 2 for t in text)
    assert "A.5.1" in text[0] and any("A.8.34" in t for t in text)


def test_an_engagement_without_iso_has_no_soa(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    response = sign_in(app, TestClient(app), lead).get(
        f"/api/engagements/{engagement.id}/statement-of-applicability.xlsx"
    )
    assert response.status_code == 404
    assert "does not assess ISO/IEC 27001:2022" in response.json()["error"]["message"]


def test_the_dashboard_links_the_soa_when_iso_is_in_scope(app: FastAPI) -> None:
    client, engagement_id = iso_engagement(app)
    page = client.get(f"/engagements/{engagement_id}")
    assert f'href="/engagements/{engagement_id}/statement-of-applicability.pdf"' in page.text
