"""Dates at the edges of the calendar (issue 11, item 5).

1. Through every date field of every form and API body, the worst dates (0001-01-01,
   9999-12-31, and the days just outside the window) are refused with 422 naming the field,
   and nothing is stored.
2. The same dates planted straight into the database (rows from before the window existed)
   break no page that a supplier lead, a contributor or a buyer advisor can open, and
   `attest remind` still exits 0 and still reminds the other tenant.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from app import clock
from app.db import session_scope
from app.domain.certificates import Scheme
from app.domain.dates import EARLIEST, LATEST
from app.models import (
    Certificate,
    ChangeNotice,
    ClosureDay,
    ControlResponse,
    Decision,
    Engagement,
    Evidence,
    Notification,
    RegisterEntry,
    Submission,
)
from app.services import notifications
from tests.factories import (
    Person,
    make_certificate,
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    make_register_entry,
    sign_in,
)
from tests.test_cli import run

TODAY = clock.today()
WORST = (
    "0001-01-01",
    "9999-12-31",
    (EARLIEST - timedelta(days=1)).isoformat(),
    (LATEST + timedelta(days=1)).isoformat(),
)
PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
CONTROL = "CPS-1.1"


@dataclass
class World:
    app: FastAPI
    engine: Engine
    lead: Person
    contributor: Person
    advisor: Person
    admin: Person
    engagement: Engagement
    certificate_id: str
    entry_id: str
    evidence_id: str
    submission_id: str

    def client(self, person: Person) -> TestClient:
        return sign_in(self.app, TestClient(self.app, base_url="http://127.0.0.1:8000"), person)


@pytest.fixture
def world(app: FastAPI) -> World:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    engagement = make_engagement(engine, buyer, supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    return World(
        app=app,
        engine=engine,
        lead=lead,
        contributor=make_person(engine, keys, "supplier_contributor", supplier),
        advisor=make_person(engine, keys, "buyer_advisor", buyer),
        admin=make_person(engine, keys, "administrator"),
        engagement=engagement,
        certificate_id=make_certificate(engine, supplier, "iso27001", issued_on=TODAY - timedelta(days=30)),
        entry_id=make_register_entry(engine, engagement),
        evidence_id=make_evidence(app, engagement, lead),
        submission_id=make_decided_submission(engine, engagement, approved=False),
    )


DATED = {
    Engagement: ("effective_on",),
    ControlResponse: ("target_on",),
    RegisterEntry: ("agreed_on", "implemented_on"),
    ChangeNotice: ("aware_on", "filed_on"),
    Certificate: ("issued_on", "expires_on", "next_surveillance_on", "recertification_on"),
    Evidence: ("effective_on", "expires_on"),
    ClosureDay: ("day",),
}


def stored_dates(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table people enter dates into, by its id and its dates."""
    with session_scope(engine) as session:
        return {
            model.__name__: sorted(
                (row.id, *(getattr(row, name) for name in names)) for row in session.exec(select(model))
            )
            for model, names in DATED.items()
        }


def refused(response: Any, field: str) -> None:
    assert response.status_code == 422, (field, response.status_code, response.text[:500])
    if response.headers["content-type"].startswith("application/json"):
        details = response.json()["error"]["details"]
        named = [d["field"] for d in details] if isinstance(details, list) else list(details)
        assert field in named, (field, details)
    assert "must be between 1 January 2000 and 31 December 2100" in response.text, (
        field,
        response.text[:300],
    )


