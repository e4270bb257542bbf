"""Everything a person does in the browser, done by scripts with personal access tokens alone:
an administrator opens the engagement; the supplier lead scopes it, answers, uploads and links
evidence, keeps the sub-contractors and certificates, writes the plan and submits it; the buyer
advisor keeps office closure days, reads the queue, comments, rejects and approves; the lead
downloads the statement and reads notifications. No session cookie, no page, no CSRF token."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app import clock
from app.db import session_scope
from app.http.auth import session_cookie_name
from app.models import AuditEvent
from tests.api.test_approval_story import DECLARATION, fill_plan
from tests.api.test_tokens import new_token
from tests.factories import make_org, make_person

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def script(app: FastAPI, person) -> TestClient:
    client = TestClient(app, base_url="http://127.0.0.1:8000")
    client.headers["Authorization"] = f"Bearer {new_token(app, person)[1]}"
    return client


def next_weekday(after: int) -> str:
    day = clock.today() + timedelta(days=after)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def test_the_whole_journey_runs_through_the_api(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name="Northwind Ltd")
    admin = script(app, make_person(engine, keys, "administrator"))
    lead = script(app, make_person(engine, keys, "supplier_lead", supplier))
    advisor = script(app, make_person(engine, keys, "buyer_advisor", buyer))

    created = admin.post(
        "/api/engagements",
        json={
            "reference": "CPS-API-1",
            "title": "Case file hosting",
            "buyer_org_id": buyer.id,
            "supplier_org_id": supplier.id,
            "effective_date": clock.today().isoformat(),
            "workflow_profile": "schedule-2-4",
            "catalogue_ids": ["cps-security-policy"],
        },
    )
    assert created.status_code == 201, created.text
    eid = created.json()["id"]
    assert [e["id"] for e in lead.get("/api/engagements").json()] == [eid]
    assert [e["id"] for e in advisor.get("/api/engagements").json()] == [eid]

    # the supplier lead: scoping, answers, evidence, sub-contractors, certificates, the plan
    scoped = lead.put(f"/api/engagements/{eid}/scoping", json={"answers": {"uses_removable_media": True}})
    assert scoped.status_code == 200 and scoped.json()["answers"]["uses_removable_media"] is True
    fill_plan(lead, app, eid)
    uploaded = lead.post(
        f"/api/engagements/{eid}/evidence",
        files={"file": ("policy.pdf", PDF, "application/pdf")},
        data={"title": "Information security policy"},
    )
    assert uploaded.status_code == 201, uploaded.text
    evidence_id = uploaded.json()["id"]
    linked = lead.post(
        f"/api/engagements/{eid}/responses/CPS-1.1/evidence", json={"evidence_id": evidence_id}
    )
    assert linked.status_code == 200 and [e["id"] for e in linked.json()["evidence"]] == [evidence_id]
    assert [i["id"] for i in lead.get("/api/evidence").json()["items"]] == [evidence_id]
    sub = lead.post("/api/subcontractors", json={"name": "Harbour Data Ltd", "tier": "higher_risk"})
    assert sub.status_code == 201, sub.text
    issued = (clock.today() - timedelta(days=30)).isoformat()
    for holder in ("", sub.json()["id"]):
        cert = lead.post(
            "/api/certificates",
            json={"scheme": "cyber_essentials_plus", "holder": holder, "body": "IASME", "issued_on": issued},
        )
        assert cert.status_code == 201, cert.text
    changed = lead.put(
        f"/api/certificates/{cert.json()['id']}",
        json={
            "scheme": "cyber_essentials_plus",
            "holder": sub.json()["id"],
            "body": "IASME Ltd",
            "issued_on": issued,
        },
    )
    assert changed.status_code == 200 and changed.json()["body"] == "IASME Ltd"
    assert lead.get(f"/api/engagements/{eid}/readiness").status_code == 200

    # the buyer advisor keeps a closure day; a supplier may not
    day = next_weekday(20)
    closed = advisor.post("/api/closure-days", json={"day": day, "reason": "Office move"})
    assert closed.status_code == 201, closed.text
    assert [c["day"] for c in advisor.get("/api/closure-days").json()["closure_days"]] == [day]
    assert lead.post("/api/closure-days", json={"day": day, "reason": "x"}).status_code == 403

    # submit, reject with a reason, revise, resubmit, approve
    v1 = lead.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert v1.status_code == 201, v1.text
    v1_id = v1.json()["id"]
    assert [r["submission_id"] for r in advisor.get("/api/reviews").json()["reviews"]] == [v1_id]
    comment = {"control_id": "CPS-1.1", "body": "Which version of the policy is this?"}
    assert advisor.post(f"/api/submissions/{v1_id}/comments", json=comment).status_code == 201
    rejected = advisor.post(
        f"/api/submissions/{v1_id}/decision",
        json={
            "decision": "reject",
            "reasons": "Policy version unclear.",
            "control_reasons": {"CPS-1.1": "Say which."},
        },
    )
    assert rejected.status_code == 200 and rejected.json()["plan_state"] == "rejected"
    revised = lead.put(
        f"/api/engagements/{eid}/responses/CPS-1.1", json={"status": "met", "statement": "Policy v3, May."}
    )
    assert revised.status_code == 200, revised.text
    v2 = lead.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert v2.status_code == 201 and v2.json()["version"] == 2
    diff = advisor.get(f"/api/submissions/{v2.json()['id']}/diff").json()["changes"]
    assert any(c["key"] == "CPS-1.1: statement" and c["after"] == "Policy v3, May." for c in diff)
    approved = advisor.post(
        f"/api/submissions/{v2.json()['id']}/decision",
        json={"decision": "approve", "residual_risks_accepted": True, "acknowledge_outstanding": True},
    )
    assert approved.status_code == 200 and approved.json()["plan_state"] == "approved", approved.text
    pdf = lead.get(f"/api/submissions/{v2.json()['id']}/statement.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert lead.get(f"/api/engagements/{eid}/deadlines").status_code == 200

    # notifications, and tidying up
    notes = lead.get("/api/notifications")
    assert notes.status_code == 200
    assert lead.post("/api/notifications/read-all").status_code in (200, 204)
    closure_id = advisor.get("/api/closure-days").json()["closure_days"][0]["id"]
    assert advisor.delete(f"/api/closure-days/{closure_id}").status_code == 204
    assert advisor.get("/api/closure-days").json()["closure_days"] == []
    withdrawn = lead.post(f"/api/certificates/{cert.json()['id']}/withdraw")
    assert withdrawn.status_code == 200, withdrawn.text
    assert lead.delete(f"/api/subcontractors/{sub.json()['id']}").status_code == 200

    with session_scope(engine) as session:
        actions = {e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))}
    assert {
        "engagement_created",
        "scoping_answered",
        "response_saved",
        "evidence_uploaded",
        "evidence_linked",
        "subcontractor_added",
        "certificate_added",
        "certificate_updated",
        "closure_day_added",
        "plan_submitted",
        "review_comment_added",
        "plan_rejected",
        "plan_approved",
        "statement_downloaded",
        "closure_day_removed",
        "certificate_withdrawn",
        "subcontractor_removed",
    } <= actions, actions
    session_cookie = session_cookie_name(app.state.settings)
    assert all(session_cookie not in c.cookies for c in (admin, lead, advisor))  # never signed in
