"""Issue 17 item 4: the Security Management Plan as one document, the way the buyer reviews it.
The PDF is opened with pypdf: its text carries the plan's values, the marking is at the top and
the foot of every page, and it is tagged (a structure tree, PDF/UA-1)."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from app.db import session_scope
from app.domain.submissions import fingerprint
from app.models import (
    AuditEvent,
    Engagement,
    Evidence,
    IncidentProcess,
    Organisation,
    RegisterEntry,
    Risk,
    SecurityRole,
)
from app.services import approvals
from tests.api.test_carry_forward import approve_as_it_stands
from tests.factories import (
    Person,
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    sign_in,
)


@dataclass
class Plan:
    engagement: Engagement
    lead: Person
    client: TestClient
    sha256: str


def filled_plan(app: FastAPI) -> Plan:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier", "Northwind Data Ltd"))
    engagement = make_engagement(
        engine, make_org(engine, "buyer", "Department for Ledgers"), lead.organisation
    )
    with session_scope(engine, write=True) as session:
        session.add(
            Risk(
                engagement_id=engagement.id, title="Laptop theft", control_ids="CPS-1.1",
                likelihood=4, impact=5, residual_likelihood=2, residual_impact=3,
                treatment="Full-disk encryption", owner="IT manager", updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.add(
            RegisterEntry(
                engagement_id=engagement.id, title="Replace the VPN gateway", source="manual",
                updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.add(
            IncidentProcess(
                engagement_id=engagement.id, document="Call the duty officer, then the buyer.",
                report_loss_hours=12, trace_loss_hours=24, updated_by_id=lead.user.id,
            )
        )  # fmt: skip
        session.add(
            SecurityRole(
                engagement_id=engagement.id, kind="designated_security_contact", name="Priya Shah",
                email="priya@example.com",
            )
        )  # fmt: skip
        session.commit()
    client = sign_in(app, TestClient(app), lead)
    answer = {"status": "met", "statement": "Staff are vetted to BPSS before they start."}
    assert client.put(f"/api/engagements/{engagement.id}/responses/CPS-1.1", json=answer).status_code == 200
    make_evidence(app, engagement, lead, title="Vetting procedure", control_ids=("CPS-1.1",))
    with session_scope(engine) as session:
        data, _gaps = approvals.snapshot(session, app.state.library, engagement)
    return Plan(engagement, lead, client, fingerprint(data))


def pages_of(content: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


def test_the_draft_plan_prints_every_part_with_the_live_hash(app: FastAPI) -> None:
    plan = filled_plan(app)
    response = plan.client.get(f"/api/engagements/{plan.engagement.id}/plan.pdf")
    assert response.status_code == 200 and response.headers["content-type"] == "application/pdf"
    assert "draft" in response.headers["content-disposition"]
    reader, pages = pages_of(response.content)
    assert "/StructTreeRoot" in reader.trailer["/Root"]
    assert len(pages) >= 4 and all(p.count("OFFICIAL-SENSITIVE") >= 2 for p in pages)
    text = " ".join(" ".join(pages).split())
    cover = " ".join(pages[0].split())
    assert "Northwind Data Ltd" in cover and "Department for Ledgers" in cover
    assert plan.engagement.reference in cover and "Draft: not submitted" in cover
    assert plan.sha256 in pages[0]
    assert "Priya Shah" in cover
    assert "Readiness" in text and "CPS Security Policy" in text
    assert "Staff are vetted to BPSS before they start." in text
    assert "Laptop theft" in text and "4 \u00d7 5 = 20" in text and "2 \u00d7 3 = 6" in text
    assert "Inherent risk" in text and "Residual risk" in text
    assert "Replace the VPN gateway" in text and "not agreed" in text
    assert "Call the duty officer, then the buyer." in text and "within 12 hours" in text
    assert "Vetting procedure (version 1)" in text


def test_a_submitted_plan_carries_the_submissions_hash_and_the_download_is_audited(app: FastAPI) -> None:
    plan = filled_plan(app)
    make_decided_submission(app.state.engine, plan.engagement, approved=True)
    with session_scope(app.state.engine) as session:
        submitted = approvals.submissions(session, plan.engagement.id)[-1]
    response = plan.client.get(f"/engagements/{plan.engagement.id}/plan.pdf")
    assert response.status_code == 200
    _reader, pages = pages_of(response.content)
    cover = " ".join(pages[0].split())
    assert "version 1, submitted 10 September 2024" in cover
    assert submitted.sha256 in pages[0]
    # the factory's snapshot is not this plan: the document says it prints the plan as it stands
    assert "which has changed since version 1" in cover and plan.sha256 in pages[0]
    with session_scope(app.state.engine) as session:
        events = list(session.exec(select(AuditEvent).where(AuditEvent.action == "engagement_exported")))
    details = [json.loads(e.details) for e in events if e.engagement_id == plan.engagement.id]
    assert details[-1]["what"] == "security_management_plan" and details[-1]["sha256"] == submitted.sha256


def test_the_buyers_advisor_reads_it_and_other_tenants_get_404(app: FastAPI) -> None:
    plan = filled_plan(app)
    engine, keys = app.state.engine, app.state.keys
    with session_scope(engine) as session:
        own_buyer = session.get(Organisation, plan.engagement.buyer_org_id)
    advisor = make_person(engine, keys, "buyer_advisor", own_buyer)
    stranger = make_person(engine, keys, "buyer_advisor", make_org(engine, "buyer"))
    other_supplier = make_person(engine, keys, "supplier_lead")
    url = f"/api/engagements/{plan.engagement.id}/plan.pdf"
    assert sign_in(app, TestClient(app), advisor).get(url).status_code == 200
    for outsider in (stranger, other_supplier):
        refused = sign_in(app, TestClient(app), outsider).get(url)
        assert refused.status_code == 404 and "%PDF" not in refused.text
    assert TestClient(app).get(url).status_code == 401


def test_the_evidence_index_is_made_from_the_records_without_opening_a_file(app: FastAPI) -> None:
    """Bounded memory: the document reads each file's record (title, SHA-256, dates), never its
    bytes, so it prints the same with the evidence store emptied."""
    plan = filled_plan(app)
    with session_scope(app.state.engine) as session:
        (evidence,) = session.exec(
            select(Evidence).where(Evidence.supplier_org_id == plan.lead.organisation.id)
        )
    stored = [p for p in app.state.settings.evidence_dir.rglob("*") if p.is_file()]
    assert stored
    for path in stored:
        path.unlink()
    response = plan.client.get(f"/api/engagements/{plan.engagement.id}/plan.pdf")
    assert response.status_code == 200
    _reader, pages = pages_of(response.content)
    assert evidence.sha256 in pages[-1].replace("\n", "")


def test_a_plan_unchanged_since_its_submission_says_so(app: FastAPI) -> None:
    plan = filled_plan(app)
    approve_as_it_stands(app, plan.engagement)
    url = f"/api/engagements/{plan.engagement.id}/plan.pdf"
    cover = " ".join(pages_of(plan.client.get(url).content)[1][0].split())
    assert "Prints version 1: nothing has changed since it was submitted." in cover
    edit = {"status": "met", "statement": "Staff are vetted to BPSS and, for administrators, SC."}
    assert (
        plan.client.put(f"/api/engagements/{plan.engagement.id}/responses/CPS-1.1", json=edit).status_code
        == 200
    )
    _reader, pages = pages_of(plan.client.get(url).content)
    assert "has changed since version 1" in " ".join(pages[0].split())
    assert "for administrators, SC." in " ".join(" ".join(pages).split())
