"""The certificate register through the API alone: change and withdraw a certificate, keep the
sub-contractors, page through lists; the same rules, refusals and audit events as the pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from app import clock
from app.db import session_scope
from app.models import AuditEvent, Certificate, Subcontractor
from tests.factories import (
    Person,
    make_certificate,
    make_engagement,
    make_org,
    make_person,
    make_subcontractor,
    sign_in,
)

TODAY = clock.today()
ISSUED = (TODAY - timedelta(days=30)).isoformat()


@dataclass
class World:
    app: FastAPI
    lead: Person
    contributor: Person
    advisor: Person
    other_lead: Person


@pytest.fixture
def world(app: FastAPI) -> World:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name="Northwind Ltd")
    other_supplier = make_org(engine, "supplier", name="Elsewhere Ltd")
    make_engagement(engine, buyer, supplier)
    return World(
        app,
        make_person(engine, keys, "supplier_lead", supplier),
        make_person(engine, keys, "supplier_contributor", supplier),
        make_person(engine, keys, "buyer_advisor", buyer),
        make_person(engine, keys, "supplier_lead", other_supplier),
    )


def client_for(world: World, person: Person) -> TestClient:
    return sign_in(world.app, TestClient(world.app, base_url="http://127.0.0.1:8000"), person)


def events(world: World, object_id: str, outcome: str = "allowed") -> list[AuditEvent]:
    with session_scope(world.app.state.engine) as session:
        query = select(AuditEvent).where(AuditEvent.object_id == object_id, AuditEvent.outcome == outcome)
        return list(session.exec(query.order_by(col(AuditEvent.seq))))


def test_a_lead_changes_and_withdraws_a_certificate_through_the_api(world: World) -> None:
    cert = make_certificate(
        world.app.state.engine, world.lead.organisation, "iso27001", issued_on=TODAY - timedelta(days=30)
    )
    body = {"scheme": "iso27001", "body": "BSI", "number": "IS 12345", "issued_on": ISSUED}
    with client_for(world, world.lead) as client:
        changed = client.put(f"/api/certificates/{cert}", json=body)
        assert changed.status_code == 200, changed.text
        assert changed.json()["number"] == "IS 12345" and changed.json()["state"] == "current"
        assert client.get(f"/api/certificates/{cert}").json()["number"] == "IS 12345"
        bad = client.put(f"/api/certificates/{cert}", json={**body, "expires_on": "2099-01-01"})
        assert bad.status_code == 422 and "expires_on" in bad.json()["error"]["details"]
        withdrawn = client.post(f"/api/certificates/{cert}/withdraw")
        assert withdrawn.status_code == 200
        assert withdrawn.json()["state"] == "withdrawn" and withdrawn.json()["withdrawn_at"]
        again = client.post(f"/api/certificates/{cert}/withdraw")
        assert again.status_code == 422 and "already withdrawn" in again.json()["error"]["message"]
        frozen = client.put(f"/api/certificates/{cert}", json=body)
        assert frozen.status_code == 422 and "withdrawn" in frozen.json()["error"]["message"]
    recorded = events(world, cert)
    assert [e.action for e in recorded] == ["certificate_updated", "certificate_withdrawn"]
    assert '"via":"api"' in recorded[0].details.replace(" ", "") and '"scheme":"iso27001"' in recorded[
        0
    ].details.replace(" ", "")


def test_page_and_api_record_the_same_event_for_a_change(world: World) -> None:
    engine = world.app.state.engine
    via_page = make_certificate(
        engine, world.lead.organisation, "iso27001", issued_on=TODAY - timedelta(days=30)
    )
    via_api = make_certificate(
        engine, world.lead.organisation, "iso27001", issued_on=TODAY - timedelta(days=30)
    )
    fields = {"scheme": "iso27001", "body": "BSI", "issued_on": ISSUED}
    with client_for(world, world.lead) as client:
        page = client.post(f"/certificates/{via_page}", data=fields, follow_redirects=False)
        assert page.status_code == 303
        assert client.put(f"/api/certificates/{via_api}", json=fields).status_code == 200
        assert client.post(f"/certificates/{via_page}/withdraw", follow_redirects=False).status_code == 303
        assert client.post(f"/api/certificates/{via_api}/withdraw").status_code == 200
    page_events, api_events = events(world, via_page), events(world, via_api)
    assert [e.action for e in page_events] == [e.action for e in api_events]
    assert [(e.object_type, e.actor_user_id) for e in page_events] == [
        (e.object_type, e.actor_user_id) for e in api_events
    ]


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("PUT", "/api/certificates/{}", {"scheme": "iso27001", "body": "BSI", "issued_on": ISSUED}),
        ("POST", "/api/certificates/{}/withdraw", None),
        ("GET", "/api/certificates/{}", None),
    ],
)
def test_another_tenants_certificate_is_not_found_with_one_denied_event(
    world: World, method: str, path: str, body: dict[str, str] | None
) -> None:
    theirs = make_certificate(world.app.state.engine, world.other_lead.organisation, "iso27001")
    with client_for(world, world.lead) as client:
        answer = client.request(method, path.format(theirs), json=body)
        missing = client.request(method, path.format("0" * 32), json=body)
    assert answer.status_code == missing.status_code == 404
    assert answer.json()["error"]["message"] == missing.json()["error"]["message"]
    assert theirs not in answer.text
    assert len(events(world, theirs, "denied")) == 1
    with session_scope(world.app.state.engine) as session:
        row = session.get(Certificate, theirs)
        assert row is not None and row.withdrawn_at is None and row.body != "BSI"  # unchanged


def test_contributors_and_advisors_may_not_change_a_certificate(world: World) -> None:
    cert = make_certificate(world.app.state.engine, world.lead.organisation, "iso27001")
    for person in (world.contributor, world.advisor):
        with client_for(world, person) as client:
            assert client.get(f"/api/certificates/{cert}").status_code == 200  # they may read it
            assert client.post(f"/api/certificates/{cert}/withdraw").status_code == 404
    assert [e.action for e in events(world, cert, "denied")] == ["certificate_withdrawn"] * 2
    assert events(world, cert) == []


def test_a_lead_keeps_the_sub_contractors_through_the_api(world: World) -> None:
    with client_for(world, world.lead) as client:
        added = client.post(
            "/api/subcontractors", json={"name": "  Harbour   Data Ltd ", "tier": "higher_risk"}
        )
        assert added.status_code == 201, added.text
        sub = added.json()
        assert (
            sub["name"] == "Harbour Data Ltd" and sub["tier"] == "higher_risk" and sub["removed_at"] is None
        )
        twice = client.post("/api/subcontractors", json={"name": "harbour data ltd", "tier": "medium_risk"})
        assert twice.status_code == 422 and "already on your list" in twice.json()["error"]["message"]
        low = client.post("/api/subcontractors", json={"name": "X", "tier": "low"})
        assert low.status_code == 422
        listed = client.get("/api/subcontractors").json()
        assert [s["name"] for s in listed["subcontractors"]] == ["Harbour Data Ltd"] and listed[
            "next_cursor"
        ] is None
        # the new holder can hold a certificate, and its missing one is a named gate
        readiness_gate = client.post(
            "/api/certificates",
            json={
                "scheme": "cyber_essentials_plus",
                "holder": sub["id"],
                "body": "IASME",
                "issued_on": ISSUED,
            },
        )
        assert readiness_gate.status_code == 201
        assert readiness_gate.json()["holder"]["name"] == "Harbour Data Ltd"
        removed = client.delete(f"/api/subcontractors/{sub['id']}")
        assert removed.status_code == 200 and removed.json()["removed_at"]
        assert client.get("/api/subcontractors").json()["subcontractors"] == []
        gone = client.get("/api/certificates", params={"holder": sub["id"]}).json()["certificates"]
        assert [c["holder"]["name"] for c in gone] == ["Harbour Data Ltd (removed)"]
        assert client.delete(f"/api/subcontractors/{sub['id']}").status_code == 422
    assert [(e.action, e.object_type) for e in events(world, sub["id"])] == [
        ("subcontractor_added", "subcontractor"),
        ("subcontractor_removed", "subcontractor"),
    ]


def test_sub_contractors_follow_the_register_rules(world: World) -> None:
    engine = world.app.state.engine
    mine = make_subcontractor(engine, world.lead.organisation, "Minster Print Ltd", "medium_risk")
    theirs = make_subcontractor(engine, world.other_lead.organisation, "Elsewhere Hosting Ltd")
    with client_for(world, world.contributor) as client:
        assert [s["id"] for s in client.get("/api/subcontractors").json()["subcontractors"]] == [mine]
        assert (
            client.post("/api/subcontractors", json={"name": "Y Ltd", "tier": "medium_risk"}).status_code
            == 403
        )
        assert client.delete(f"/api/subcontractors/{mine}").status_code == 404
    with client_for(world, world.advisor) as client:  # the buyer sees its supplier's holders
        assert [s["id"] for s in client.get("/api/subcontractors").json()["subcontractors"]] == [mine]
    with client_for(world, world.lead) as client:
        refused = client.delete(f"/api/subcontractors/{theirs}")
        missing = client.delete(f"/api/subcontractors/{'0' * 32}")
        assert refused.status_code == missing.status_code == 404 and theirs not in refused.text
        assert theirs not in str(client.get("/api/subcontractors").json())
    assert len(events(world, theirs, "denied")) == 1
    assert len(events(world, mine, "denied")) == 1  # the contributor's attempt
    with session_scope(engine) as session:
        assert all(s.removed_at is None for s in session.exec(select(Subcontractor)))


def test_lists_come_in_pages_with_a_cursor(world: World) -> None:
    engine, supplier = world.app.state.engine, world.lead.organisation
    made = [
        make_certificate(engine, supplier, "iso27001", issued_on=TODAY - timedelta(days=10 + n))
        for n in range(5)
    ]
    for n in range(3):
        make_subcontractor(engine, supplier, f"Sub {n} Ltd", "medium_risk")
    with client_for(world, world.lead) as client:
        seen, cursor, pages = [], "", 0
        while True:
            answer = client.get("/api/certificates", params={"limit": 2, "cursor": cursor}).json()
            seen += [c["id"] for c in answer["certificates"]]
            pages += 1
            if answer["next_cursor"] is None:
                break
            cursor = answer["next_cursor"]
        assert seen == made and pages == 3  # newest issue first, each once
        first = client.get("/api/subcontractors", params={"limit": 2}).json()
        rest = client.get("/api/subcontractors", params={"limit": 2, "cursor": first["next_cursor"]}).json()
        names = [s["name"] for s in first["subcontractors"] + rest["subcontractors"]]
        assert names == ["Sub 0 Ltd", "Sub 1 Ltd", "Sub 2 Ltd"] and rest["next_cursor"] is None
        for bad in ("nonsense", first["next_cursor"]):  # a sub-contractor cursor is not a certificate one
            answer = client.get("/api/certificates", params={"cursor": bad})
            assert answer.status_code == 422 and answer.json()["error"]["code"] == "invalid"
        assert client.get("/api/certificates", params={"limit": 0}).status_code == 422
        assert client.get("/api/subcontractors", params={"limit": 501}).status_code == 422
