"""Every plan part people edit carries a version: the API returns it, the forms send it back as
a hidden `expected_version`, and a save based on an older version is a 409 naming the current
one, with nothing changed."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import session_scope
from app.models import Engagement
from app.services import plan
from tests.factories import make_engagement, make_org, make_person, make_register_entry, sign_in

RISK = {"title": "Data loss", "likelihood": 3, "impact": 4, "residual_likelihood": 1, "residual_impact": 2}
INCIDENT = {"document": "Triage within the hour.", "contacts": [{"name": "Sam", "email": "sam@example.com"}]}
ROLES = {"people": [{"kind": "designated_security_contact", "name": "Dana", "email": "dana@example.com"}]}


def lead_client(app: FastAPI, client: TestClient) -> Engagement:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    sign_in(app, client, make_person(engine, app.state.keys, "supplier_lead", supplier))
    return make_engagement(engine, make_org(engine, "buyer"), supplier)


def test_a_stale_risk_edit_is_a_conflict_naming_the_current_version(
    app: FastAPI, anonymous: TestClient
) -> None:
    engagement = lead_client(app, anonymous)
    base = f"/api/engagements/{engagement.id}/risks"
    created = anonymous.post(base, json=RISK).json()
    assert created["version"] == 1
    first = anonymous.put(f"{base}/{created['id']}", json={**RISK, "title": "Mine", "expected_version": 1})
    stale = anonymous.put(f"{base}/{created['id']}", json={**RISK, "title": "Theirs", "expected_version": 1})
    assert first.status_code == 200 and first.json()["version"] == 2
    assert stale.status_code == 409 and "version 2" in stale.json()["error"]["message"]
    gone = anonymous.delete(f"{base}/{created['id']}", params={"expected_version": 1})
    assert gone.status_code == 409
    plan_now = anonymous.get(f"/api/engagements/{engagement.id}/plan").json()
    assert [(r["title"], r["version"]) for r in plan_now["risks"]] == [("Mine", 2)]
    assert anonymous.delete(f"{base}/{created['id']}", params={"expected_version": 2}).status_code == 204


def test_a_stale_register_entry_edit_is_a_conflict(app: FastAPI, anonymous: TestClient) -> None:
    engagement = lead_client(app, anonymous)
    entry_id = make_register_entry(app.state.engine, engagement)
    url = f"/api/engagements/{engagement.id}/register/{entry_id}"
    assert anonymous.put(url, json={"title": "Patch now", "expected_version": 1}).json()["version"] == 2
    stale = anonymous.put(url, json={"title": "Patch later", "expected_version": 1})
    assert stale.status_code == 409 and stale.json()["error"]["details"] == {"current_version": 2}


def test_incident_process_and_security_roles_are_versioned(app: FastAPI, anonymous: TestClient) -> None:
    engagement = lead_client(app, anonymous)
    incident = f"/api/engagements/{engagement.id}/incident-process"
    roles = f"/api/engagements/{engagement.id}/security-roles"
    assert anonymous.put(incident, json={**INCIDENT, "expected_version": 0}).json()["version"] == 1
    assert anonymous.put(incident, json={**INCIDENT, "expected_version": 0}).status_code == 409
    assert anonymous.put(incident, json={**INCIDENT, "expected_version": 1}).json()["version"] == 2
    assert anonymous.put(roles, json={**ROLES, "expected_version": 0}).json()["version"] == 1
    stale = anonymous.put(roles, json={**ROLES, "expected_version": 0})
    assert stale.status_code == 409 and "version 1" in stale.json()["error"]["message"]
    assert anonymous.put(roles, json=ROLES).json()["version"] == 2  # no expected_version: no check


def test_plan_forms_send_the_version_back_and_a_stale_form_is_a_conflict(
    app: FastAPI, anonymous: TestClient
) -> None:
    engagement = lead_client(app, anonymous)
    entry_id = make_register_entry(app.state.engine, engagement)
    page = anonymous.get(f"/engagements/{engagement.id}/plan").text
    assert page.count('name="expected_version" value="1"') == 1  # the register entry's inline form
    assert page.count('name="expected_version" value="0"') == 2  # incident process and roles, not yet saved
    form = {"entry_id": entry_id, "title": "Patch gateway", "status": "in_progress", "expected_version": "1"}
    url = f"/engagements/{engagement.id}/plan/register"
    assert anonymous.post(url, data=form, follow_redirects=False).status_code == 303
    stale = anonymous.post(url, data={**form, "status": "planned"}, follow_redirects=False)
    assert stale.status_code == 409 and "version 2" in stale.text
    with session_scope(app.state.engine) as session:
        assert [(e.status, e.version) for e in plan.register_entries(session, engagement.id)] == [
            ("in_progress", 2)
        ]
