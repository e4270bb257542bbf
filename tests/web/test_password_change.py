"""Changing the password on the account page: current password and a current code, then the new
one twice; the other sessions end, this one stays; refusals are 422, audited and throttled."""

from __future__ import annotations

import time

import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent
from app.services import accounts, sessions
from tests.factories import Person, csrf_token, make_person
from tests.web.test_sign_in import full_sign_in, password_step

NEW_PASSWORD = "another long passphrase"


def change(
    app: FastAPI,
    client: TestClient,
    *,
    current: str,
    code: str,
    new: str = NEW_PASSWORD,
    confirm: str | None = None,
):  # type: ignore[no-untyped-def]
    return client.post(
        "/account/password",
        data={
            "current_password": current,
            "code": code,
            "new_password": new,
            "confirm_password": new if confirm is None else confirm,
            "csrf_token": csrf_token(app, client),
        },
        follow_redirects=False,
    )


def two_browsers(app: FastAPI, person: Person, here: TestClient, there: TestClient) -> None:
    full_sign_in(app, there, person)
    with time_machine.travel(time.time() + 31):  # a fresh 30-second step for the second sign-in
        full_sign_in(app, here, person)


def password_works(app: FastAPI, person: Person, password: str) -> bool:
    with session_scope(app.state.engine) as session:
        return sessions.check_password(session, email=person.email, password=password) is not None


def audited(app: FastAPI, person: Person, action: str) -> list[str]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(
            select(AuditEvent).where(AuditEvent.action == action, AuditEvent.actor_user_id == person.user.id)
        ).all()
    return [e.outcome for e in rows]


def test_a_wrong_current_password_is_refused_with_422_and_changes_nothing(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as here, TestClient(app) as there:
        two_browsers(app, person, here, there)
        with time_machine.travel(time.time() + 62):
            response = change(app, here, current="not my password at all", code=person.code())
            assert response.status_code == 422
            assert "current password" in response.text.lower()
            assert 'value="not my password at all"' not in response.text
            assert here.get("/api/me").status_code == 200 and there.get("/api/me").status_code == 200
    assert password_works(app, person, person.password) and not password_works(app, person, NEW_PASSWORD)
    assert audited(app, person, "password_changed") == ["denied"]


def test_a_wrong_code_is_refused_with_422_and_changes_nothing(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as here, TestClient(app) as there:
        two_browsers(app, person, here, there)
        stale = person.code(time.time() - 600)
        response = change(app, here, current=person.password, code=stale)
        assert response.status_code == 422 and "code" in response.text.lower()
        assert there.get("/api/me").status_code == 200
    assert password_works(app, person, person.password)
    assert audited(app, person, "password_changed") == ["denied"]


def test_new_passwords_that_differ_or_are_weak_are_422_and_the_code_is_not_spent(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as here, TestClient(app) as there:
        two_browsers(app, person, here, there)
        with time_machine.travel(time.time() + 62):
            code = person.code()
            differ = change(app, here, current=person.password, code=code, confirm="something else entirely")
            assert differ.status_code == 422 and "not the same" in differ.text
            weak = change(app, here, current=person.password, code=code, new="short")
            assert weak.status_code == 422 and "at least 12 characters" in weak.text
            ok = change(app, here, current=person.password, code=code)  # the same code still works
            assert ok.status_code == 303
    assert password_works(app, person, NEW_PASSWORD)


def test_a_password_change_ends_the_other_sessions_but_not_this_one(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as here, TestClient(app) as there, TestClient(app) as fresh:
        two_browsers(app, person, here, there)
        with time_machine.travel(time.time() + 62):
            response = change(app, here, current=person.password, code=person.code())
            assert response.status_code == 303
            assert here.get("/api/me").status_code == 200
            assert there.get("/api/me").status_code == 401
            assert "password was changed" in here.get("/account?changed=password").text.lower()
            assert password_step(app, fresh, person.email, person.password) == 422
            assert password_step(app, fresh, person.email, NEW_PASSWORD) == 303
    assert audited(app, person, "password_changed") == ["allowed"]


def test_a_recovery_code_may_stand_in_for_the_app(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with session_scope(app.state.engine, write=True) as session:
        codes = accounts.replace_recovery_codes(session, keys, accounts.find_user(session, person.email))
        session.commit()
    with TestClient(app) as here:
        full_sign_in(app, here, person)
        assert change(app, here, current=person.password, code=codes[0]).status_code == 303


def test_password_change_guesses_are_throttled_like_sign_in(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as here:
        full_sign_in(app, here, person)
        statuses = [
            change(app, here, current=f"wrong guess number {i}", code="000000").status_code for i in range(10)
        ]
        assert 429 in statuses and statuses.index(429) < 10
        with time_machine.travel(time.time() + 31):
            blocked = change(app, here, current=person.password, code=person.code())
            assert blocked.status_code == 429
    assert password_works(app, person, person.password)
