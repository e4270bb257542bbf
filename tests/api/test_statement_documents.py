"""Issue 16 item 5: the ISAS and the rejection notice as documents that stand up. The PDF is
tagged (PDF/UA-1: a structure tree, marked content), carries OFFICIAL-SENSITIVE at the top and
the foot of every page, uses one font family, and ends with the advisor's signature block; the
HTML version has landmarks."""

from __future__ import annotations

import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader

from app.db import session_scope
from app.models import Decision
from tests.factories import make_decided_submission, make_engagement, make_org, make_person, sign_in

LONG_REASONS = "\n\n".join(
    f"Paragraph {n}: the plan does not say how removable media are controlled at the second site, "
    "nor who approves exceptions, nor how the approval is recorded and reviewed each quarter."
    for n in range(60)
)


def test_a_rejection_notice_pdf_is_tagged_marked_on_every_page_in_one_font_and_signed(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(
        engine, make_org(engine, "buyer", "Crown Prosecution Service"), lead.organisation
    )
    submission_id = make_decided_submission(engine, engagement)
    with session_scope(engine, write=True) as session:
        decision = session.query(Decision).filter_by(submission_id=submission_id).one()
        decision.reasons = LONG_REASONS  # long enough for several pages
        session.commit()
    client = sign_in(app, TestClient(app), lead)

    response = client.get(f"/api/submissions/{submission_id}/statement.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    catalog = reader.trailer["/Root"]
    assert "/StructTreeRoot" in catalog and catalog["/MarkInfo"]["/Marked"]
    assert len(reader.pages) >= 2
    for page in reader.pages:
        assert page.extract_text().count("OFFICIAL-SENSITIVE") >= 2  # top and foot
    families = set()
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            name = str(font.get_object()["/BaseFont"]).split("+")[-1]
            families.add(name.removesuffix("-Bold").removesuffix("-Oblique"))
    assert families == {"DejaVu-Sans"}  # regular and bold of one family; no mono, no fallback
    last = reader.pages[-1].extract_text()
    assert "Signed for the buyer" in last and "Alex Advisor, Security advisor" in last


def test_the_html_statement_has_landmarks(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    submission_id = make_decided_submission(engine, engagement, approved=True)
    page = sign_in(app, TestClient(app), lead).get(f"/submissions/{submission_id}/statement")
    assert page.status_code == 200
    for landmark in ("<header>", "<main>", "<footer>", 'aria-label="Signature"'):
        assert landmark in page.text
