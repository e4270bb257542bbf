"""Apply to mapped controls: copies along the allowed edges only (issue 13 item 9; review
section 10 item 10): `equivalent` either way, `covers` from the covering control to the covered
one, never `related`. Mappings used (controls/cps-security-policy.toml, on CPS-5.7):
CPS-5.7 covers S24-A1-4.6a, covers CO7-A1-6.5, related S24-A1-5.2."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, EngagementCatalogue
from tests.factories import csrf_token, make_engagement, make_org, make_person, sign_in


def start(app: FastAPI, client: TestClient) -> str:
    engine, keys = app.state.engine, app.state.keys
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)  # with CPS
    with session_scope(engine, write=True) as session:
        for catalogue_id in ("schedule-2-4", "call-off-schedule-7"):
            session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id=catalogue_id))
        session.commit()
    sign_in(app, client, make_person(engine, keys, "supplier_lead", supplier))
    return engagement.id


def answer(client: TestClient, eid: str, control_id: str) -> None:
    saved = client.put(f"/api/engagements/{eid}/responses/{control_id}", json={"status": "met"})
    assert saved.status_code == 200, saved.text


def apply(app: FastAPI, client: TestClient, eid: str, source: str, targets: list[str]) -> int:
    response = client.post(
        f"/engagements/{eid}/controls/{source}/apply-mapped",
        data={"targets": targets, "csrf_token": csrf_token(app, client)},
        follow_redirects=False,
    )
    return response.status_code


def statuses(client: TestClient, eid: str) -> dict[str, str]:
    controls = client.get(f"/api/engagements/{eid}/readiness").json()["controls"]
    return {c["control_id"]: c["status"] for c in controls}


def test_the_covering_control_offers_and_copies_to_covered_and_equivalent_only(
    app: FastAPI, client: TestClient
) -> None:
    eid = start(app, client)
    answer(client, eid, "CPS-5.7")
    page = client.get(f"/engagements/{eid}/controls/CPS-5.7").text
    form = page.split('id="apply-mapped"')[1].split("</form>")[0]
    assert 'value="S24-A1-4.6a"' in form and 'value="CO7-A1-6.5"' in form
    assert 'value="S24-A1-5.2"' not in form  # related: shown as a link, never offered
    assert apply(app, client, eid, "CPS-5.7", ["S24-A1-5.2"]) == 422
    assert statuses(client, eid)["S24-A1-5.2"] == "unanswered"
    assert apply(app, client, eid, "CPS-5.7", ["S24-A1-4.6a", "CO7-A1-6.5"]) == 303
    after = statuses(client, eid)
    assert after["S24-A1-4.6a"] == "met" and after["CO7-A1-6.5"] == "met"


def test_the_covered_control_never_copies_up_to_the_stricter_one(app: FastAPI, client: TestClient) -> None:
    eid = start(app, client)
    answer(client, eid, "S24-A1-4.6a")
    page = client.get(f"/engagements/{eid}/controls/S24-A1-4.6a").text
    assert 'value="CPS-5.7"' not in page
    assert apply(app, client, eid, "S24-A1-4.6a", ["CPS-5.7"]) == 422
    assert statuses(client, eid)["CPS-5.7"] == "unanswered"


def test_an_information_clause_is_labelled_as_such_in_the_catalogue(app: FastAPI, client: TestClient) -> None:
    start(app, client)
    page = client.get("/catalogues/cps-security-policy/controls/CPS-3.2")
    assert page.status_code == 200
    assert "Information</strong>" in page.text and "not a supplier duty" in page.text
    api = client.get("/api/catalogues/cps-security-policy/controls/CPS-3.2").json()
    assert api["criticality"] == "information"


def test_the_api_applies_along_the_same_edges_with_the_same_audit(app: FastAPI, client: TestClient) -> None:
    eid = start(app, client)
    path = f"/api/engagements/{eid}/responses/CPS-5.7/apply-mapped"
    token = {"X-CSRF-Token": csrf_token(app, client)}
    assert (
        client.post(path, json={"targets": ["S24-A1-4.6a"]}, headers=token).status_code == 422
    )  # unanswered
    answer(client, eid, "CPS-5.7")
    assert client.post(path, json={"targets": ["S24-A1-5.2"]}, headers=token).status_code == 422  # related
    applied = client.post(path, json={"targets": ["S24-A1-4.6a", "CO7-A1-6.5"]}, headers=token)
    assert applied.status_code == 200, applied.text
    assert applied.json() == {"control_id": "CPS-5.7", "targets": ["S24-A1-4.6a", "CO7-A1-6.5"]}
    after = statuses(client, eid)
    assert (
        after["S24-A1-4.6a"] == "met" and after["CO7-A1-6.5"] == "met" and after["S24-A1-5.2"] == "unanswered"
    )
    with session_scope(app.state.engine) as session:
        event = session.exec(
            select(AuditEvent).where(AuditEvent.action == "response_applied_to_mapped")
        ).one()
    assert (event.object_type, event.object_id, event.engagement_id) == ("control", "CPS-5.7", eid)
    assert '"targets"' in event.details and "CO7-A1-6.5" in event.details
