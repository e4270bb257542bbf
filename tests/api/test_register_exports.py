"""Issue 17 item 1, the registers: the advisor's portfolio, the certificate register and the
evidence library as spreadsheets, each holding only what the caller may read on its page."""

from __future__ import annotations

import csv
import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent
from tests.factories import make_certificate, make_engagement, make_evidence, make_org, make_person, sign_in


def world(app: FastAPI) -> dict[str, object]:
    engine, keys = app.state.engine, app.state.keys
    buyer, other_buyer = make_org(engine, "buyer", "Crown Prosecution Service"), make_org(engine, "buyer")
    supplier, stranger = (
        make_org(engine, "supplier", "Northwind Ltd"),
        make_org(engine, "supplier", "Elsewhere Ltd"),
    )
    engagement = make_engagement(engine, buyer, supplier)
    make_engagement(engine, other_buyer, stranger)
    mine = make_certificate(engine, supplier, scheme="cyber_essentials_plus")
    theirs = make_certificate(engine, stranger, scheme="iso27001")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    return {
        "lead": sign_in(app, TestClient(app), lead),
        "advisor": sign_in(app, TestClient(app), make_person(engine, keys, "buyer_advisor", buyer)),
        "mine": mine,
        "theirs": theirs,
        "lead_person": lead,
        "supplier": supplier,
        "engagement": engagement,
    }


def sheet_rows(content: bytes, name: str) -> list[dict[str, object]]:
    sheet = load_workbook(io.BytesIO(content))[name]
    header = [c.value for c in sheet[1]]
    return [dict(zip(header, row, strict=True)) for row in sheet.iter_rows(min_row=2, values_only=True)]


def test_the_certificate_register_holds_only_the_callers_suppliers(app: FastAPI) -> None:
    w = world(app)
    for client in (w["lead"], w["advisor"]):
        assert isinstance(client, TestClient)
        response = client.get("/api/exports/certificates.xlsx")
        assert response.status_code == 200
        rows = sheet_rows(response.content, "Certificates")
        assert [r["Supplier"] for r in rows] == ["Northwind Ltd"]
        assert rows[0]["Scheme"] == "Cyber Essentials Plus"


def test_the_portfolio_is_the_advisors_and_refused_to_a_supplier(app: FastAPI) -> None:
    w = world(app)
    advisor, lead = w["advisor"], w["lead"]
    assert isinstance(advisor, TestClient) and isinstance(lead, TestClient)
    response = advisor.get("/exports/portfolio.xlsx")
    assert response.status_code == 200
    required = sheet_rows(response.content, "Required certificates")
    assert required and {r["Supplier"] for r in required} == {"Northwind Ltd"}
    assert all(r["Clauses"] for r in required)
    assert lead.get("/exports/portfolio.xlsx").status_code in (403, 404)


def test_the_evidence_library_as_csv_for_its_supplier_only(app: FastAPI) -> None:
    w = world(app)
    lead, advisor = w["lead"], w["advisor"]
    assert isinstance(lead, TestClient) and isinstance(advisor, TestClient)
    make_evidence(app, w["engagement"], w["lead_person"], title="=cmd|' /C calc'!A0")  # type: ignore[arg-type]
    response = lead.get("/api/exports/evidence.csv")
    assert response.status_code == 200
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [r["Title"] for r in rows] == ["'=cmd|' /C calc'!A0"]  # neutralised
    assert len(rows[0]["SHA-256"]) == 64
    assert advisor.get("/api/exports/evidence.csv").status_code == 404  # suppliers' own library
    with session_scope(app.state.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "register_exported")).all()
    assert [e.object_id for e in events] == ["evidence"]


def test_an_unknown_register_or_format_is_refused_clearly(app: FastAPI) -> None:
    lead = world(app)["lead"]
    assert isinstance(lead, TestClient)
    for path in ("/api/exports/users.xlsx", "/api/exports/evidence.pdf"):
        response = lead.get(path)
        assert response.status_code == 422 and "not valid" in response.json()["error"]["message"]


def test_the_register_pages_link_their_downloads(app: FastAPI) -> None:
    w = world(app)
    advisor, lead = w["advisor"], w["lead"]
    assert isinstance(advisor, TestClient) and isinstance(lead, TestClient)
    assert 'href="/exports/portfolio.xlsx"' in advisor.get("/portfolio").text
    assert 'href="/exports/certificates.csv"' in lead.get("/certificates").text
