"""Re-inviting someone who already has a password and MFA is a reset, not a sign-in.

The link goes by mail to the account's own address only (a real SMTP server, aiosmtpd); the person
who asked never sees it nor the current key; finishing needs a new password and a new key; every
session and token of the account ends; the audit log names the requester; the account's
organisation is told.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import time_machine
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.adapters.crypto import totp_code
from app.config import Settings
from app.db import session_scope
from app.models import AuditEvent, Notification, utcnow
from app.services import sessions
from tests.conftest import make_settings
from tests.factories import Person, csrf_token, make_org, make_person, sign_in
from tests.smtp import Inbox, serve

BASE = "http://127.0.0.1:8000"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from serve()


@pytest.fixture
def settings(tmp_path: Path, database_url: str, smtp_server: Inbox) -> Settings:
    """Mail on: a real SMTP server receives what Attest sends."""
    return make_settings(
        tmp_path, database_url, mail_backend="smtp", smtp_host=smtp_server.host, smtp_port=smtp_server.port
    )


def grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


def request_reset(app: FastAPI, requester: TestClient, person: Person) -> str:
    response = requester.post(
        f"/admin/users/{person.user.id}/invite", data={"csrf_token": csrf_token(app, requester)}
    )
    assert response.status_code == 200, response.text
    return response.text


def mailed_link(inbox: Inbox, email: str) -> str:
    (message,) = [m for m in inbox.to(email) if "/invitations/" in m.body("plain")]
    found = re.search(re.escape(BASE) + r"(/invitations/inv_[A-Za-z0-9_-]+)", message.body("plain"))
    assert found is not None, message.body("plain")
    assert found.group(1) in message.body("html")
    return found.group(1)


def set_new_password(app: FastAPI, client: TestClient, path: str, password: str = NEW_PASSWORD) -> str:
    """Step 1 of the mailed link; returns the new key the enrolment page shows."""
    response = client.post(
        path, data={"password": password, "confirm": password, "csrf_token": csrf_token(app, client)}
    )
    assert response.status_code == 200, response.text
    secret = BeautifulSoup(response.text, "html.parser").select_one("#totp-secret")
    assert secret is not None
    return secret.text.replace(" ", "")


def finish(app: FastAPI, client: TestClient, path: str, code: str) -> int:
    response = client.post(
        path + "/mfa", data={"code": code, "csrf_token": csrf_token(app, client)}, follow_redirects=False
    )
    return response.status_code


def test_an_administrator_reinviting_a_buyer_advisor_never_sees_the_link_nor_the_current_key(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    advisor = make_person(app.state.engine, keys, "buyer_advisor")
    with TestClient(app, base_url=BASE) as admin_client:
        sign_in(app, admin_client, admin)
        page = request_reset(app, admin_client, advisor)
        assert "/invitations/" not in page and "invitation-link" not in page
        assert advisor.totp_secret not in page and grouped(advisor.totp_secret) not in page
        assert "reset" in page.lower() and advisor.email in page
        # nothing the requester can reach carries the link either
        for other in ("/admin/users", "/notifications", "/audit"):
            assert "/invitations/" not in admin_client.get(other).text
    link = mailed_link(smtp_server, advisor.email)
    assert all("/invitations/" not in m.body("plain") for m in smtp_server.to(admin.email))
    with TestClient(app, base_url=BASE) as stranger:
        first = stranger.get(link)
        assert first.status_code == 200
        assert advisor.totp_secret not in first.text and grouped(advisor.totp_secret) not in first.text
        assert BeautifulSoup(first.text, "html.parser").select_one("#totp-secret") is None


def test_a_supplier_lead_reinviting_a_contributor_gets_no_link_and_the_mailed_link_shows_a_new_key(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    lead = make_person(app.state.engine, keys, "supplier_lead")
    contributor = make_person(app.state.engine, keys, "supplier_contributor", lead.organisation)
    with TestClient(app, base_url=BASE) as lead_client:
        sign_in(app, lead_client, lead)
        page = request_reset(app, lead_client, contributor)
        assert "/invitations/" not in page
        assert grouped(contributor.totp_secret) not in page
    link = mailed_link(smtp_server, contributor.email)
    with TestClient(app, base_url=BASE) as browser:
        page_one = browser.get(link).text
        assert "new password" in page_one.lower() and contributor.totp_secret not in page_one
        new_secret = set_new_password(app, browser, link)
        assert new_secret != contributor.totp_secret
        again = browser.get(link).text  # coming back shows the same new key, never the old one
        assert grouped(contributor.totp_secret) not in again


def test_completing_a_reset_without_a_new_password_is_impossible(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    advisor = make_person(app.state.engine, keys, "buyer_advisor")
    with TestClient(app, base_url=BASE) as admin_client:
        request_reset(app, sign_in(app, admin_client, admin), advisor)
    link = mailed_link(smtp_server, advisor.email)
    with TestClient(app, base_url=BASE) as attacker:
        attacker.get(link)
        # straight to the code step with a code from the current key: no session, no codes
        assert finish(app, attacker, link, advisor.code()) in {303, 422}
        assert attacker.get("/api/me").status_code == 401
        token = csrf_token(app, attacker)
        empty = attacker.post(link, data={"password": "", "confirm": "", "csrf_token": token})
        assert empty.status_code == 422
        same = attacker.post(
            link, data={"password": advisor.password, "confirm": advisor.password, "csrf_token": token}
        )
        assert same.status_code == 422 and "new password" in same.text.lower()
        assert attacker.get("/api/me").status_code == 401


def test_the_old_totp_code_does_not_finish_a_reset(app: FastAPI, smtp_server: Inbox, keys) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    advisor = make_person(app.state.engine, keys, "buyer_advisor")
    with TestClient(app, base_url=BASE) as admin_client:
        request_reset(app, sign_in(app, admin_client, admin), advisor)
    link = mailed_link(smtp_server, advisor.email)
    with TestClient(app, base_url=BASE) as browser:
        set_new_password(app, browser, link)
        assert finish(app, browser, link, advisor.code()) == 422
        assert browser.get("/api/me").status_code == 401
    # until the reset is finished the old credentials still sign in (the request alone locks no one out)
    from tests.web.test_sign_in import full_sign_in

    with TestClient(app, base_url=BASE) as laptop, time_machine.travel(time.time() + 31):
        full_sign_in(app, laptop, advisor)
        assert laptop.get("/api/me").status_code == 200


def test_completing_a_reset_ends_the_old_session_and_token_and_the_old_credentials(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    from tests.web.test_sign_in import password_step

    admin = make_person(app.state.engine, keys, "administrator")
    victim = make_person(app.state.engine, keys, "buyer_advisor")
    with session_scope(app.state.engine, write=True) as session:
        _, api_token = sessions.create_token(
            session, victim.user, name="script", expires_days=30, now=utcnow()
        )
        session.commit()
    bearer = {"Authorization": f"Bearer {api_token}"}
    with (
        TestClient(app, base_url=BASE) as victim_client,
        TestClient(app, base_url=BASE) as admin_client,
        TestClient(app, base_url=BASE) as browser,
    ):
        sign_in(app, victim_client, victim)
        assert victim_client.get("/api/me").status_code == 200
        assert browser.get("/api/me", headers=bearer).status_code == 200
        request_reset(app, sign_in(app, admin_client, admin), victim)
        link = mailed_link(smtp_server, victim.email)
        secret = set_new_password(app, browser, link)
        assert finish(app, browser, link, totp_code(secret, time.time())) == 200
        assert browser.get("/api/me").json()["email"] == victim.email  # the new credentials' browser
        assert victim_client.get("/api/me").status_code == 401
        browser.cookies.clear()
        assert browser.get("/api/me", headers=bearer).status_code == 401
        assert password_step(app, browser, victim.email, victim.password) == 422
        assert password_step(app, browser, victim.email, NEW_PASSWORD) == 303
        assert browser.get(link).status_code == 404  # once only


def test_the_audit_log_shows_the_requester_as_actor_of_the_reset(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    lead = make_person(app.state.engine, keys, "supplier_lead")
    contributor = make_person(app.state.engine, keys, "supplier_contributor", lead.organisation)
    with TestClient(app, base_url=BASE) as lead_client:
        request_reset(app, sign_in(app, lead_client, lead), contributor)
    link = mailed_link(smtp_server, contributor.email)
    with TestClient(app, base_url=BASE) as browser:
        secret = set_new_password(app, browser, link)
        assert finish(app, browser, link, totp_code(secret, time.time())) == 200
    with session_scope(app.state.engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.object_id == contributor.user.id).order_by(AuditEvent.seq)
        ).all()
    by_action = {e.action: e for e in events}
    requested = by_action["account_reset_requested"]
    assert requested.actor_user_id == lead.user.id and requested.outcome == "allowed"
    completed = by_action["account_reset_completed"]
    assert completed.actor_user_id == contributor.user.id
    assert json.loads(completed.details)["requested_by"] == lead.user.id
    assert "user_invited" not in by_action and "mfa_enrolled" not in by_action


def test_the_user_and_the_other_supplier_leads_are_told_of_a_reset(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    supplier = make_org(app.state.engine, "supplier")
    lead = make_person(app.state.engine, keys, "supplier_lead", supplier)
    other_lead = make_person(app.state.engine, keys, "supplier_lead", supplier)
    contributor = make_person(app.state.engine, keys, "supplier_contributor", supplier)
    bystander = make_person(app.state.engine, keys, "supplier_contributor", supplier)
    with TestClient(app, base_url=BASE) as lead_client:
        request_reset(app, sign_in(app, lead_client, lead), contributor)
    with session_scope(app.state.engine) as session:
        told = {n.user_id for n in session.exec(select(Notification)).all()}
    assert {contributor.user.id, other_lead.user.id} <= told
    assert bystander.user.id not in told
    (lead_mail,) = smtp_server.to(other_lead.email)
    assert contributor.email in lead_mail.body("plain") and "/invitations/" not in lead_mail.body("plain")
    assert smtp_server.to(bystander.email) == []


def test_the_user_and_the_buyers_other_advisors_are_told_of_a_reset(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    buyer = make_org(app.state.engine, "buyer")
    advisor = make_person(app.state.engine, keys, "buyer_advisor", buyer)
    colleague = make_person(app.state.engine, keys, "buyer_advisor", buyer)
    with TestClient(app, base_url=BASE) as admin_client:
        request_reset(app, sign_in(app, admin_client, admin), advisor)
    with TestClient(app, base_url=BASE) as colleague_client:
        sign_in(app, colleague_client, colleague)
        assert advisor.email in colleague_client.get("/notifications").text
    with TestClient(app, base_url=BASE) as advisor_client:
        sign_in(app, advisor_client, advisor)
        assert "reset" in advisor_client.get("/notifications").text.lower()
    (told,) = smtp_server.to(colleague.email)
    assert "/invitations/" not in told.body("plain")


def test_a_new_account_link_goes_by_mail_and_is_not_shown_when_mail_is_on(
    app: FastAPI, smtp_server: Inbox, keys
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    supplier = make_org(app.state.engine, "supplier")
    with TestClient(app, base_url=BASE) as admin_client:
        sign_in(app, admin_client, admin)
        response = admin_client.post(
            "/admin/users",
            data={
                "email": "newcomer@example.com",
                "name": "New Comer",
                "organisation_id": supplier.id,
                "role": "supplier_lead",
                "csrf_token": csrf_token(app, admin_client),
            },
        )
        assert response.status_code == 200
        assert "/invitations/" not in response.text and "newcomer@example.com" in response.text
    link = mailed_link(smtp_server, "newcomer@example.com")
    with TestClient(app, base_url=BASE) as newcomer:
        secret = set_new_password(app, newcomer, link)
        assert finish(app, newcomer, link, totp_code(secret, time.time())) == 200
        assert newcomer.get("/api/me").json()["email"] == "newcomer@example.com"
