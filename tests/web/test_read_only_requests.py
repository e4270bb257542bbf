"""One rule for what a request writes: a read (GET) never writes in its read transaction (it
would have to upgrade, which SQLite refuses under concurrency), and whatever it must record
goes into a short write transaction of its own; a write request never opens a second writer
beside its own (it would wait for itself until the busy timeout)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, Organisation, WebSession, utcnow
from tests.factories import make_engagement, make_evidence, make_org, make_person, sign_in


def age_sessions(engine: Engine, seconds: int) -> None:
    with session_scope(engine, write=True) as session:
        session.execute(update(WebSession).values(last_seen_at=utcnow() - timedelta(seconds=seconds)))
        session.commit()


def last_seen_ago(engine: Engine) -> float:
    with session_scope(engine) as session:
        seen = session.exec(select(WebSession.last_seen_at)).one()
    seen = seen if seen.tzinfo else seen.replace(tzinfo=utcnow().tzinfo)
    return (utcnow() - seen).total_seconds()


def test_read_only_sessions_refuse_every_write(engine: Engine) -> None:
    from app.db import WriteInReadOnlySession

    with session_scope(engine, read_only=True) as session:
        session.add(Organisation(name="Sneaky", kind="supplier"))
        with pytest.raises(WriteInReadOnlySession):
            session.flush()
    with session_scope(engine, read_only=True) as session, pytest.raises(WriteInReadOnlySession):
        session.execute(update(Organisation).values(name="x"))
    with session_scope(engine, read_only=True) as session:
        assert session.exec(select(Organisation)).all() == []  # reads are fine


@pytest.mark.parametrize("method", ["PUT", "GET"])
def test_a_request_after_the_touch_interval_answers_at_once_and_touches_the_session(
    app: FastAPI, method: str
) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        age_sessions(engine, 120)
        started = time.monotonic()
        if method == "PUT":
            response = client.put(
                f"/api/engagements/{engagement.id}/responses/CPS-1.1",
                json={"status": "met", "statement": "x"},
            )
        else:
            response = client.get(f"/api/engagements/{engagement.id}/readiness")
        assert response.status_code == 200, response.text
        assert time.monotonic() - started < 5  # not the 30 s busy timeout
    assert last_seen_ago(engine) < 60


def test_a_download_is_audited_in_a_committed_transaction_of_its_own(app: FastAPI) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    evidence_id = make_evidence(app, make_engagement(engine, make_org(engine, "buyer"), supplier), lead)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        sign_in(app, client, lead)
        for path in (f"/evidence/{evidence_id}/content", f"/api/evidence/{evidence_id}/content"):
            assert client.get(path).status_code == 200
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "evidence_downloaded")).all()
    assert [e.object_id for e in events] == [evidence_id, evidence_id]
