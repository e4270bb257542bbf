"""Every refusal is audited, whichever service refuses: services raise `Refused` (answered as
'not found') or `Denied` (403), and the one error handler writes the `denied` event.

The issue found a risk or register entry of another tenant, addressed under one's own
engagement, answered 404 with no audit event at all.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.db import session_scope
from app.domain.access import Actor, Role
from app.domain.errors import Denied, NotFound, Refused
from app.models import AuditEvent, Engagement, Notification, utcnow
from app.services import audit, certificates, evidence, notifications, plan, sessions
from app.services.caller import Caller
from tests.factories import (
    Person,
    make_certificate,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    make_register_entry,
    make_risk,
    sign_in,
)

RISK = {"title": "Data loss", "likelihood": 3, "impact": 4, "residual_likelihood": 1, "residual_impact": 2}


def denied(engine: Engine, object_id: str) -> list[AuditEvent]:
    with session_scope(engine) as session:
        query = select(AuditEvent).where(AuditEvent.outcome == "denied", AuditEvent.object_id == object_id)
        return list(session.exec(query))


def two_tenants(app: FastAPI) -> tuple[Person, Engagement, Engagement]:
    """A supplier lead with their own engagement, and another tenant's engagement."""
    engine, keys = app.state.engine, app.state.keys
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    own = make_engagement(engine, make_org(engine, "buyer"), supplier)
    other = make_engagement(engine, make_org(engine, "buyer"), make_org(engine, "supplier"))
    return lead, own, other


def assert_one_denial(engine: Engine, object_id: str, object_type: str, action: str, **fields: Any) -> None:
    events = denied(engine, object_id)
    assert len(events) == 1, [(e.action, e.object_type) for e in events]
    event = events[0]
    assert (event.object_type, event.action) == (object_type, action)
    for name, value in fields.items():
        assert getattr(event, name) == value


@pytest.mark.parametrize(
    ("method", "path", "body", "action"),
    [
        ("PUT", "/api/engagements/{own}/risks/{risk}", RISK, "risk_saved"),
        ("DELETE", "/api/engagements/{own}/risks/{risk}", None, "risk_deleted"),
        ("POST", "/engagements/{own}/plan/risks", {**RISK, "risk_id": "{risk}"}, "risk_saved"),
        ("POST", "/engagements/{own}/plan/risks/{risk}/delete", {}, "risk_deleted"),
    ],
    ids=["api-update", "api-delete", "form-update", "form-delete"],
)
def test_another_tenants_risk_under_ones_own_engagement_is_not_found_and_audited(
    app: FastAPI, method: str, path: str, body: dict[str, Any] | None, action: str
) -> None:
    engine = app.state.engine
    lead, own, other = two_tenants(app)
    risk_id = make_risk(engine, other)
    url = path.format(own=own.id, risk=risk_id)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        if body is None:
            response = client.request(method, url)
        elif url.startswith("/api/"):
            response = client.request(method, url, json=body)
        else:
            response = client.request(
                method, url, data={k: str(v).format(risk=risk_id) for k, v in body.items()}
            )
    assert response.status_code == 404
    assert_one_denial(
        engine, risk_id, "risk", action, engagement_id=own.id, actor_user_id=lead.user.id, outcome="denied"
    )
    with session_scope(engine) as session:  # and the other tenant's risk is untouched
        assert plan.risks(session, other.id)[0].title == "Data loss"


@pytest.mark.parametrize("face", ["api", "form"])
def test_another_tenants_register_entry_under_ones_own_engagement_is_not_found_and_audited(
    app: FastAPI, face: str
) -> None:
    engine = app.state.engine
    lead, own, other = two_tenants(app)
    entry_id = make_register_entry(engine, other)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        if face == "api":
            response = client.put(
                f"/api/engagements/{own.id}/register/{entry_id}", json={"title": "Mine now"}
            )
        else:
            form = {"entry_id": entry_id, "title": "Mine now", "status": "planned"}
            response = client.post(f"/engagements/{own.id}/plan/register", data=form)
    assert response.status_code == 404
    assert_one_denial(engine, entry_id, "register_entry", "register_entry_saved", engagement_id=own.id)


def test_a_refusal_reads_exactly_like_a_missing_object(app: FastAPI) -> None:
    """The client cannot tell 'another tenant's' from 'no such risk'; only the audit log can."""
    engine = app.state.engine
    lead, own, other = two_tenants(app)
    risk_id = make_risk(engine, other)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        refused = client.put(f"/api/engagements/{own.id}/risks/{risk_id}", json=RISK)
        missing = client.put(f"/api/engagements/{own.id}/risks/{'0' * 32}", json=RISK)
    assert refused.status_code == missing.status_code == 404
    assert refused.json() == missing.json()
    assert denied(engine, "0" * 32) == []  # a missing object is not a refusal


