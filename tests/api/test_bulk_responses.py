"""POST /api/engagements/{id}/responses/bulk (issue 15 item 1): several controls at once, through
the same save rule as one answer (`responses.bulk_update`, which the work view calls too). All or
nothing: one refused control refuses the edit, naming each refused control, and stores nothing.
Every changed control gets its history line and its own `response_saved` event. Another
tenant's engagement is 404 with one `denied` event; a buyer may not bulk-edit."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, ControlResponse, Engagement, Organisation, ResponseChange
from tests.factories import Person, make_engagement, make_org, make_person, sign_in


@dataclass
class World:
    app: FastAPI
    client: TestClient
    engagement_id: str
    lead: Person

    @property
    def bulk(self) -> str:
        return f"/api/engagements/{self.engagement_id}/responses/bulk"

    def stored(self) -> dict[str, ControlResponse]:
        with session_scope(self.app.state.engine) as session:
            rows = session.exec(
                select(ControlResponse).where(ControlResponse.engagement_id == self.engagement_id)
            )
            return {row.control_id: row for row in rows}

    def count(self, action: str) -> int:
        with session_scope(self.app.state.engine) as session:
            query = select(func.count()).where(AuditEvent.action == action)
            return int(session.exec(query).one())

    def denied(self) -> int:
        with session_scope(self.app.state.engine) as session:
            query = select(func.count()).select_from(AuditEvent).where(AuditEvent.outcome == "denied")
            return int(session.exec(query).one())

    def history(self) -> int:
        with session_scope(self.app.state.engine) as session:
            query = select(func.count()).where(ResponseChange.engagement_id == self.engagement_id)
            return int(session.exec(query).one())


def start(app: FastAPI, client: TestClient) -> World:
    engine, keys = app.state.engine, app.state.keys
    supplier = make_org(engine, "supplier")
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    sign_in(app, client, lead)
    return World(app, client, engagement.id, lead)


def test_bulk_sets_status_owner_and_date_on_every_control_with_history_and_audit(
    app: FastAPI, client: TestClient
) -> None:
    w = start(app, client)
    chosen = ["CPS-1.1", "CPS-1.2", "CPS-1.3", "CPS-1.6"]
    body = {
        "control_ids": chosen,
        "status": "partially_met",
        "owner_id": w.lead.user.id,
        "target_date": "2027-02-26",
    }
    response = client.post(w.bulk, json=body)
    assert response.status_code == 200, response.text
    out = response.json()["responses"]
    assert [r["control_id"] for r in out] == chosen
    assert {(r["status"], r["owner_id"], r["target_date"], r["version"]) for r in out} == {
        ("partially_met", w.lead.user.id, "2027-02-26", 1)
    }
    assert set(w.stored()) == set(chosen)
    assert w.history() == 4 and w.count("response_saved") == 4

    # Only the owner this time: each control keeps its status, date and statement.
    client.put(
        f"/api/engagements/{w.engagement_id}/responses/CPS-1.1",
        json={
            "status": "partially_met",
            "statement": "Kept.",
            "owner_id": w.lead.user.id,
            "planned_change": "",
            "target_date": "2027-02-26",
            "expected_version": 1,
        },
    )
    other = make_person(app.state.engine, app.state.keys, "supplier_contributor", w.lead.organisation)
    again = client.post(w.bulk, json={"control_ids": ["CPS-1.1", "CPS-1.2"], "owner_id": other.user.id})
    assert again.status_code == 200, again.text
    stored = w.stored()
    assert stored["CPS-1.1"].owner_id == other.user.id and stored["CPS-1.1"].statement == "Kept."
    assert stored["CPS-1.1"].status == "partially_met" and str(stored["CPS-1.1"].target_on) == "2027-02-26"
    assert stored["CPS-1.3"].owner_id == w.lead.user.id


def test_one_refused_control_refuses_the_whole_edit_and_stores_nothing(
    app: FastAPI, client: TestClient
) -> None:
    w = start(app, client)
    client.put(f"/api/engagements/{w.engagement_id}/responses/CPS-1.2", json={"status": "met"})
    before_saves, before_history = w.count("response_saved"), w.history()
    response = client.post(
        w.bulk, json={"control_ids": ["CPS-1.1", "CPS-1.2", "CPS-1.3"], "target_date": "2027-01-15"}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["details"] == {
        "CPS-1.1": "CPS-1.1 has no answer yet: choose a status as well.",
        "CPS-1.2": "CPS-1.2 is met: a target date is kept only for not met or partially met answers.",
        "CPS-1.3": "CPS-1.3 has no answer yet: choose a status as well.",
    }
    assert "3 controls refused; nothing was saved" in error["message"]
    assert set(w.stored()) == {"CPS-1.2"} and w.stored()["CPS-1.2"].target_on is None
    assert (w.count("response_saved"), w.history()) == (before_saves, before_history)


def test_a_refusal_after_earlier_controls_were_written_rolls_them_back(
    app: FastAPI, client: TestClient
) -> None:
    w = start(app, client)
    # The first two pass the rule and are written in the transaction; the third is not a control.
    response = client.post(w.bulk, json={"control_ids": ["CPS-1.1", "CPS-1.2", "CPS-99.9"], "status": "met"})
    assert response.status_code == 422
    assert response.json()["error"]["details"] == {
        "CPS-99.9": "CPS-99.9 is not a control of this engagement."
    }
    assert w.stored() == {} and w.history() == 0 and w.count("response_saved") == 0


def test_bad_bulk_bodies_are_422_and_change_nothing(app: FastAPI, client: TestClient) -> None:
    w = start(app, client)
    cases = [
        ({"control_ids": [], "status": "met"}, "control_ids"),
        ({"control_ids": ["CPS-1.1"], "status": "mostly"}, "status"),
        ({"control_ids": ["CPS-1.1"], "target_date": "31/01/2027"}, "target_date"),
        ({"control_ids": ["CPS-1.1"] * 501, "status": "met"}, "control_ids"),
    ]
    for body, field in cases:
        response = client.post(w.bulk, json=body)
        assert response.status_code == 422, body
        assert field in response.text
    nothing = client.post(w.bulk, json={"control_ids": ["CPS-1.1"]})
    assert nothing.status_code == 422
    assert nothing.json()["error"]["message"] == "Choose a status, an owner or a target date to set."
    why = client.post(w.bulk, json={"control_ids": ["CPS-1.1"], "status": "not_applicable"})
    assert why.status_code == 422
    assert why.json()["error"]["details"] == {"CPS-1.1": "CPS-1.1: Say why this control does not apply."}
    stranger = make_person(app.state.engine, app.state.keys, "supplier_lead")
    owner = client.post(
        w.bulk, json={"control_ids": ["CPS-1.1"], "status": "met", "owner_id": stranger.user.id}
    )
    assert owner.status_code == 422
    assert "The owner must be an active member of the supplier." in owner.text
    assert w.stored() == {} and w.count("response_saved") == 0


def test_another_tenants_engagement_is_404_with_one_denied_event_and_a_buyer_may_not(
    app: FastAPI, client: TestClient
) -> None:
    w = start(app, client)
    outsider = make_person(app.state.engine, app.state.keys, "supplier_lead")
    other = sign_in(app, TestClient(app, base_url="http://127.0.0.1:8000"), outsider)
    denied = w.denied()
    response = other.post(w.bulk, json={"control_ids": ["CPS-1.1"], "status": "met"})
    assert response.status_code == 404
    assert w.engagement_id not in response.text
    assert w.denied() == denied + 1
    with session_scope(app.state.engine) as session:
        engagement = session.get(Engagement, w.engagement_id)
        assert engagement is not None
        buyer_org = session.get(Organisation, engagement.buyer_org_id)
        assert buyer_org is not None
    advisor = make_person(app.state.engine, app.state.keys, "buyer_advisor", buyer_org)
    buyer = sign_in(app, TestClient(app, base_url="http://127.0.0.1:8000"), advisor)
    refused = buyer.post(w.bulk, json={"control_ids": ["CPS-1.1"], "status": "met"})
    assert refused.status_code == 404
    assert w.stored() == {}
