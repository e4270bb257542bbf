"""Every page and list that looks across engagements answers in the same number of SQL
statements with 10 engagements as with 200 (issue 18 item 1): the advisor's home page, the
portfolio (sorted by a stored column and by readiness), the engagements page and API, the review
queue, notifications and the certificate lists, for the buyer advisor and for a supplier lead."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from itertools import count

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from app.db import session_scope
from app.domain.certificates import Scheme, Tier, default_expiry
from app.models import (
    Certificate,
    ControlResponse,
    Engagement,
    EngagementCatalogue,
    Evidence,
    EvidenceLink,
    Notification,
    Organisation,
    OrgKind,
    PlanCase,
    RegisterEntry,
    ResponseChange,
    Subcontractor,
    Submission,
    utcnow,
)
from tests.factories import Person, make_org, make_person, sign_in

_n = count(1)

CONTROLS = ("CPS-1.1", "CPS-1.2", "CPS-1.3", "CPS-4.1")


@contextmanager
def counting(app: FastAPI) -> Iterator[list[str]]:
    statements: list[str] = []

    def on_execute(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    event.listen(app.state.engine, "before_cursor_execute", on_execute)
    try:
        yield statements
    finally:
        event.remove(app.state.engine, "before_cursor_execute", on_execute)


def grow(engine: Engine, buyer: Organisation, home_supplier: Organisation, n: int, user_id: str) -> None:
    """`n` more engagements of `buyer`, straight into the tables: every other one with
    `home_supplier`, the rest each with a new supplier that has a sub-contractor and
    certificates; each with answers, a year of history, evidence, and (every third) a submitted
    plan awaiting a decision and a register entry; a notification for the advisor each."""
    now = utcnow()
    with session_scope(engine, write=True) as session:
        for i in range(n):
            k = next(_n)
            if i % 2:
                supplier_id = home_supplier.id
            else:
                supplier = Organisation(name=f"Grown supplier {k}", kind=OrgKind.SUPPLIER)
                session.add(supplier)
                session.flush()
                supplier_id = supplier.id
                sub = Subcontractor(supplier_org_id=supplier_id, name=f"Sub {k}", tier=Tier.HIGHER_RISK)
                session.add(sub)
                session.flush()
                for scheme, sub_id in ((Scheme.CYBER_ESSENTIALS_PLUS, sub.id), (Scheme.ISO27001, None)):
                    issued = date(2025, 1, 1) + timedelta(days=k % 200)
                    session.add(
                        Certificate(
                            supplier_org_id=supplier_id,
                            subcontractor_id=sub_id,
                            scheme=scheme,
                            body="IASME",
                            number=f"C-{k}-{scheme.value}",
                            issued_on=issued,
                            expires_on=default_expiry(scheme, issued),
                            created_by_id=user_id,
                        )
                    )
            profile = "schedule-2-4" if k % 3 else "call-off-schedule-7"
            engagement = Engagement(
                reference=f"GROWN {k:05d}",
                title=f"Service {k}",
                buyer_org_id=buyer.id,
                supplier_org_id=supplier_id,
                effective_on=date(2025, 4, 1),
                workflow_profile=profile,
            )
            session.add(engagement)
            session.flush()
            session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id="cps-security-policy"))
            evidence = Evidence(
                supplier_org_id=supplier_id,
                family_id=f"fam{k}",
                title=f"Policy {k}",
                kind="policy",
                file_name="policy.pdf",
                media_type="application/pdf",
                size=10,
                sha256=f"{k:064d}",
                uploaded_by_id=user_id,
            )
            session.add(evidence)
            session.flush()
            for j, control_id in enumerate(CONTROLS):
                status = ("met", "partially_met", "not_met", "met")[(k + j) % 4]
                session.add(
                    ControlResponse(
                        engagement_id=engagement.id,
                        control_id=control_id,
                        status=status,
                        statement="Done.",
                        updated_by_id=user_id,
                    )
                )
                session.add(
                    EvidenceLink(
                        engagement_id=engagement.id,
                        control_id=control_id,
                        evidence_id=evidence.id,
                        linked_by_id=user_id,
                    )
                )
                for month in (300, 120, 10):  # history: answered, changed, changed again
                    session.add(
                        ResponseChange(
                            engagement_id=engagement.id,
                            control_id=control_id,
                            changed_by_id=user_id,
                            changed_at=now - timedelta(days=month),
                            before=json.dumps({} if month == 300 else {"status": "not_met"}),
                            after=json.dumps({"status": status}),
                        )
                    )
            if k % 3 == 0:
                session.add(
                    Submission(
                        engagement_id=engagement.id,
                        version=1,
                        cycle=1,
                        snapshot="{}",
                        sha256="0" * 64,
                        officer_name="Dana Chief",
                        officer_role="COO",
                        submitted_by_id=user_id,
                        submitted_on=date.today() - timedelta(days=5),
                    )
                )
                session.add(PlanCase(engagement_id=engagement.id, state="submitted", cycle=1))
                session.add(
                    RegisterEntry(
                        engagement_id=engagement.id,
                        title="Patch the VPN",
                        source="manual",
                        agreed_on=date.today() - timedelta(days=3),
                        updated_by_id=user_id,
                    )
                )
            session.add(
                Notification(user_id=user_id, category="workflow_deadline", subject=f"Due {k}", link="/")
            )
        session.commit()


ADVISOR_PATHS = (
    "/",
    "/portfolio",
    "/portfolio?sort=readiness&order=desc",
    "/portfolio?sort=deadline&page=2",
    "/engagements",
    "/engagements?sort=supplier&order=desc",
    "/api/engagements",
    "/api/engagements?limit=5",
    "/reviews",
    "/api/reviews",
    "/notifications",
    "/api/notifications",
    "/api/certificates",
)
LEAD_PATHS = ("/", "/engagements", "/api/engagements", "/certificates", "/api/certificates", "/notifications")


def measure(app: FastAPI, client: TestClient, person: Person, paths: tuple[str, ...]) -> dict[str, int]:
    sign_in(app, client, person)
    client.get("/")  # warm up: catalogues, templates, the session row
    out = {}
    for path in paths:
        with counting(app) as statements:
            response = client.get(path)
        assert response.status_code == 200, (path, response.text[:300])
        out[path] = len(statements)
    return out


@pytest.fixture
def world(app: FastAPI, keys):
    engine = app.state.engine
    buyer = make_org(engine, "buyer")
    home_supplier = make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    lead = make_person(engine, keys, "supplier_lead", home_supplier)
    return engine, buyer, home_supplier, advisor, lead


def test_cross_engagement_pages_use_as_many_statements_for_200_engagements_as_for_10(
    app: FastAPI, world
) -> None:
    engine, buyer, home_supplier, advisor, lead = world
    grow(engine, buyer, home_supplier, 10, advisor.user.id)
    with TestClient(app) as client:
        few_advisor = measure(app, client, advisor, ADVISOR_PATHS)
        few_lead = measure(app, client, lead, LEAD_PATHS)
        grow(engine, buyer, home_supplier, 190, advisor.user.id)
        many_advisor = measure(app, client, advisor, ADVISOR_PATHS)
        many_lead = measure(app, client, lead, LEAD_PATHS)
    assert many_advisor == few_advisor
    assert many_lead == few_lead