def test_a_refusal_already_audited_by_its_route_is_recorded_once(app: FastAPI) -> None:
    """Routes that audit their own refusal (record_denied) and re-raise are not counted twice."""
    engine, keys = app.state.engine, app.state.keys
    lead, _own, _other = two_tenants(app)
    stranger = make_person(engine, keys, "supplier_lead")
    note_id = _notification_for(engine, stranger)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        response = client.post(f"/notifications/{note_id}/read")
    assert response.status_code == 404
    assert_one_denial(engine, note_id, "notification", "notification_read", actor_user_id=lead.user.id)


def test_an_action_a_service_denies_is_audited(app: FastAPI) -> None:
    """A contributor adding a certificate through the API: the service's Denied is a 403 with its event."""
    engine, keys = app.state.engine, app.state.keys
    contributor = make_person(engine, keys, "supplier_contributor")
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, contributor)
        response = client.post(
            "/api/certificates", json={"scheme": "cyber_essentials", "issued_on": "2025-06-01"}
        )
    assert response.status_code == 403
    with session_scope(engine) as session:
        events = list(
            session.exec(
                select(AuditEvent).where(
                    AuditEvent.outcome == "denied", AuditEvent.actor_user_id == contributor.user.id
                )
            )
        )
    assert [(e.action, e.object_type) for e in events] == [("certificate_managed", "certificate")]


def test_services_refuse_other_tenants_objects_as_audited_refusals(app: FastAPI) -> None:
    """The sweep: each service that finds an object exists but is not the caller's raises Refused
    (so the handler audits it), and a missing object stays a plain NotFound."""
    engine, keys = app.state.engine, app.state.keys
    lead, own, other = two_tenants(app)
    stranger = make_person(engine, keys, "supplier_lead")
    other_supplier = make_org(engine, "supplier")
    other_lead = make_person(engine, keys, "supplier_lead", other_supplier)
    other_engagement = make_engagement(engine, make_org(engine, "buyer"), other_supplier)
    evidence_id = make_evidence(app, other_engagement, other_lead)
    certificate_id = make_certificate(engine, other_supplier, "cyber_essentials")
    actor = Actor(lead.user.id, lead.user.organisation_id, lead.user.role)
    caller = Caller(actor, audit.Who(user_id=lead.user.id), keys.audit)
    note_id = _notification_for(engine, stranger)
    token_id = _token_of(engine, stranger)
    checks = [
        ("risk", lambda s: plan.delete_risk(s, own, caller, make_risk(engine, other))),
        ("certificate", lambda s: certificates.readable(s, actor, certificate_id)),
        ("certificate", lambda s: certificates.managed(s, actor, certificate_id)),
        ("evidence", lambda s: evidence.readable(s, actor, evidence_id)),
        ("evidence", lambda s: evidence.owned(s, actor, evidence_id)),
        ("notification", lambda s: notifications.mark_read(s, lead.user.id, note_id)),
        ("api_token", lambda s: sessions.revoke_token(s, lead.user.id, token_id, now=utcnow())),
    ]
    for object_type, call in checks:
        with session_scope(engine) as session, pytest.raises(Refused) as refused:
            call(session)
        assert refused.value.object_type == object_type and refused.value.object_id
        assert isinstance(refused.value, NotFound)
    with session_scope(engine) as session, pytest.raises(NotFound) as missing:
        certificates.readable(session, actor, "0" * 32)
    assert not isinstance(missing.value, Refused)
    with session_scope(engine) as session, pytest.raises(Denied):
        certificates.require_lead(
            Actor(stranger.user.id, stranger.user.organisation_id, Role.SUPPLIER_CONTRIBUTOR)
        )


def _notification_for(engine: Engine, person: Person) -> str:
    with session_scope(engine, write=True) as session:
        row = Notification(user_id=person.user.id, category="test", subject="Hello", link="/")
        session.add(row)
        session.commit()
        return row.id


def _token_of(engine: Engine, person: Person) -> str:
    with session_scope(engine, write=True) as session:
        row, _secret = sessions.create_token(session, person.user, name="ci", expires_days=None, now=utcnow())
        session.commit()
        return row.id


def test_a_lead_inviting_into_another_organisation_is_not_found_and_audited(app: FastAPI) -> None:
    engine = app.state.engine
    lead, _own, _other = two_tenants(app)
    stranger = make_org(engine, "supplier")
    form = {"email": "new@example.com", "name": "New", "organisation_id": stranger.id}
    form["role"] = "supplier_lead"
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        response = client.post("/admin/users", data=form)
    assert response.status_code == 404
    assert_one_denial(engine, stranger.id, "organisation", "invite_team", actor_user_id=lead.user.id)
    with session_scope(engine) as session:
        from app.models import User

        assert session.exec(select(User).where(User.email == "new@example.com")).first() is None
