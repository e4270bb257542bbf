"""Issue 17 item 1: an engagement as a spreadsheet. The XLSX is opened with openpyxl and its
content checked against what Attest holds: a sheet per catalogue (every control in scope, its
clause and answer, evidence by SHA-256), risks, the Required Changes Register, certificates and
deadlines; a frozen header with filters; a formula typed into an answer stays text. The CSV has
the same answers with formulas neutralised. Exports are audited and tenant-bound."""

from __future__ import annotations

import csv
import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlmodel import select

from app.db import session_scope
from app.domain.catalogue import Library
from app.models import AuditEvent, ControlResponse, Engagement, Evidence, EvidenceLink, Risk
from app.services.demo import load_demo
from app.services.engagements import catalogue_ids, engagement_controls
from app.services.exports import sheet_name
from tests.factories import make_engagement, make_org, make_person, sign_in

FORMULA = '=HYPERLINK("http://evil.example","click")'


def demo_lead(app: FastAPI) -> tuple[TestClient, Engagement]:
    library: Library = app.state.library
    with session_scope(app.state.engine, write=True) as session:
        result = load_demo(
            session,
            app.state.keys,
            available_catalogues={c.id for c in library.catalogues},
            library=library,
            store=app.state.store,
        )
        session.commit()
        engagement = session.get(Engagement, result.engagement_id)
        assert engagement is not None
        lead_email = next(email for email, _n, role, _s in result.users if role == "supplier_lead")
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead", email=f"x.{lead_email}")
    # The demo lead's own organisation: sign in as a second lead of that supplier.
    with session_scope(app.state.engine, write=True) as session:
        from app.models import User

        user = session.exec(select(User).where(User.id == lead.user.id)).one()
        user.organisation_id = engagement.supplier_org_id
        session.commit()
        lead.user.organisation_id = engagement.supplier_org_id
    return sign_in(app, TestClient(app), lead), engagement


def test_the_workbook_holds_every_control_answer_and_register_as_stored(app: FastAPI) -> None:
    client, engagement = demo_lead(app)
    put = client.put(
        f"/api/engagements/{engagement.id}/responses/CPS-1.1",
        json={"status": "met", "statement": FORMULA},
    )
    assert put.status_code in (200, 409), put.text
    if put.status_code == 409:  # the demo answered it: update over its version
        version = client.get(f"/api/engagements/{engagement.id}/responses/CPS-1.1").json()["version"]
        put = client.put(
            f"/api/engagements/{engagement.id}/responses/CPS-1.1",
            json={"status": "met", "statement": FORMULA, "expected_version": version},
        )
        assert put.status_code == 200, put.text

    response = client.get(f"/api/engagements/{engagement.id}/export.xlsx")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert response.headers["content-disposition"].endswith('.xlsx"')
    book = load_workbook(io.BytesIO(response.content))

    library: Library = app.state.library
    with session_scope(app.state.engine) as session:
        ids = catalogue_ids(session, engagement.id)
        controls = engagement_controls(library, ids)
        answers = {
            r.control_id: r
            for r in session.exec(
                select(ControlResponse).where(ControlResponse.engagement_id == engagement.id)
            )
        }
        linked = session.exec(
            select(EvidenceLink.control_id, Evidence.sha256)
            .join(Evidence, Evidence.id == EvidenceLink.evidence_id)  # type: ignore[arg-type]
            .where(EvidenceLink.engagement_id == engagement.id)
        ).all()
        risks = session.exec(select(Risk).where(Risk.engagement_id == engagement.id)).all()
    names: set[str] = set()
    titles = [sheet_name(library.catalogue(i).title, names) for i in ids]  # type: ignore[union-attr]
    assert book.sheetnames[: len(ids)] == titles
    assert book.sheetnames[len(ids) :] == [
        "Risk register",
        "Required Changes Register",
        "Certificates",
        "Deadlines",
    ]

    seen: dict[str, dict[str, object]] = {}
    for title in titles:
        sheet = book[title]
        assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref is not None
        header = [c.value for c in sheet[1]]
        assert header[:3] == ["Control", "Title", "Source clause"]
        for row in sheet.iter_rows(min_row=2, values_only=True):
            seen[str(row[0])] = dict(zip(header, row, strict=True))
    assert set(seen) == {c.id for c in controls}  # every control in scope, once
    for control_id, answer in answers.items():
        assert seen[control_id]["Status"] == str(answer.status).replace("_", " ")
        assert (seen[control_id]["Implementation statement"] or "") == answer.statement
    for control_id, sha in linked:
        assert sha in str(seen[control_id]["Evidence SHA-256"])
    formula_cell = next(c for c in book[titles[0]]["G"] if c.value == FORMULA)  # the statement column
    assert formula_cell.data_type == "s" and formula_cell.quotePrefix  # text, and stays text when edited
    assert book["Risk register"].max_row == len(risks) + 1

    with session_scope(app.state.engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "engagement_exported")).all()
    assert [e.object_id for e in events] == [engagement.id]


def test_the_csv_has_every_answer_with_formulas_neutralised(app: FastAPI) -> None:
    client, engagement = demo_lead(app)
    version = client.get(f"/api/engagements/{engagement.id}/responses/CPS-1.1")
    body: dict[str, object] = {"status": "met", "statement": FORMULA}
    if version.status_code == 200:
        body["expected_version"] = version.json()["version"]
    assert client.put(f"/api/engagements/{engagement.id}/responses/CPS-1.1", json=body).status_code == 200
    response = client.get(f"/engagements/{engagement.id}/export.csv")  # the page's link: same file
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    row = next(r for r in rows if r["Control"] == "CPS-1.1")
    assert row["Implementation statement"] == "'" + FORMULA and row["Status"] == "met"


def test_another_tenant_gets_not_found_and_nothing_is_exported(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    stranger = sign_in(app, TestClient(app), make_person(engine, keys, "supplier_lead"))
    for path in (f"/api/engagements/{engagement.id}/export.xlsx", f"/engagements/{engagement.id}/export.csv"):
        assert stranger.get(path).status_code == 404
    with session_scope(engine) as session:
        assert session.exec(select(AuditEvent).where(AuditEvent.action == "engagement_exported")).all() == []


def test_the_dashboard_links_both_downloads(app: FastAPI) -> None:
    client, engagement = demo_lead(app)
    page = client.get(f"/engagements/{engagement.id}")
    assert f'href="/engagements/{engagement.id}/export.xlsx"' in page.text
    assert f'href="/engagements/{engagement.id}/export.csv"' in page.text
