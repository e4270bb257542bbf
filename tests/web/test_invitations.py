"""An administrator invites someone; the link sets a password and enrols MFA; codes are shown once.

These run with mail off (the console mailer, as in development): only then does a page show a
link, and only for an account never enrolled. Mail on is in test_account_reset.py."""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.adapters.crypto import new_token, sha256_hex, totp_code
from app.db import session_scope
from app.models import Invitation, utcnow
from tests.factories import csrf_token, make_org, make_person, sign_in


def invite(app: FastAPI, client: TestClient, org_id: str, role: str, email: str) -> str:
    response = client.post(
        "/admin/users",
        data={
            "email": email,
            "name": "New Person",
            "organisation_id": org_id,
            "role": role,
            "csrf_token": csrf_token(app, client),
        },
    )
    assert response.status_code == 200, response.text
    link = BeautifulSoup(response.text, "html.parser").select_one("#invitation-link")
    assert link is not None
    return link.text.replace("http://127.0.0.1:8000", "")


def test_invitation_sets_password_enrols_mfa_and_signs_in(app: FastAPI, keys) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    supplier = make_org(app.state.engine, "supplier")
    with TestClient(app) as admin_client, TestClient(app) as newcomer:
        sign_in(app, admin_client, admin)
        path = invite(app, admin_client, supplier.id, "supplier_lead", "new.lead@example.com")
        page = newcomer.get(path)
        assert page.status_code == 200 and "Set your password" in page.text
        token = csrf_token(app, newcomer)
        short = newcomer.post(path, data={"password": "short", "confirm": "short", "csrf_token": token})
        assert short.status_code == 422 and "at least 12 characters" in short.text
        ok = newcomer.post(
            path,
            data={
                "password": "a good long passphrase",
                "confirm": "a good long passphrase",
                "csrf_token": token,
            },
        )
        assert ok.status_code == 200 and "Set up your authenticator app" in ok.text
        enrol = BeautifulSoup(ok.text, "html.parser")
        assert enrol.select_one("#qr svg") is not None  # inline SVG, no external QR service
        secret = enrol.select_one("#totp-secret").text.replace(" ", "")
        assert newcomer.get("/api/me").status_code == 401  # password alone: no session
        wrong = newcomer.post(path + "/mfa", data={"code": "000000", "csrf_token": token})
        assert wrong.status_code == 422
        done = newcomer.post(
            path + "/mfa", data={"code": totp_code(secret, time.time()), "csrf_token": token}
        )
        assert done.status_code == 200 and done.headers["cache-control"] == "no-store"
        codes = [c.text for c in BeautifulSoup(done.text, "html.parser").select("#recovery-codes code")]
        assert len(codes) == 10 and all(
            re.fullmatch(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", c) for c in codes
        )
        assert newcomer.get("/api/me").json()["email"] == "new.lead@example.com"
        again = newcomer.get(path)
        assert again.status_code == 404  # the link works once


def test_a_lead_invites_only_their_own_team(app: FastAPI, keys) -> None:
    lead = make_person(app.state.engine, keys, "supplier_lead")
    other = make_org(app.state.engine, "supplier")
    with TestClient(app) as client:
        sign_in(app, client, lead)
        invite(app, client, lead.organisation.id, "supplier_contributor", "helper@example.com")
        token = csrf_token(app, client)
        as_advisor = client.post(
            "/admin/users",
            data={
                "email": "a@example.com",
                "organisation_id": lead.organisation.id,
                "role": "buyer_advisor",
                "csrf_token": token,
            },
        )
        assert as_advisor.status_code == 422
        elsewhere = client.post(
            "/admin/users",
            data={
                "email": "b@example.com",
                "organisation_id": other.id,
                "role": "supplier_contributor",
                "csrf_token": token,
            },
        )
        assert elsewhere.status_code == 404  # another organisation reads as "not found" (and is audited)
        assert "b@example.com" not in client.get("/admin/users").text


def test_role_must_fit_the_organisation(app: FastAPI, keys) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    buyer = make_org(app.state.engine, "buyer")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        response = client.post(
            "/admin/users",
            data={
                "email": "x@example.com",
                "organisation_id": buyer.id,
                "role": "supplier_lead",
                "csrf_token": csrf_token(app, client),
            },
        )
        assert response.status_code == 422
        assert "must belong to a supplier organisation" in response.text
        duplicate = client.post(
            "/admin/users",
            data={
                "email": admin.email,
                "organisation_id": admin.organisation.id,
                "role": "administrator",
                "csrf_token": csrf_token(app, client),
            },
        )
        assert duplicate.status_code == 422 and "already exists" in duplicate.text


def test_with_mail_off_the_console_mailer_prints_a_new_accounts_link_and_the_page_shows_it(
    app: FastAPI, keys, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    supplier = make_org(app.state.engine, "supplier")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        path = invite(app, client, supplier.id, "supplier_lead", "printed@example.com")
    printed = capsys.readouterr().err
    assert "--- mail to printed@example.com" in printed and path in printed


def test_with_mail_off_a_reset_link_is_printed_by_the_console_mailer_but_never_shown(
    app: FastAPI, keys, capsys: pytest.CaptureFixture[str]
) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    advisor = make_person(app.state.engine, keys, "buyer_advisor")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        page = client.post(
            f"/admin/users/{advisor.user.id}/invite", data={"csrf_token": csrf_token(app, client)}
        )
        assert page.status_code == 200
        assert "/invitations/" not in page.text and "invitation-link" not in page.text
        assert "Reset password and app" in client.get("/admin/users").text
    printed = capsys.readouterr().err
    assert f"--- mail to {advisor.email}" in printed and "/invitations/inv_" in printed


def test_a_link_made_as_an_invitation_does_not_open_an_account_that_has_credentials(
    app: FastAPI, anonymous: TestClient, keys
) -> None:
    """Links handed out before resets existed (purpose 'invite') cannot take over an account."""
    person = make_person(app.state.engine, keys, "supplier_contributor")
    token, now = new_token("inv"), utcnow()
    with session_scope(app.state.engine, write=True) as session:
        session.add(
            Invitation(
                user_id=person.user.id,
                token_hash=sha256_hex(token),
                created_at=now,
                expires_at=now + timedelta(days=7),
            )
        )
        session.commit()
    assert anonymous.get(f"/invitations/{token}").status_code == 404
    done = anonymous.post(
        f"/invitations/{token}/mfa", data={"code": person.code(), "csrf_token": csrf_token(app, anonymous)}
    )
    assert done.status_code == 404 and anonymous.get("/api/me").status_code == 401