def test_worst_dates_in_every_date_field_are_refused_with_422_naming_the_field(world: World) -> None:
    w, eid = world, world.engagement.id
    before = stored_dates(w.engine)
    lead, advisor, admin = w.client(w.lead), w.client(w.advisor), w.client(w.admin)
    with lead, advisor, admin:
        buyer_id, supplier_id = w.advisor.organisation.id, w.lead.organisation.id
        for bad in WORST:
            # An engagement's effective date: the page form (re-rendered) and the API.
            form = {
                "reference": f"NEW {bad}",
                "title": "Extreme",
                "buyer_org_id": buyer_id,
                "supplier_org_id": supplier_id,
                "effective_date": bad,
                "workflow_profile": "schedule-2-4",
                "jurisdiction": "england-and-wales",
                "catalogue_ids": "cps-security-policy",
            }
            page = admin.post("/engagements/new", data=form)
            refused(page, "effective_date")
            assert "Effective date must be between 1 January 2000 and 31 December 2100." in page.text
            assert 'name="reference"' in page.text  # the form again, not an error page
            body = {**form, "catalogue_ids": ["cps-security-policy"]}
            api = admin.post("/api/engagements", json=body)
            refused(api, "effective_date")
            assert "Effective date must be between" in api.text
            # A control's target date.
            response = {"status": "not_met", "planned_change": "Fix it", "target_date": bad}
            page = lead.post(f"/engagements/{eid}/controls/{CONTROL}/response", data=response)
            refused(page, "target_date")
            assert "Target date must be between" in page.text
            refused(lead.put(f"/api/engagements/{eid}/responses/{CONTROL}", json=response), "target_date")
            # The Required Changes Register's agreed and implemented dates.
            for field, api_field, extra in (
                ("agreed_on", "agreed_date", {}),
                ("implemented_on", "implemented_date", {"status": "implemented"}),
            ):
                entry = {"title": "Patch", "entry_id": w.entry_id, field: bad, **extra}
                page = lead.post(f"/engagements/{eid}/plan/register", data=entry)
                refused(page, field)
                api = lead.post(
                    f"/api/engagements/{eid}/register", json={"title": "Patch", api_field: bad, **extra}
                )
                refused(api, api_field)
                api = lead.put(
                    f"/api/engagements/{eid}/register/{w.entry_id}",
                    json={"title": "Patch", api_field: bad, **extra},
                )
                refused(api, api_field)
            # The day the supplier became aware of a change.
            notice = {"event": "a", "description": "New hosting", "aware_on": bad}
            refused(lead.post(f"/engagements/{eid}/plan/change-notices", data=notice), "aware_on")
            api_notice = {"event": "a", "description": "New hosting", "aware_date": bad}
            refused(lead.post(f"/api/engagements/{eid}/change-notices", json=api_notice), "aware_date")
            # Certificate dates, on the page form (re-rendered), the edit form and the API.
            for field in ("issued_on", "expires_on", "next_surveillance_on", "recertification_on"):
                certificate = {
                    "scheme": "iso27001",
                    "body": "BSI",
                    "issued_on": (TODAY - timedelta(days=10)).isoformat(),
                    field: bad,
                }
                page = lead.post("/certificates", data=certificate)
                refused(page, field)
                assert "must be between 1 January 2000 and 31 December 2100" in page.text
                refused(lead.post(f"/certificates/{w.certificate_id}", data=certificate), field)
                refused(lead.post("/api/certificates", json=certificate), field)
            # Evidence dates, on the page upload and the API upload.
            for field in ("effective_on", "expires_on"):
                files = {"file": ("policy.pdf", PDF + bad.encode())}
                data = {"title": "Policy", "kind": "policy", "control_ids": CONTROL, field: bad}
                refused(lead.post(f"/engagements/{eid}/evidence", data=data, files=files), field)
                refused(lead.post(f"/api/engagements/{eid}/evidence", data=data, files=files), field)
                refused(lead.post(f"/evidence/{w.evidence_id}/versions", data=data, files=files), field)
            # A buyer's closure day.
            closure = advisor.post("/reviews/closure-days", data={"day": bad, "reason": "Closed"})
            refused(closure, "day")
            # The audit log's filters are dates too: refused, never a 500.
            for field in ("since", "until"):
                assert admin.get("/audit", params={field: bad}).status_code == 422
                assert admin.get("/audit/export.csv", params={field: bad}).status_code == 422
    assert stored_dates(w.engine) == before


def test_remind_refuses_an_as_of_day_outside_the_window(tmp_path: Path, database_url: str) -> None:
    result = run(tmp_path, "remind", "--as-of", "9999-12-31", ATTEST_DATABASE_URL=database_url)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "must be between 1 January 2000 and 31 December 2100" in result.stderr


