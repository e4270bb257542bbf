"""Issue 15 item 2: a write that waits on another's lock longer than the busy timeout answers
503 "try again", on the page and in the API, saves nothing, and the retry saves once. The lock
is held by another process (SQLite) or another connection (PostgreSQL) for the whole wait."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import select

from app.db import session_scope
from app.models import ControlResponse as Answer
from tests.conftest import built_app, make_settings
from tests.factories import make_engagement, make_org, make_person, sign_in

BUSY_SECONDS = 0.5
HOLD = """
import sqlite3, sys, time
connection = sqlite3.connect(sys.argv[1], isolation_level=None)
connection.execute("BEGIN IMMEDIATE")
print("locked", flush=True)
sys.stdin.readline()
connection.execute("ROLLBACK")
"""


@pytest.fixture
def busy_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    application = built_app(make_settings(tmp_path, database_url, database_busy_seconds=BUSY_SECONDS))
    yield application
    application.state.engine.dispose()


@contextmanager
def write_lock_held(database_url: str) -> Iterator[None]:
    """Another process holds SQLite's write lock; on PostgreSQL another connection holds a lock
    on the answers table that every write of an answer waits for."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        holder = subprocess.Popen(
            [sys.executable, "-c", HOLD, str(url.database)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "locked"
        try:
            yield
        finally:
            holder.stdin.write("\n")
            holder.stdin.flush()
            holder.wait(timeout=10)
        return
    other = create_engine(database_url)
    with other.connect() as connection:
        connection.execute(text(f"LOCK TABLE {Answer.__tablename__} IN EXCLUSIVE MODE"))
        yield
        connection.rollback()
    other.dispose()


def test_a_save_blocked_by_another_writer_answers_503_try_again_and_saves_nothing(
    busy_app: FastAPI, database_url: str
) -> None:
    engine, keys = busy_app.state.engine, busy_app.state.keys
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    client = sign_in(busy_app, TestClient(busy_app, base_url="http://127.0.0.1:8000"), lead)
    api = f"/api/engagements/{engagement.id}/responses/CPS-1.1"
    page = f"/engagements/{engagement.id}/controls/CPS-1.1/response"
    answer = {"status": "met", "statement": "Staff are vetted to BPSS before access."}

    with write_lock_held(database_url):
        refused = client.put(api, json=answer)
        shown = client.post(page, data=answer, follow_redirects=False)

    assert refused.status_code == 503 and refused.headers["Retry-After"] == "2"
    error = refused.json()["error"]
    assert error["code"] == "busy" and "Nothing was saved: try again in a moment." in error["message"]
    assert shown.status_code == 503 and "text/html" in shown.headers["content-type"]
    assert "Nothing was saved: try again in a moment." in shown.text
    with session_scope(engine) as session:
        assert session.exec(select(Answer)).all() == []

    retried = client.put(api, json=answer)  # the lock is gone: the same request now saves, once
    assert retried.status_code == 200 and retried.json()["version"] == 1
    with session_scope(engine) as session:
        assert len(session.exec(select(Answer)).all()) == 1
