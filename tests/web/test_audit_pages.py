"""Advisors and administrators browse, filter and export the audit log; others cannot."""

from __future__ import annotations

import csv
import io

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import session_scope
from app.services import audit
from tests.factories import make_engagement, make_org, make_person, sign_in


def seed(app: FastAPI, engagement_id: str, other_engagement_id: str) -> None:
    key = app.state.keys.audit
    with session_scope(app.state.engine, write=True) as session:
        audit.record(
            session,
            key,
            audit.Who(),
            "evidence_downloaded",
            object_type="evidence",
            object_id="=HYPERLINK(1)",
            engagement_id=engagement_id,
        )
        audit.record(
            session,
            key,
            audit.Who(),
            "evidence_downloaded",
            object_type="evidence",
            object_id="secret-other",
            engagement_id=other_engagement_id,
        )
        session.commit()


def test_advisor_sees_own_engagements_events_and_exports_csv(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier, other_buyer = (
        make_org(engine, "buyer"),
        make_org(engine, "supplier"),
        make_org(engine, "buyer"),
    )
    mine = make_engagement(engine, buyer, supplier)
    theirs = make_engagement(engine, other_buyer, supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    seed(app, mine.id, theirs.id)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        page = client.get("/audit", params={"action": "evidence_downloaded"})
        assert page.status_code == 200
        assert "HYPERLINK" in page.text and "secret-other" not in page.text
        export = client.get("/audit/export.csv")
        assert export.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(export.text)))
        ids = [r["object_id"] for r in rows]
        assert "'=HYPERLINK(1)" in ids  # neutralised against spreadsheet formula injection
        assert "secret-other" not in ids
        assert client.get("/audit", params={"since": "21/11/2026"}).status_code == 422


def test_suppliers_cannot_see_the_audit_log(app: FastAPI, keys) -> None:
    lead = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as client:
        sign_in(app, client, lead)
        assert client.get("/audit").status_code == 404
        assert client.get("/audit/export.csv").status_code == 404