def plant_worst_dates(w: World) -> Engagement:
    """Every stored date at the edges of the calendar, as rows written before the window existed.
    Returns a second engagement of the same parties, effective on 0001-01-01."""
    low, high = date.min, date.max
    with session_scope(w.engine, write=True) as session:
        engagement = session.get(Engagement, w.engagement.id)
        assert engagement is not None
        engagement.effective_on = high
        session.add(engagement)
        ancient = Engagement(
            reference="ANCIENT",
            title="Ancient",
            buyer_org_id=engagement.buyer_org_id,
            supplier_org_id=engagement.supplier_org_id,
            effective_on=low,
            workflow_profile="call-off-schedule-7",
        )
        session.add(ancient)
        session.flush()
        from app.models import EngagementCatalogue

        session.add(EngagementCatalogue(engagement_id=ancient.id, catalogue_id="cps-security-policy"))
        for eid, day in ((engagement.id, high), (ancient.id, low)):
            session.add(
                ControlResponse(
                    engagement_id=eid,
                    control_id=CONTROL,
                    status="not_met",
                    planned_change="Fix",
                    target_on=day,
                    updated_by_id=w.lead.user.id,
                )
            )
            session.add(
                RegisterEntry(
                    engagement_id=eid,
                    title=f"Change due {day}",
                    source="manual",
                    agreed_on=day,
                    updated_by_id=w.lead.user.id,
                )
            )
            for number, aware in enumerate((low, high), start=1):
                session.add(
                    ChangeNotice(
                        engagement_id=eid,
                        number=number,
                        event="a",
                        description="Planted",
                        aware_on=aware,
                        filed_on=day,
                        filed_by_id=w.lead.user.id,
                    )
                )
        entry = session.get(RegisterEntry, w.entry_id)
        assert entry is not None
        entry.agreed_on, entry.implemented_on, entry.status = low, high, "implemented"
        session.add(entry)
        submission = session.get(Submission, w.submission_id)
        assert submission is not None
        submission.submitted_on = high
        session.add(submission)
        for decision in session.exec(select(Decision).where(Decision.submission_id == w.submission_id)):
            decision.decided_on = high
            session.add(decision)
        second = Submission(
            engagement_id=ancient.id,
            version=1,
            cycle=1,
            snapshot="{}",
            sha256="0" * 64,
            officer_name="Dana Chief",
            officer_role="COO",
            submitted_by_id="planted",
            submitted_on=low,
        )
        session.add(second)
        certificate = session.get(Certificate, w.certificate_id)
        assert certificate is not None
        certificate.issued_on, certificate.expires_on = low, high
        certificate.next_surveillance_on, certificate.recertification_on = high, high
        session.add(certificate)
        for issued, expires in ((high, high), (low, low), (high, None)):
            session.add(
                Certificate(
                    supplier_org_id=engagement.supplier_org_id,
                    scheme=Scheme.CYBER_ESSENTIALS_PLUS,
                    body="IASME",
                    issued_on=issued,
                    expires_on=expires,
                    created_by_id="planted",
                )
            )
        evidence = session.get(Evidence, w.evidence_id)
        assert evidence is not None
        evidence.effective_on, evidence.expires_on = low, high
        session.add(evidence)
        for day in (low, high):
            session.add(ClosureDay(buyer_org_id=engagement.buyer_org_id, day=day, reason="Planted"))
        session.commit()
        return ancient


def pages_of(w: World, ancient: Engagement, feed: str) -> list[str]:
    eid, cid = w.engagement.id, w.certificate_id
    urls = ["/", "/engagements", "/certificates", "/portfolio", "/notifications", "/notifications/calendar"]
    urls += ["/reviews", "/evidence", f"/evidence/{w.evidence_id}", f"/certificates/{cid}"]
    urls += [f"/certificates/{cid}/edit", f"/submissions/{w.submission_id}", feed, "/api/certificates"]
    urls += [f"/api/certificates/{cid}", "/api/engagements", "/api/reviews", "/api/me"]
    for e in (eid, ancient.id):
        urls += [f"/engagements/{e}", f"/engagements/{e}/plan", f"/engagements/{e}/scoping"]
        urls += [f"/engagements/{e}/catalogues/cps-security-policy", f"/engagements/{e}/controls/{CONTROL}"]
        urls += [f"/api/engagements/{e}", f"/api/engagements/{e}/plan", f"/api/engagements/{e}/deadlines"]
        urls += [f"/api/engagements/{e}/readiness", f"/api/engagements/{e}/submissions"]
        urls += [f"/api/engagements/{e}/change-notices"]
    return urls


def test_worst_dates_already_stored_break_no_page_and_no_reminder_run(
    world: World, tmp_path: Path, database_url: str
) -> None:
    w = world
    # Another tenant with an ordinary certificate expiring in 7 days: it must still be reminded.
    other_buyer, other_supplier = make_org(w.engine, "buyer"), make_org(w.engine, "supplier")
    make_engagement(w.engine, other_buyer, other_supplier)
    other_lead = make_person(w.engine, w.app.state.keys, "supplier_lead", other_supplier)
    make_certificate(
        w.engine,
        other_supplier,
        "cyber_essentials_plus",
        issued_on=TODAY - timedelta(days=358),
        expires_on=TODAY + timedelta(days=7),
    )
    ancient = plant_worst_dates(w)
    must_see = {
        "lead": [
            "/",
            "/engagements",
            f"/engagements/{w.engagement.id}",
            f"/engagements/{w.engagement.id}/plan",
        ],
        "advisor": ["/", "/reviews", "/portfolio", f"/engagements/{w.engagement.id}/plan"],
    }
    for role, person in (("lead", w.lead), ("contributor", w.contributor), ("advisor", w.advisor)):
        with session_scope(w.engine, write=True) as session:
            token = notifications.new_feed(session, person.user.id)
            session.commit()
        feed = f"/calendar/{token}.ics"
        with w.client(person) as client:
            for url in pages_of(w, ancient, feed):
                status = client.get(url).status_code
                assert status < 500, (role, url, status)
                if url in must_see.get(role, []) or url == feed:
                    assert status == 200, (role, url, status)
    result = run(tmp_path, "remind", "--json", ATTEST_DATABASE_URL=database_url)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout)
    assert summary["ran"] and summary["recorded"] > 0 and summary["skipped"] == []
    with session_scope(w.engine) as session:
        told = session.exec(select(Notification).where(Notification.user_id == other_lead.user.id)).all()
    assert any("expires in 7 days" in n.subject for n in told)
