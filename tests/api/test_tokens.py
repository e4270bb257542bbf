"""Personal access tokens: shown once, stored hashed, scoped to the user, revocable, expiring."""

from __future__ import annotations

import time

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import ApiToken, utcnow
from app.services import sessions
from tests.factories import make_engagement, make_org, make_person


def new_token(app: FastAPI, person, days: int | None = 30) -> tuple[str, str]:
    with session_scope(app.state.engine, write=True) as session:
        row, token = sessions.create_token(
            session, person.user, name="script", expires_days=days, now=utcnow()
        )
        session.commit()
        return row.id, token


def test_bearer_token_acts_as_its_user(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "buyer_advisor")
    _, token = new_token(app, person)
    me = anonymous.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["email"] == person.email


def test_token_is_stored_hashed(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    token_id, token = new_token(app, person)
    with session_scope(app.state.engine) as session:
        row = session.exec(select(ApiToken).where(ApiToken.id == token_id)).one()
    assert token not in (row.token_hash, row.prefix) and len(row.token_hash) == 64


def test_token_rights_are_the_users_rights(app: FastAPI, anonymous: TestClient, keys) -> None:
    engine = app.state.engine
    buyer, supplier, other = (
        make_org(engine, "buyer"),
        make_org(engine, "supplier"),
        make_org(engine, "supplier"),
    )
    mine = make_engagement(engine, buyer, supplier)
    theirs = make_engagement(engine, buyer, other)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    _, token = new_token(app, lead)
    headers = {"Authorization": f"Bearer {token}"}
    assert anonymous.get(f"/api/engagements/{mine.id}", headers=headers).status_code == 200
    assert anonymous.get(f"/api/engagements/{theirs.id}", headers=headers).status_code == 404


def test_revoked_expired_and_bogus_tokens_get_401(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    token_id, token = new_token(app, person, days=1)
    headers = {"Authorization": f"Bearer {token}"}
    with time_machine.travel(time.time() + 2 * 86400):
        response = anonymous.get("/api/me", headers=headers)
        assert response.status_code == 401
        assert "expired" in response.json()["error"]["message"]
    with session_scope(app.state.engine, write=True) as session:
        sessions.revoke_token(session, person.user.id, token_id, now=utcnow())
        session.commit()
    assert anonymous.get("/api/me", headers=headers).status_code == 401
    assert anonymous.get("/api/me", headers={"Authorization": "Bearer att_nonsense"}).status_code == 401


def test_bearer_requests_need_no_csrf_token(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "administrator")
    _, token = new_token(app, person)
    response = anonymous.post(
        "/admin/organisations",
        data={"name": "Scripted Ltd", "kind": "supplier"},
        headers={"Authorization": f"Bearer {token}"},
        follow_redirects=False,
    )
    assert response.status_code == 303


def test_disabling_a_user_revokes_their_tokens(app: FastAPI, anonymous: TestClient, keys) -> None:
    from app.services import accounts

    person = make_person(app.state.engine, keys, "supplier_lead")
    _, token = new_token(app, person)
    with session_scope(app.state.engine, write=True) as session:
        accounts.disable_user(session, accounts.find_user(session, person.email), now=utcnow())
        session.commit()
    assert anonymous.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
