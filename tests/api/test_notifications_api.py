"""Notifications through the API alone: list (unread filter, limit and cursor), mark one read,
mark all read, email preferences; the same rules and audit events as the pages."""

from __future__ import annotations

import json
from datetime import timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, Notification, utcnow
from app.services import sessions
from tests.factories import Person, make_person


def bearer(app: FastAPI, person: Person) -> dict[str, str]:
    with session_scope(app.state.engine, write=True) as session:
        _, token = sessions.create_token(session, person.user, name="script", expires_days=1, now=utcnow())
        session.commit()
    return {"Authorization": f"Bearer {token}"}


def notify(app: FastAPI, person: Person, count: int) -> list[str]:
    """`count` notifications, one minute apart; ids newest first."""
    start = utcnow() - timedelta(hours=1)
    with session_scope(app.state.engine, write=True) as session:
        rows = [
            Notification(
                user_id=person.user.id,
                category="certificate_expiry",
                subject=f"note {n}",
                link="/",
                created_at=start + timedelta(minutes=n),
            )
            for n in range(count)
        ]
        session.add_all(rows)
        session.commit()
        return [row.id for row in reversed(rows)]


def events(app: FastAPI, object_id: str) -> list[tuple[str, str, str | None]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_id == object_id))
        return [(e.action, e.outcome, e.actor_user_id) for e in rows]


def test_list_pages_through_every_notification_newest_first(app: FastAPI, anonymous: TestClient) -> None:
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    ids = notify(app, lead, 5)
    headers = bearer(app, lead)
    seen: list[str] = []
    cursor = ""
    for _ in range(5):
        page = anonymous.get("/api/notifications", params={"limit": 2, "cursor": cursor}, headers=headers)
        assert page.status_code == 200, page.text
        body = page.json()
        assert body["unread"] == 5
        seen += [n["id"] for n in body["notifications"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == ids
    bad = anonymous.get("/api/notifications", params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422
    assert anonymous.get("/api/notifications", params={"limit": 0}, headers=headers).status_code == 422


def test_mark_one_and_all_read(app: FastAPI, anonymous: TestClient) -> None:
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    newest, *rest = notify(app, lead, 3)
    headers = bearer(app, lead)
    one = anonymous.post(f"/api/notifications/{newest}/read", headers=headers)
    assert one.status_code == 200 and one.json()["read_at"] is not None
    unread = anonymous.get("/api/notifications", params={"unread": True}, headers=headers).json()
    assert [n["id"] for n in unread["notifications"]] == rest and unread["unread"] == 2
    everything = anonymous.post("/api/notifications/read-all", headers=headers)
    assert everything.status_code == 200 and everything.json() == {"marked": 2, "unread": 0}
    assert anonymous.get("/api/notifications", params={"unread": True}, headers=headers).json() == {
        "notifications": [],
        "unread": 0,
        "next_cursor": None,
    }


def test_someone_elses_notification_is_not_found_and_audited(app: FastAPI, anonymous: TestClient) -> None:
    engine, keys = app.state.engine, app.state.keys
    lead, stranger = make_person(engine, keys, "supplier_lead"), make_person(engine, keys, "buyer_advisor")
    (theirs,) = notify(app, stranger, 1)
    headers = bearer(app, lead)
    refused = anonymous.post(f"/api/notifications/{theirs}/read", headers=headers)
    missing = anonymous.post(f"/api/notifications/{'0' * 32}/read", headers=headers)
    assert refused.status_code == missing.status_code == 404
    assert theirs not in refused.text
    assert events(app, theirs) == [("notification_read", "denied", lead.user.id)]
    with session_scope(engine) as session:
        row = session.get(Notification, theirs)
        assert row is not None and row.read_at is None
    listed = anonymous.get("/api/notifications", headers=headers).json()
    assert listed["notifications"] == [] and listed["unread"] == 0


def test_email_preferences_as_the_page_sets_them(app: FastAPI, anonymous: TestClient) -> None:
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    headers = bearer(app, lead)
    before = anonymous.get("/api/notifications/preferences", headers=headers).json()["email"]
    assert before and all(before.values())
    chosen = anonymous.put("/api/notifications/preferences", json={"email": ["escalation"]}, headers=headers)
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["email"]["escalation"] is True
    assert chosen.json()["email"]["certificate_expiry"] is False
    bad = anonymous.put("/api/notifications/preferences", json={"email": ["spam"]}, headers=headers)
    assert bad.status_code == 422 and "Unknown kinds" in bad.json()["error"]["message"]
    with session_scope(app.state.engine) as session:
        audited = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "notification_preferences", AuditEvent.actor_user_id == lead.user.id
            )
        ).all()
    assert [json.loads(e.details) for e in audited] == [{"email": ["escalation"]}]


def test_an_overlong_id_is_not_found_and_its_refusal_is_audited_in_full(
    app: FastAPI, anonymous: TestClient
) -> None:
    """Found by the generative API check on PostgreSQL: an id longer than the audit log's
    object id column (64 characters) made the refusal's own audit record fail with a 500."""
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    sent = "T\u0337o invoke the hive-mind representing chaos " * 3  # 141 characters
    answer = anonymous.post(f"/api/notifications/{sent}/read", headers=bearer(app, lead))
    assert answer.status_code == 404 and answer.json()["error"]["message"] == "No such notification."
    with session_scope(app.state.engine) as session:
        (event,) = session.exec(select(AuditEvent).where(AuditEvent.action == "notification_read"))
        assert (event.outcome, len(event.object_id)) == ("denied", 64)
        assert event.object_id == sent[:64]
        assert json.loads(event.details)["object_id"] == sent  # what was asked for, in full


def test_an_overlong_id_in_any_kind_of_path_is_not_found(app: FastAPI, anonymous: TestClient) -> None:
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    sent = "x" * 300
    headers = bearer(app, lead)
    for path in (
        f"/api/engagements/{sent}",
        f"/api/engagements/{sent}/readiness",
        f"/api/submissions/{sent}",
        f"/api/evidence/{sent}",
        f"/api/certificates/{sent}",
    ):
        assert anonymous.get(path, headers=headers).status_code == 404, path
