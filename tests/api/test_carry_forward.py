"""Issue 17 item 3: start the annual review from last year's answers. The review is the next
submission of the same engagement (its contract years run on), so the approved answers are its
starting point; starting it marks the evidence past its expiry or older than 12 months for
renewal, lists the changes since the approved version, and is audited once per contract year."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app import clock
from app.db import session_scope
from app.domain.submissions import canonical, fingerprint
from app.models import AuditEvent, Decision, Engagement, Evidence, Organisation, PlanCase, Submission
from app.services import approvals
from tests.factories import Person, csrf_token, make_engagement, make_evidence, make_org, make_person, sign_in


@dataclass
class Reviewed:
    engagement: Engagement
    lead: Person
    client: TestClient
    expired: str
    old: str
    fresh: str


def approve_as_it_stands(app: FastAPI, engagement: Engagement) -> None:
    """Freeze the plan as it stands as version 1 and approve it (straight into the tables)."""
    with session_scope(app.state.engine, write=True) as session:
        data, _gaps = approvals.snapshot(session, app.state.library, engagement)
        data.update({"version": 1, "cycle": 1, "submitted_on": "2025-08-01"})
        submission = Submission(
            engagement_id=engagement.id, version=1, cycle=1, snapshot=canonical(data).decode(),
            sha256=fingerprint(data), officer_name="Dana Chief", officer_role="COO",
            submitted_by_id="factory", submitted_on=date(2025, 8, 1),
        )  # fmt: skip
        session.add(submission)
        session.flush()
        session.add(
            Decision(
                submission_id=submission.id, engagement_id=engagement.id, number="ISAS-2025-0042",
                approved=True, advisor_id="factory", advisor_name="Alex Advisor",
                advisor_role="Security advisor", decided_on=date(2025, 8, 20),
            )
        )  # fmt: skip
        session.add(PlanCase(engagement_id=engagement.id, state="approved", cycle=1))
        session.commit()


def reviewed(app: FastAPI, *, approved: bool = True) -> Reviewed:
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    client = sign_in(app, TestClient(app), lead)
    base = f"/api/engagements/{engagement.id}/responses"
    for control, statement in (("CPS-1.1", "Vetted to BPSS."), ("CPS-1.2", "Policy reviewed.")):
        assert (
            client.put(f"{base}/{control}", json={"status": "met", "statement": statement}).status_code == 200
        )
    today = clock.today()
    expired = make_evidence(
        app, engagement, lead, title="Pen test report", control_ids=("CPS-1.1",),
        expires_on=(today - timedelta(days=5)).isoformat(),
    )  # fmt: skip
    old = make_evidence(app, engagement, lead, title="Vetting policy", control_ids=("CPS-1.2",))
    fresh = make_evidence(app, engagement, lead, title="Training log", control_ids=("CPS-1.2",))
    with session_scope(engine, write=True) as session:
        row = session.get(Evidence, old)
        assert row is not None
        row.effective_on = today - timedelta(days=400)
        session.add(row)
        session.commit()
    if approved:
        approve_as_it_stands(app, engagement)
    return Reviewed(engagement, lead, client, expired, old, fresh)


def review_events(app: FastAPI, engagement_id: str) -> list[dict[str, object]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(
                AuditEvent.engagement_id == engagement_id, AuditEvent.action == "annual_review_started"
            )
        )
        return [json.loads(e.details) for e in rows]


def test_starting_the_review_marks_expired_and_old_evidence_and_shows_the_changes(app: FastAPI) -> None:
    r = reviewed(app)
    changed = {"status": "met", "statement": "Vetted to BPSS, and to SC for administrators."}
    put = r.client.put(f"/api/engagements/{r.engagement.id}/responses/CPS-1.1", json=changed)
    assert put.status_code == 200
    started = r.client.post(f"/api/engagements/{r.engagement.id}/annual-review")
    assert started.status_code == 200, started.text
    body = started.json()
    assert body["baseline"]["version"] == 1 and body["baseline"]["isas"] == "ISAS-2025-0042"
    assert body["marked_controls"] == ["CPS-1.1", "CPS-1.2"]
    reasons = {x["evidence_id"]: x["reason"] for x in body["renewals"]}
    assert set(reasons) == {r.expired, r.old}  # the training log is recent: not marked
    assert reasons[r.expired].startswith("expired on") and reasons[r.old].startswith("older than 12 months")
    assert any(
        c["key"] == "CPS-1.1: statement" and "SC for administrators" in c["after"] for c in body["changes"]
    )
    assert body["started"]["by"] == "Supplier Lead" and len(body["started"]["marked"]) == 2
    events = review_events(app, r.engagement.id)
    assert len(events) == 1 and events[0]["contract_year"] == body["contract_year"]
    assert events[0]["baseline_version"] == 1 and len(events[0]["marked"]) == 2  # type: ignore[arg-type]


def test_the_review_starts_once_a_year_and_only_from_an_approved_plan(app: FastAPI) -> None:
    r = reviewed(app)
    url = f"/api/engagements/{r.engagement.id}/annual-review"
    assert r.client.post(url).status_code == 200
    again = r.client.post(url)
    assert again.status_code == 409 and "was started on" in again.json()["error"]["message"]
    assert len(review_events(app, r.engagement.id)) == 1
    draft = reviewed(app, approved=False)
    refused = draft.client.post(f"/api/engagements/{draft.engagement.id}/annual-review")
    assert refused.status_code == 409 and "no approved version" in refused.json()["error"]["message"]
    assert review_events(app, draft.engagement.id) == []


def test_only_the_lead_starts_it_and_other_tenants_get_404(app: FastAPI) -> None:
    r = reviewed(app)
    engine, keys = app.state.engine, app.state.keys
    url = f"/api/engagements/{r.engagement.id}/annual-review"
    contributor = sign_in(
        app, TestClient(app), make_person(engine, keys, "supplier_contributor", r.lead.organisation)
    )
    assert contributor.get(url).status_code == 200
    refused = contributor.post(url)
    assert refused.status_code == 404  # refused as if it did not exist, and audited
    stranger = sign_in(app, TestClient(app), make_person(engine, keys, "supplier_lead"))
    assert stranger.get(url).status_code == 404 and stranger.post(url).status_code == 404
    assert review_events(app, r.engagement.id) == []


def test_a_new_version_of_the_file_takes_the_control_off_the_list(app: FastAPI) -> None:
    r = reviewed(app)
    with session_scope(app.state.engine, write=True) as session:
        row = session.get(Evidence, r.expired)
        assert row is not None
        row.expires_on = clock.today() + timedelta(days=365)  # as if renewed in place
        session.add(row)
        session.commit()
    body = r.client.get(f"/api/engagements/{r.engagement.id}/annual-review").json()
    assert body["marked_controls"] == ["CPS-1.2"] and body["started"] is None


def test_the_page_starts_the_review_with_a_banner_and_the_buyer_reads_it(app: FastAPI) -> None:
    r = reviewed(app)
    page = f"/engagements/{r.engagement.id}/annual-review"
    shown = r.client.get(page)
    assert shown.status_code == 200 and 'id="start-review"' in shown.text
    assert "Pen test report" in shown.text and "ISAS-2025-0042" in shown.text
    plan = r.client.get(f"/engagements/{r.engagement.id}/plan")
    assert f'href="{page}"' in plan.text and 'id="plan-pdf"' in plan.text
    posted = r.client.post(page, data={"csrf_token": csrf_token(app, r.client)}, follow_redirects=False)
    assert posted.status_code == 303 and posted.headers["location"].endswith("?started=yes#review-started")
    after = r.client.get(page + "?started=yes")
    assert "2 pieces of evidence marked for renewal" in after.text and 'id="start-review"' not in after.text
    refused = r.client.post(page, data={"csrf_token": csrf_token(app, r.client)})
    assert refused.status_code == 409 and "was started on" in refused.text
    with session_scope(app.state.engine) as session:
        buyer = session.get(Organisation, r.engagement.buyer_org_id)
    advisor = sign_in(
        app, TestClient(app), make_person(app.state.engine, app.state.keys, "buyer_advisor", buyer)
    )
    read = advisor.get(page)
    assert read.status_code == 200 and 'id="start-review"' not in read.text and "Started on" in read.text
    with session_scope(app.state.engine) as session:
        count = session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "annual_review_started")
        ).one()
    assert count == 1
