"""The certificate register in the browser and the API, the buyer's portfolio, and the gates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app import clock
from app.db import session_scope
from app.models import AuditEvent, Certificate, Engagement, Evidence
from app.services.certificates import certificate_blockers
from tests.factories import (
    Person,
    make_certificate,
    make_engagement,
    make_org,
    make_person,
    make_subcontractor,
    sign_in,
)

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
TODAY = clock.today()


@dataclass
class Team:
    app: FastAPI
    lead: Person
    contributor: Person
    advisor: Person
    other_advisor: Person
    engagement: Engagement


@pytest.fixture
def team(app: FastAPI) -> Team:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name="Northwind Ltd")
    other_buyer = make_org(engine, "buyer")
    return Team(
        app,
        make_person(engine, keys, "supplier_lead", supplier),
        make_person(engine, keys, "supplier_contributor", supplier),
        make_person(engine, keys, "buyer_advisor", buyer),
        make_person(engine, keys, "buyer_advisor", other_buyer),
        make_engagement(engine, buyer, supplier),
    )


def client_for(team: Team, person: Person) -> TestClient:
    return sign_in(team.app, TestClient(team.app, base_url="http://127.0.0.1:8000"), person)


def counts(team: Team) -> tuple[int, int]:
    with session_scope(team.app.state.engine) as session:
        certs = session.exec(select(func.count()).select_from(Certificate)).one()
        files = session.exec(select(func.count()).select_from(Evidence)).one()
        return int(certs), int(files)


def post_certificate(
    client: TestClient, fields: dict[str, str], *, file: bytes | None = PDF, path: str = "/certificates"
):  # type: ignore[no-untyped-def]
    files = (
        {"file": ("certificate.pdf", file, "application/pdf")}
        if file is not None
        else {"file": ("", b"", "application/octet-stream")}
    )
    return client.post(path, data=fields, files=files, follow_redirects=False)


ISSUED = (TODAY - timedelta(days=100)).isoformat()


def test_a_lead_adds_a_certificate_with_its_file(team: Team) -> None:
    with client_for(team, team.lead) as client:
        response = post_certificate(
            client,
            {
                "scheme": "cyber_essentials_plus",
                "holder": "supplier",
                "body": "IASME",
                "number": "CEP-1",
                "scope": "Whole <org>",
                "issued_on": ISSUED,
            },
        )
        assert response.status_code == 303, response.text
        page = client.get(response.headers["location"])
        assert page.status_code == 200
        assert "Cyber Essentials Plus" in page.text and "CEP-1" in page.text
        assert "Whole &lt;org&gt;" in page.text  # escaped
        assert "certificate.pdf" in page.text
    with session_scope(team.app.state.engine) as session:
        cert = session.exec(select(Certificate)).one()
        assert cert.expires_on is not None and cert.expires_on.isoformat() > ISSUED  # 12-month default
        evidence = session.get(Evidence, cert.evidence_id)
        assert (
            evidence is not None
            and evidence.kind == "certificate"
            and evidence.supplier_org_id == team.lead.organisation.id
        )
        actions = list(session.exec(select(AuditEvent.action).where(AuditEvent.object_id == cert.id)))
        assert actions == ["certificate_added"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {
                "scheme": "cyber_essentials",
                "issued_on": ISSUED,
                "expires_on": (TODAY + timedelta(days=400)).isoformat(),
                "body": "IASME",
            },
            "valid for 12 months",
        ),
        (
            {"scheme": "cyber_essentials", "issued_on": ISSUED, "expires_on": ISSUED, "body": "IASME"},
            "must be after the issue date",
        ),
        ({"scheme": "it_health_check", "issued_on": ISSUED, "body": "Pen Testers Ltd"}, "CHECK or a CREST"),
        (
            {"scheme": "iso27001", "issued_on": ISSUED, "body": "BSI", "next_surveillance_on": "2001-01-01"},
            "surveillance audit must fall",
        ),
        ({"scheme": "nonsense", "issued_on": ISSUED, "body": "x"}, "Choose the scheme"),
        ({"scheme": "iso27001", "issued_on": "31/12/2025", "body": "BSI"}, "YYYY-MM-DD"),
        (
            {"scheme": "iso27001", "issued_on": ISSUED, "body": "BSI", "holder": "someone-elses"},
            "Choose the holder",
        ),
        (
            {"scheme": "iso27001", "issued_on": (TODAY + timedelta(days=2)).isoformat(), "body": "BSI"},
            "cannot be in the future",
        ),
    ],
)
def test_bad_entries_are_refused_with_a_clear_message_and_change_nothing(
    team: Team, fields: dict[str, str], message: str
) -> None:
    with client_for(team, team.lead) as client:
        response = post_certificate(client, fields)
    assert response.status_code == 422
    assert message in response.text
    assert counts(team) == (0, 0)
    assert list(team.app.state.store.keys()) == []  # the streamed file was discarded


def test_a_ce_plus_outside_three_months_of_its_ce_is_refused(team: Team) -> None:
    make_certificate(
        team.app.state.engine,
        team.lead.organisation,
        "cyber_essentials",
        issued_on=TODAY - timedelta(days=200),
    )
    with client_for(team, team.lead) as client:
        response = post_certificate(
            client, {"scheme": "cyber_essentials_plus", "issued_on": ISSUED, "body": "IASME"}, file=None
        )
    assert response.status_code == 422
    assert "within 3 months of the Cyber Essentials certification" in response.text


def test_edit_and_withdraw(team: Team) -> None:
    cert = make_certificate(
        team.app.state.engine, team.lead.organisation, "iso27001", issued_on=TODAY - timedelta(days=30)
    )
    with client_for(team, team.lead) as client:
        assert client.get(f"/certificates/{cert}/edit").status_code == 200
        response = post_certificate(
            client,
            {
                "scheme": "iso27001",
                "issued_on": (TODAY - timedelta(days=30)).isoformat(),
                "body": "BSI",
                "number": "IS 12345",
            },
            file=None,
            path=f"/certificates/{cert}",
        )
        assert response.status_code == 303, response.text
        assert "IS 12345" in client.get(f"/certificates/{cert}").text
        response = client.post(f"/certificates/{cert}/withdraw", follow_redirects=False)
        assert response.status_code == 303
        assert "withdrawn" in client.get(f"/certificates/{cert}").text
        again = client.post(f"/certificates/{cert}/withdraw", follow_redirects=False)
        assert again.status_code == 422 and "already withdrawn" in again.text


def test_contributors_view_but_do_not_manage(team: Team) -> None:
    cert = make_certificate(team.app.state.engine, team.lead.organisation, "iso27001")
    with client_for(team, team.contributor) as client:
        assert client.get("/certificates").status_code == 200
        assert client.get(f"/certificates/{cert}").status_code == 200
        assert client.get("/certificates/new").status_code == 404
        assert (
            post_certificate(client, {"scheme": "iso27001", "issued_on": ISSUED, "body": "BSI"}).status_code
            == 404
        )
        assert client.post(f"/certificates/{cert}/withdraw").status_code == 404
    assert counts(team)[0] == 1


def test_sub_contractors_and_their_gates(team: Team) -> None:
    with client_for(team, team.lead) as client:
        assert (
            client.post(
                "/subcontractors",
                data={"name": "Harbour Data Ltd", "tier": "higher_risk"},
                follow_redirects=False,
            ).status_code
            == 303
        )
        bad = client.post("/subcontractors", data={"name": "X", "tier": "low"}, follow_redirects=False)
        assert bad.status_code == 422 and "risk tier" in bad.text
        page = client.get("/certificates")
        assert "Harbour Data Ltd" in page.text
        assert (
            "No current ISO/IEC 27001 or Cyber Essentials Plus certificate on record for Harbour Data Ltd "
            "(Schedule 2.4 para 6.2)" in page.text
        )


def test_expired_ce_plus_is_a_blocker_for_the_supplier_and_in_the_buyers_portfolio(team: Team) -> None:
    engine, supplier = team.app.state.engine, team.lead.organisation
    expired_on = TODAY - timedelta(days=3)
    make_certificate(
        engine,
        supplier,
        "cyber_essentials_plus",
        issued_on=expired_on - timedelta(days=365),
        expires_on=expired_on,
    )
    make_certificate(engine, supplier, "iso27001", issued_on=TODAY - timedelta(days=100))
    make_certificate(engine, supplier, "it_health_check", issued_on=TODAY - timedelta(days=100))
    sub = make_subcontractor(engine, supplier, "Minster Print Ltd", "medium_risk")
    # The engagement is a Schedule 2.4 one with the CPS Security Policy: each clause that asks for
    # Cyber Essentials Plus is open, one blocker per clause. Para 6.3 (Medium Risk) sets no time:
    # shown on the register, never a blocker.
    lapsed = f"Cyber Essentials Plus certificate for Northwind Ltd expired on {expired_on.isoformat()}"
    expected = f"{lapsed} (Schedule 2.4 para 6.1(b))"
    with session_scope(engine) as session:
        blockers = certificate_blockers(session, team.engagement, today=TODAY)
    assert blockers == [
        expected,
        f"{lapsed} (CPS Security Policy 1.5)",
        f"{lapsed} (CPS Security Policy 1.6)",
    ]
    standing = (
        "No current Cyber Essentials or Cyber Essentials Plus certificate on record for Minster Print Ltd "
        "(Schedule 2.4 para 6.3) (a standing requirement, not a precondition for processing)"
    )
    with client_for(team, team.lead) as client:
        register = client.get("/certificates").text
        assert f"{team.engagement.reference}: {expected}" in register and standing in register
        assert expected in client.get("/certificates?state=expired").text
        # the gate feeds readiness: the dashboard and the API name it, and processing is refused
        assert expected in client.get(f"/engagements/{team.engagement.id}").text
        readiness = client.get(f"/api/engagements/{team.engagement.id}/readiness").json()
        assert readiness["may_process_buyer_data"] is False and expected in readiness["reasons"]
        assert not any("para 6.3" in r for r in readiness["reasons"])
    with client_for(team, team.advisor) as client:
        page = client.get("/portfolio")
        assert page.status_code == 200
        assert expected in page.text
        assert "Northwind Ltd" in page.text and "Minster Print Ltd" in page.text
        assert "<strong>1</strong> expired" in page.text and "<strong>1</strong> missing" in page.text
        api = client.get("/api/certificates", params={"state": "expired"}).json()["certificates"]
        assert [c["scheme"] for c in api] == ["cyber_essentials_plus"]
    with client_for(team, team.other_advisor) as client:
        page = client.get("/portfolio")
        assert "Northwind Ltd" not in page.text
        assert client.get("/api/certificates").json() == {"certificates": [], "next_cursor": None}
    with client_for(team, team.lead) as client:
        assert client.get("/portfolio").status_code == 404  # the portfolio is for buyers
    assert sub


def test_api_lists_filters_creates_and_refuses(team: Team) -> None:
    engine, supplier = team.app.state.engine, team.lead.organisation
    sub = make_subcontractor(engine, supplier, "Harbour Data Ltd", "higher_risk")
    make_certificate(engine, supplier, "iso27001", issued_on=TODAY - timedelta(days=10))
    make_certificate(
        engine, supplier, "cyber_essentials_plus", issued_on=TODAY - timedelta(days=10), subcontractor_id=sub
    )
    with client_for(team, team.lead) as client:
        everything = client.get("/api/certificates").json()["certificates"]
        assert len(everything) == 2
        mine = client.get("/api/certificates", params={"holder": "supplier"}).json()["certificates"]
        assert [c["scheme"] for c in mine] == ["iso27001"]
        theirs = client.get("/api/certificates", params={"holder": sub}).json()["certificates"]
        assert [c["holder"]["name"] for c in theirs] == ["Harbour Data Ltd"]
        by_name = client.get("/api/certificates", params={"holder": "harbour data ltd"}).json()[
            "certificates"
        ]
        assert len(by_name) == 1
        assert client.get("/api/certificates", params={"state": "current"}).json()["certificates"] != []
        bad_state = client.get("/api/certificates", params={"state": "soon"})
        assert bad_state.status_code == 422 and bad_state.json()["error"]["code"] == "invalid"
        created = client.post(
            "/api/certificates",
            json={
                "scheme": "it_health_check",
                "body": "Pen Testers Ltd",
                "issued_on": ISSUED,
                "provider": "crest",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert (
            body["provider"] == "CREST"
            and body["state"] == "current"
            and body["holder"]["tier"] == "supplier"
        )
        assert client.get(f"/api/certificates/{body['id']}").json()["id"] == body["id"]
        refused = client.post(
            "/api/certificates",
            json={
                "scheme": "cyber_essentials",
                "body": "IASME",
                "issued_on": ISSUED,
                "expires_on": "2099-01-01",
            },
        )
        assert refused.status_code == 422
        error = refused.json()["error"]
        assert error["code"] == "invalid" and "valid for 12 months" in error["message"]
        assert "expires_on" in error["details"]
    with client_for(team, team.contributor) as client:
        forbidden = client.post(
            "/api/certificates", json={"scheme": "iso27001", "body": "BSI", "issued_on": ISSUED}
        )
        assert forbidden.status_code == 403
    with client_for(team, team.advisor) as client:
        seen = client.get("/api/certificates").json()["certificates"]
        assert len(seen) == 3
    assert counts(team)[0] == 3


def test_a_new_file_on_edit_is_a_new_version_of_the_old_one(team: Team) -> None:
    fields = {"scheme": "iso27001", "issued_on": ISSUED, "body": "BSI"}
    with client_for(team, team.lead) as client:
        created = post_certificate(client, fields)
        cert_id = created.headers["location"].rsplit("/", 1)[1]
        updated = post_certificate(client, fields, file=PDF + b"\n% v2\n", path=f"/certificates/{cert_id}")
        assert updated.status_code == 303, updated.text
    with session_scope(team.app.state.engine) as session:
        cert = session.get(Certificate, cert_id)
        assert cert is not None
        files = sorted(session.exec(select(Evidence)), key=lambda e: e.version)
        assert [e.version for e in files] == [1, 2] and files[0].superseded_at is not None
        assert cert.evidence_id == files[1].id and files[1].family_id == files[0].id


def test_an_unaccepted_file_type_is_refused_and_nothing_is_kept(team: Team) -> None:
    with client_for(team, team.lead) as client:
        response = post_certificate(
            client, {"scheme": "iso27001", "issued_on": ISSUED, "body": "BSI"}, file=b"MZ\x90\x00binary"
        )
    assert response.status_code == 415
    assert counts(team) == (0, 0)
    assert list(team.app.state.store.keys()) == []


def add_engagement(team: Team, reference: str, profile: str, catalogues: list[str]) -> str:
    from app.models import EngagementCatalogue

    with session_scope(team.app.state.engine, write=True) as session:
        row = Engagement(
            reference=reference,
            title="Another contract",
            buyer_org_id=team.engagement.buyer_org_id,
            supplier_org_id=team.engagement.supplier_org_id,
            effective_on=TODAY,
            workflow_profile=profile,
        )
        session.add(row)
        session.flush()
        for catalogue_id in catalogues:
            session.add(EngagementCatalogue(engagement_id=row.id, catalogue_id=catalogue_id))
        session.commit()
        return row.id


def test_the_portfolio_row_summarises_each_engagement_by_its_own_contract(team: Team) -> None:
    """One row per supplier: each requirement once per holder with every clause that asks for it
    and the engagements it comes from; blockers per engagement. A Call Off Schedule 7 engagement
    adds the CPS Security Policy's clauses when it includes that policy, and nothing of Schedule 2.4."""
    engine, supplier = team.app.state.engine, team.lead.organisation
    make_certificate(engine, supplier, "iso27001", issued_on=TODAY - timedelta(days=100))
    make_certificate(engine, supplier, "it_health_check", issued_on=TODAY - timedelta(days=100))
    add_engagement(team, "ZZ-1", "call-off-schedule-7", ["call-off-schedule-7", "cps-security-policy"])
    add_engagement(team, "ZZ-2", "call-off-schedule-7", ["call-off-schedule-7"])
    first = team.engagement.reference
    missing = "No current Cyber Essentials Plus certificate on record for Northwind Ltd"
    with client_for(team, team.advisor) as client:
        page = client.get("/portfolio").text
    assert f"Schedule 2.4 para 6.1(b) ({first}); CPS Security Policy 1.5 ({first}, ZZ-1)" in page
    assert f"{first}: {missing} (Schedule 2.4 para 6.1(b))" in page
    assert f"{first}, ZZ-1: {missing} (CPS Security Policy 1.5)" in page
    assert "ZZ-2:" not in page and "ZZ-2)" not in page  # asks for no certificate
    assert "ZZ-1: No current IT Health Check" not in page  # para 4.2(a) is Schedule 2.4's
    assert "<strong>0</strong> expired" in page and "<strong>1</strong> missing" in page  # one CE+ line
    with client_for(team, team.lead) as client:
        register = client.get("/certificates").text
    assert f"{first}, ZZ-1: {missing} (CPS Security Policy 1.6)" in register


