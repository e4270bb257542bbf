"""Sign-in as people meet it: password then a second factor, throttling, sessions that end."""

from __future__ import annotations

import time
from datetime import timedelta

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.adapters.crypto import totp_code
from app.db import session_scope
from app.models import AuditEvent, WebSession
from tests.factories import Person, csrf_token, make_person


def cookie_name(app: FastAPI) -> str:
    return "attest_session"


def password_step(app: FastAPI, client: TestClient, email: str, password: str) -> int:
    response = client.post(
        "/sign-in",
        data={"email": email, "password": password, "next": "/", "csrf_token": csrf_token(app, client)},
        follow_redirects=False,
    )
    return response.status_code


def code_step(app: FastAPI, client: TestClient, code: str) -> int:
    response = client.post(
        "/sign-in/verify",
        data={"code": code, "next": "/account", "csrf_token": csrf_token(app, client)},
        follow_redirects=False,
    )
    return response.status_code


def full_sign_in(app: FastAPI, client: TestClient, person: Person, code: str | None = None) -> None:
    assert password_step(app, client, person.email, person.password) == 303
    assert code_step(app, client, code or person.code()) == 303


def signed_in(client: TestClient) -> bool:
    return client.get("/api/me").status_code == 200


def test_password_alone_never_yields_a_session(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    assert password_step(app, anonymous, person.email, person.password) == 303
    assert not signed_in(anonymous)
    assert anonymous.get("/account", follow_redirects=False).status_code == 303


def test_password_and_code_sign_in_and_rotate_the_session(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    assert password_step(app, anonymous, person.email, person.password) == 303
    pending = anonymous.cookies[cookie_name(app)]
    assert code_step(app, anonymous, person.code()) == 303
    assert anonymous.cookies[cookie_name(app)] != pending
    assert signed_in(anonymous)
    assert anonymous.get("/api/me").json()["email"] == person.email


def test_session_cookie_flags(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    response = anonymous.post(
        "/sign-in",
        data={"email": person.email, "password": person.password, "csrf_token": csrf_token(app, anonymous)},
        follow_redirects=False,
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert len(anonymous.cookies[cookie_name(app)]) >= 40  # >= 128 random bits


def test_a_replayed_code_is_rejected(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    code = person.code()
    full_sign_in(app, anonymous, person, code)
    anonymous.cookies.clear()
    assert password_step(app, anonymous, person.email, person.password) == 303
    assert code_step(app, anonymous, code) == 422
    assert not signed_in(anonymous)


def test_a_wrong_code_is_rejected(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    assert password_step(app, anonymous, person.email, person.password) == 303
    wrong = totp_code(person.totp_secret, time.time() - 600)
    assert code_step(app, anonymous, wrong) == 422
    assert code_step(app, anonymous, "12345") == 422
    assert not signed_in(anonymous)


def test_unknown_email_and_wrong_password_look_the_same(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    token = csrf_token(app, anonymous)
    unknown = anonymous.post(
        "/sign-in", data={"email": "nobody@example.com", "password": "x" * 20, "csrf_token": token}
    )
    wrong = anonymous.post(
        "/sign-in", data={"email": person.email, "password": "x" * 20, "csrf_token": token}
    )
    assert unknown.status_code == wrong.status_code == 422
    assert "The email address or password is not right." in unknown.text
    assert "The email address or password is not right." in wrong.text


def test_throttling_engages_within_10_failures(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    statuses = [password_step(app, anonymous, person.email, "wrong password " + str(i)) for i in range(10)]
    assert 429 in statuses and statuses.index(429) < 10
    # once throttled, even the right password does not get through
    assert password_step(app, anonymous, person.email, person.password) == 429
    # after the window, it works again
    with time_machine.travel(time.time() + 16 * 60):
        assert password_step(app, anonymous, person.email, person.password) == 303


def test_recovery_code_works_once(app: FastAPI, anonymous: TestClient, keys) -> None:
    from app.services import accounts

    person = make_person(app.state.engine, keys, "supplier_lead")
    with session_scope(app.state.engine, write=True) as session:
        user = accounts.find_user(session, person.email)
        codes = accounts.replace_recovery_codes(session, keys, user)
        session.commit()
    full_sign_in(app, anonymous, person, codes[0].upper())
    anonymous.cookies.clear()
    assert password_step(app, anonymous, person.email, person.password) == 303
    assert code_step(app, anonymous, codes[0]) == 422


def test_sign_out_ends_the_session(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    full_sign_in(app, anonymous, person)
    stolen = anonymous.cookies[cookie_name(app)]
    anonymous.post("/sign-out", data={"csrf_token": csrf_token(app, anonymous)})
    anonymous.cookies.set(cookie_name(app), stolen)
    assert not signed_in(anonymous)


def test_sign_out_everywhere_and_disable_kill_every_session(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    admin = make_person(app.state.engine, keys, "administrator")
    with TestClient(app) as phone, TestClient(app) as laptop, TestClient(app) as admin_client:
        full_sign_in(app, phone, person)
        time.sleep(0.01)
        with time_machine.travel(time.time() + 31):  # a new 30-second step for a fresh code
            full_sign_in(app, laptop, person)
        laptop.post("/account/sign-out-everywhere", data={"csrf_token": csrf_token(app, laptop)})
        assert not signed_in(phone) and not signed_in(laptop)
        with time_machine.travel(time.time() + 62):
            full_sign_in(app, phone, person)
            assert signed_in(phone)
            full_sign_in(app, admin_client, admin)
            response = admin_client.post(
                f"/admin/users/{person.user.id}/disable", data={"csrf_token": csrf_token(app, admin_client)}
            )
            assert response.status_code == 200
            assert not signed_in(phone)
            phone.cookies.clear()
            assert password_step(app, phone, person.email, person.password) == 422


def test_idle_and_absolute_timeouts(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    start = time.time()
    with time_machine.travel(start, tick=False):
        full_sign_in(app, anonymous, person)
    with time_machine.travel(start + 29 * 60, tick=False):
        assert signed_in(anonymous)  # active again: idle clock restarts
    with time_machine.travel(start + 58 * 60, tick=False):
        assert signed_in(anonymous)
    with time_machine.travel(start + 58 * 60 + 31 * 60, tick=False):
        assert not signed_in(anonymous)  # idle for more than 30 minutes
    with time_machine.travel(start + 24 * 3600, tick=False):
        full_sign_in(app, anonymous, person)
        for hour in range(1, 12):
            with time_machine.travel(start + 24 * 3600 + hour * 25 * 60, tick=False):
                assert signed_in(anonymous)
    with time_machine.travel(start + 24 * 3600 + 12 * 3600 + 60, tick=False):
        assert not signed_in(anonymous)  # 12 hours after sign-in, however active


def test_sign_in_attempts_are_audited(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    password_step(app, anonymous, person.email, "not the password at all")
    full_sign_in(app, anonymous, person)
    with session_scope(app.state.engine) as session:
        outcomes = [e.outcome for e in session.exec(select(AuditEvent).where(AuditEvent.action == "sign_in"))]
        sessions = session.exec(select(WebSession).where(WebSession.user_id == person.user.id)).all()
    assert outcomes == ["denied", "allowed"]
    assert len(sessions) == 2  # the pending one (ended) and the full one


def test_csrf_token_and_origin_are_required(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    full_sign_in(app, anonymous, person)
    assert anonymous.post("/account/tokens", data={"name": "x"}).status_code == 403
    token = csrf_token(app, anonymous)
    cross = anonymous.post(
        "/account/tokens", data={"name": "x", "csrf_token": token}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    fetch_site = anonymous.post(
        "/account/tokens", data={"name": "x", "csrf_token": token}, headers={"Sec-Fetch-Site": "cross-site"}
    )
    assert fetch_site.status_code == 403
    ok = anonymous.post("/account/tokens", data={"name": "x", "csrf_token": token})
    assert ok.status_code == 200 and "Copy your new token now" in ok.text


def test_pending_session_expires_after_5_minutes(app: FastAPI, anonymous: TestClient, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    start = time.time()
    with time_machine.travel(start, tick=False):
        assert password_step(app, anonymous, person.email, person.password) == 303
    with time_machine.travel(start + timedelta(minutes=6).total_seconds(), tick=False):
        response = anonymous.post(
            "/sign-in/verify",
            data={"code": person.code(start + 360), "csrf_token": csrf_token(app, anonymous)},
            follow_redirects=False,
        )
        assert response.status_code == 303 and response.headers["location"].endswith("/sign-in")
        assert not signed_in(anonymous)
