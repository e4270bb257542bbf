"""Notification centre, unread count, email preferences, due-soon panel and the secret calendar feed."""

from __future__ import annotations

from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app import clock
from app.adapters.mail import Message
from app.db import session_scope
from app.models import Notification, NotificationPreference
from app.services import reminders
from tests.factories import make_certificate, make_engagement, make_org, make_person, sign_in

TODAY = clock.today()


class Nowhere:
    def send(self, message: Message) -> None:
        pass


def setup(app: FastAPI):  # type: ignore[no-untyped-def]
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier", name="Northwind Ltd")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    make_engagement(engine, buyer, supplier)
    cert = make_certificate(
        engine,
        supplier,
        "cyber_essentials_plus",
        issued_on=TODAY - timedelta(days=340),
        expires_on=TODAY + timedelta(days=7),
    )
    return lead, advisor, cert


def test_notification_centre(app: FastAPI) -> None:
    lead, advisor, cert = setup(app)
    reminders.run(app.state.engine, Nowhere(), app.state.settings, as_of=TODAY)
    with sign_in(app, TestClient(app), lead) as client:
        home = client.get("/")
        assert 'id="unread-badge"' in home.text
        assert "Cyber Essentials Plus certificate of Northwind Ltd" in home.text  # due soon panel
        assert "in 7 days" in home.text
        page = client.get("/notifications")
        assert "expires in 7 days" in page.text and "1 unread" in page.text
        with session_scope(app.state.engine) as session:
            (note,) = session.exec(select(Notification).where(Notification.user_id == lead.user.id)).all()
        opened = client.post(f"/notifications/{note.id}/read?then=open", follow_redirects=False)
        assert opened.status_code == 303 and opened.headers["location"] == f"/certificates/{cert}"
        assert "0 unread" in client.get("/notifications").text
        assert 'id="unread-badge"' not in client.get("/notifications").text
        assert client.post("/notifications/read-all", follow_redirects=False).status_code == 303
    with sign_in(app, TestClient(app), advisor) as client:
        assert client.post(f"/notifications/{note.id}/read").status_code == 404  # someone else's


def test_email_preferences(app: FastAPI) -> None:
    lead, _, _ = setup(app)
    with sign_in(app, TestClient(app), lead) as client:
        response = client.post(
            "/notifications/preferences",
            data={"email": ["escalation", "annual_review"]},
            follow_redirects=False,
        )
        assert response.status_code == 303
        page = client.get("/notifications").text
        assert 'value="escalation" checked' in page and 'value="certificate_expiry">' in page
        bad = client.post("/notifications/preferences", data={"email": ["spam"]}, follow_redirects=False)
        assert bad.status_code == 422 and "Unknown kinds" in bad.text
    with session_scope(app.state.engine) as session:
        prefs = {p.category: p.email for p in session.exec(select(NotificationPreference))}
    assert prefs["certificate_expiry"] is False and prefs["escalation"] is True


def test_calendar_feed_is_secret_stable_and_revocable(app: FastAPI) -> None:
    lead, _, cert = setup(app)
    with sign_in(app, TestClient(app), lead) as client:
        assert "no calendar address" in client.get("/notifications/calendar").text
        page = client.post("/notifications/calendar")
        url = page.text.split("<code>")[1].split("</code>")[0]
        assert url.startswith(app.state.settings.base_url + "/calendar/cal_") and url.endswith(".ics")
        path = url.removeprefix(app.state.settings.base_url)
    with TestClient(app) as anonymous:  # a calendar client: no session
        feed = anonymous.get(path)
        assert feed.status_code == 200 and feed.headers["content-type"].startswith("text/calendar")
        text = feed.text
        assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
        uid = f"UID:certificate_expiry-{cert}-{(TODAY + timedelta(days=7)).strftime('%Y%m%d')}@attest"
        assert uid in text
        assert f"DTSTART;VALUE=DATE:{(TODAY + timedelta(days=7)).strftime('%Y%m%d')}" in text
        assert "certificate_submission-" in text  # contract-year anniversaries
        assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
        assert uid in anonymous.get(path).text  # stable UIDs on every fetch
        assert anonymous.get("/calendar/cal_wrong.ics").status_code == 404
    with sign_in(app, TestClient(app), lead) as client:
        assert "last read" in client.get("/notifications/calendar").text
        client.post("/notifications/calendar")  # a new address replaces the old one
        with TestClient(app) as anonymous:
            assert anonymous.get(path).status_code == 404
        assert client.post("/notifications/calendar/revoke", follow_redirects=False).status_code == 303
        assert client.post("/notifications/calendar/revoke").status_code == 404