def test_a_certificate_file_is_linked_to_the_gates_it_meets(team: Team) -> None:
    """Added through the page with its file: the file goes to the engagement's matching gate
    controls (CPS-1.5 and CPS-1.6 here), audited like a hand link; a new version takes them over."""
    fields = {"scheme": "cyber_essentials_plus", "issued_on": ISSUED, "body": "IASME", "number": "CEP-9"}
    with client_for(team, team.lead) as client:
        created = post_certificate(client, fields)
        assert created.status_code == 303, created.text
        cert_id = created.headers["location"].rsplit("/", 1)[1]
        rows = {
            c["control_id"]: c
            for c in client.get(f"/api/engagements/{team.engagement.id}/readiness").json()["controls"]
        }
        assert rows["CPS-1.5"]["reason"].startswith("gate: met by the register: Cyber Essentials Plus CEP-9")
        post_certificate(client, fields, file=PDF + b"\n% v2\n", path=f"/certificates/{cert_id}")
    with session_scope(team.app.state.engine) as session:
        from app.models import EvidenceLink

        cert = session.get(Certificate, cert_id)
        assert cert is not None
        links = sorted(session.exec(select(EvidenceLink.control_id, EvidenceLink.evidence_id)).all())
        assert links == [("CPS-1.5", cert.evidence_id), ("CPS-1.6", cert.evidence_id)]
        linked = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence_linked")).all()
        assert len(linked) == 2 and all(json.loads(e.details)["via"] == "certificate" for e in linked)
