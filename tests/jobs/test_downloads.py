"""Big exports as jobs (issue 17 item 8): asked for in the background from the page (`?background=1`)
or the API (`Prefer: respond-async`, 202 + Location), made by a real consumer into the evidence
store, listed on the person's Downloads page and in /api/downloads with their state, fetched by that
person only (anyone else: 404, audited), a failure shown with its message and retried, and ready
files removed by the sweep once their 7 days are up. SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import get_args

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func
from sqlmodel import select

from app.adapters.jobs import make_huey
from app.api.downloads import Kind, State
from app.db import session_scope
from app.jobs import Jobs
from app.models import AuditEvent, Download, Engagement, User, utcnow
from app.services import downloads
from tests.factories import Person, csrf_token, make_engagement, make_evidence, make_org, make_person, sign_in
from tests.jobs.test_queue import consumer, wait_until
from tests.storage.test_s3_store import S3Server, make_s3_store, s3_server

__all__ = ["s3_server"]  # the session's SeaweedFS fixture, used below

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def parties(app: FastAPI) -> tuple[Engagement, Person, Person]:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    return make_engagement(engine, buyer, supplier), lead, advisor


def jobs_for(app: FastAPI) -> Jobs:
    """A worker's view of the app's queue (the SQLite file in the test's data folder)."""
    settings = app.state.settings
    return Jobs(make_huey(settings), settings, engine=app.state.engine, store=app.state.store)


def row_of(app: FastAPI, download_id: str) -> Download:
    with session_scope(app.state.engine) as session:
        row = session.get(Download, download_id)
        assert row is not None
        return row


def run_until_finished(app: FastAPI, download_id: str) -> Download:
    jobs = jobs_for(app)
    with consumer(jobs.huey):
        wait_until(lambda: row_of(app, download_id).state not in downloads.ACTIVE)
    return row_of(app, download_id)


def audited(app: FastAPI, action: str, outcome: str = "allowed") -> int:
    with session_scope(app.state.engine) as session:
        query = select(func.count()).select_from(AuditEvent)
        query = query.where(AuditEvent.action == action, AuditEvent.outcome == outcome)
        return int(session.exec(query).one())


def sheets(body: bytes) -> dict[str, list[tuple[object, ...]]]:
    book = load_workbook(io.BytesIO(body))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


def zip_content(body: bytes) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(body))
    assert archive.testzip() is None
    return {name: archive.read(name) for name in archive.namelist()}


def test_the_api_queues_a_workbook_and_the_ready_file_matches_the_immediate_export(app: FastAPI) -> None:
    engagement, lead, _ = parties(app)
    make_evidence(app, engagement, lead, data=PDF, title="Access policy")
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/export.xlsx", headers={"Prefer": "respond-async"})
    assert asked.status_code == 202, asked.text
    assert asked.headers["preference-applied"] == "respond-async"
    location = asked.headers["location"]
    body = asked.json()
    assert location.endswith(f"/api/downloads/{body['id']}")
    assert body["state"] == "queued" and body["content_url"] is None
    assert client.get(location).json()["state"] == "queued"  # no worker yet
    early = client.get(f"/api/downloads/{body['id']}/content")
    assert early.status_code == 409 and early.json()["error"]["message"] == "This file is not ready yet."
    # The same request again, still waiting, is the same download, not a second job.
    again = client.get(f"/api/engagements/{engagement.id}/export.xlsx", headers={"Prefer": "respond-async"})
    assert again.status_code == 202 and again.json()["id"] == body["id"]

    row = run_until_finished(app, body["id"])
    assert row.state == "ready" and row.progress == 100 and row.attempts == 1
    shown = client.get(location).json()
    assert shown["state"] == "ready" and shown["content_url"].endswith(f"/api/downloads/{body['id']}/content")
    assert shown["expires_at"] is not None
    fetched = client.get(shown["content_url"])
    assert fetched.status_code == 200
    assert fetched.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert fetched.headers["cache-control"] == "no-store"
    immediate = client.get(f"/api/engagements/{engagement.id}/export.xlsx")  # small: at once, as before
    assert immediate.status_code == 200
    assert fetched.headers["content-disposition"] == immediate.headers["content-disposition"]
    made = sheets(fetched.content)
    assert made == sheets(immediate.content)
    assert any("Access policy" in str(cell) for rows in made.values() for row in rows for cell in row)
    assert [d["id"] for d in client.get("/api/downloads").json()["downloads"]] == [body["id"]]
    assert audited(app, "download_requested") == 1
    assert audited(app, "download_fetched") == 1
    assert audited(app, "engagement_exported") == 2  # the job's export and the immediate one


def test_the_csv_made_in_the_background_is_byte_for_byte_the_immediate_one(app: FastAPI) -> None:
    engagement, lead, advisor = parties(app)
    make_evidence(app, engagement, lead, data=PDF)
    client = sign_in(app, TestClient(app), advisor)
    asked = client.get(f"/api/engagements/{engagement.id}/export.csv", headers={"Prefer": "respond-async"})
    assert asked.status_code == 202
    run_until_finished(app, asked.json()["id"])
    fetched = client.get(f"/api/downloads/{asked.json()['id']}/content")
    immediate = client.get(f"/api/engagements/{engagement.id}/export.csv")
    assert fetched.status_code == immediate.status_code == 200
    assert fetched.content == immediate.content
    assert fetched.headers["content-type"] == immediate.headers["content-type"]


def test_the_page_queues_a_bundle_and_lists_it_from_queued_to_ready(app: FastAPI) -> None:
    engagement, lead, _ = parties(app)
    make_evidence(app, engagement, lead, data=PDF + b"% one\n", control_ids=("CPS-1.1", "CPS-1.2"))
    make_evidence(app, engagement, lead, data=PDF + b"% two\n", control_ids=("CPS-3.5",), title="Log")
    client = sign_in(app, TestClient(app), lead)
    dashboard = client.get(f"/engagements/{engagement.id}").text  # the dashboard offers it
    assert f'href="/engagements/{engagement.id}/evidence.zip?background=1"' in dashboard
    asked = client.get(f"/engagements/{engagement.id}/evidence.zip?background=1", follow_redirects=False)
    assert asked.status_code == 303 and asked.headers["location"].endswith("/downloads")
    page = client.get("/downloads")
    assert page.status_code == 200
    [row_id] = re.findall(r'id="download-([0-9a-f]{32})" data-state="queued"', page.text)
    assert "evidence bundle (ZIP)" in page.text and "1 file is being made" in page.text
    assert 'hx-trigger="every 2s"' in page.text  # the list refreshes itself while a file is made
    fragment = client.get("/downloads", headers={"HX-Request": "true", "HX-Target": "downloads"})
    assert "<h1" not in fragment.text and 'hx-swap-oob="true"' in fragment.text

    run_until_finished(app, row_id)
    page = client.get("/downloads")
    assert f'id="download-{row_id}" data-state="ready"' in page.text
    assert f"/downloads/{row_id}/content" in page.text and 'hx-trigger="every 2s"' not in page.text
    fetched = client.get(f"/downloads/{row_id}/content")
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/zip"
    immediate = client.get(f"/engagements/{engagement.id}/evidence.zip")
    made, direct = zip_content(fetched.content), zip_content(immediate.content)
    assert made == direct and len(made) == 4  # two manifests and the two files, byte for byte
    assert fetched.headers["content-disposition"] == immediate.headers["content-disposition"]
    assert row_of(app, row_id).object_name in app.state.store.list_names(downloads.FOLDER)


def test_nobody_else_sees_or_fetches_a_download_and_each_refusal_is_audited(app: FastAPI) -> None:
    engagement, lead, advisor = parties(app)
    engine, keys = app.state.engine, app.state.keys
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/export.csv", headers={"Prefer": "respond-async"})
    download_id = asked.json()["id"]
    run_until_finished(app, download_id)
    colleague = make_person(engine, keys, "supplier_contributor", lead.organisation)
    administrator = make_person(engine, keys, "administrator")
    for person in (colleague, advisor, administrator):
        other = sign_in(app, TestClient(app), person)
        for path in (
            f"/api/downloads/{download_id}",
            f"/api/downloads/{download_id}/content",
            f"/downloads/{download_id}/content",
        ):
            before = audited(app, "download_fetched", "denied")
            answer = other.get(path)
            assert answer.status_code == 404, (person.user.role, path)
            assert download_id not in answer.text
            assert audited(app, "download_fetched", "denied") == before + 1
        token = csrf_token(app, other)
        refused = other.post(f"/downloads/{download_id}/retry", data={"csrf_token": token})
        assert refused.status_code == 404
        assert other.get("/api/downloads").json()["downloads"] == []
        assert download_id not in other.get("/downloads").text
    assert audited(app, "download_fetched") == 0  # nobody fetched it
    assert client.get(f"/api/downloads/{download_id}/content").status_code == 200


def test_a_failed_job_shows_its_message_and_is_made_once_asked_again(app: FastAPI) -> None:
    engagement, lead, _ = parties(app)
    missing = PDF + b"% gone\n"
    make_evidence(app, engagement, lead, data=missing)
    key = hashlib.sha256(missing).hexdigest()
    app.state.store.delete(key)  # the file the bundle needs has gone from the store
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/engagements/{engagement.id}/evidence.zip?background=1", follow_redirects=False)
    assert asked.status_code == 303
    [download] = client.get("/api/downloads").json()["downloads"]
    row = run_until_finished(app, download["id"])
    assert row.state == "failed" and row.message == downloads.MISSING_FILE
    page = client.get("/downloads")
    assert f'id="download-{row.id}" data-state="failed"' in page.text
    assert "A file the bundle needs is missing from the evidence store." in page.text
    assert client.get(f"/downloads/{row.id}/content").status_code == 409
    assert app.state.store.list_names(downloads.FOLDER) == []  # nothing half-written is left

    with app.state.store.begin(filename="policy.pdf") as upload:  # the file is put back
        upload.write(missing)
        assert upload.finish().key == key
    retried = client.post(
        f"/downloads/{row.id}/retry", data={"csrf_token": csrf_token(app, client)}, follow_redirects=False
    )
    assert retried.status_code == 303
    assert row_of(app, row.id).state == "queued" and row_of(app, row.id).message == ""
    again = client.post(f"/api/downloads/{row.id}/retry", json={})
    assert again.status_code == 409  # already queued: nothing to retry
    row = run_until_finished(app, row.id)
    assert row.state == "ready" and row.attempts == 2
    fetched = client.get(f"/api/downloads/{row.id}/content")
    assert missing in zip_content(fetched.content).values()
    assert audited(app, "download_requested") == 2  # asked, then asked again


def test_the_sweep_removes_ready_files_after_seven_days(app: FastAPI) -> None:
    engagement, lead, _ = parties(app)
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/export.csv", headers={"Prefer": "respond-async"})
    row = run_until_finished(app, asked.json()["id"])
    assert row.expires_at is not None and row.finished_at is not None
    assert row.expires_at - row.finished_at == timedelta(days=7)
    store, engine = app.state.store, app.state.engine
    assert downloads.sweep(engine, store, now=utcnow() + timedelta(days=6)) == 0
    assert store.list_names(downloads.FOLDER) == [row.object_name]
    assert downloads.sweep(engine, store, now=utcnow() + timedelta(days=7, minutes=1)) == 1
    assert store.list_names(downloads.FOLDER) == []
    assert row_of(app, row.id).state == "expired"
    gone = client.get(f"/api/downloads/{row.id}/content")
    assert gone.status_code == 404
    assert (
        gone.json()["error"]["message"]
        == "This file was kept for 7 days and has been removed. Ask for it again."
    )
    assert "Expired" in client.get("/downloads").text
    # Asked again, it is made again.
    assert client.post(f"/api/downloads/{row.id}/retry", json={}).status_code == 202
    assert run_until_finished(app, row.id).state == "ready"


def test_refusals_and_bad_requests_queue_nothing(app: FastAPI) -> None:
    engagement, lead, advisor = parties(app)
    client = sign_in(app, TestClient(app), lead)
    # No ISO/IEC 27001 in scope: 404 at once, as the immediate download says.
    soa = client.get(
        f"/api/engagements/{engagement.id}/statement-of-applicability.xlsx",
        headers={"Prefer": "respond-async"},
    )
    assert soa.status_code == 404 and "does not assess ISO/IEC 27001" in soa.json()["error"]["message"]
    # The portfolio is for buyer advisors: refused before anything is queued.
    portfolio = client.get("/api/exports/portfolio.xlsx", headers={"Prefer": "respond-async"})
    assert portfolio.status_code == 403
    buyer, supplier = make_org(app.state.engine, "buyer"), make_org(app.state.engine, "supplier")
    elsewhere = make_engagement(app.state.engine, buyer, supplier)
    other = client.get(f"/api/engagements/{elsewhere.id}/export.xlsx", headers={"Prefer": "respond-async"})
    assert other.status_code == 404
    assert client.get("/api/downloads").json()["downloads"] == []
    # The advisor's portfolio is queued and made like any other file.
    adviser = sign_in(app, TestClient(app), advisor)
    asked = adviser.get("/exports/portfolio.xlsx?background=1", follow_redirects=False)
    assert asked.status_code == 303
    [made] = adviser.get("/api/downloads").json()["downloads"]
    assert made["title"] == "Certificate portfolio (XLSX)"
    assert run_until_finished(app, made["id"]).state == "ready"
    assert "Required certificates" in sheets(adviser.get(f"/api/downloads/{made['id']}/content").content)


def test_a_bundle_is_made_into_an_s3_bucket_in_parts_and_swept_from_it(
    app: FastAPI, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = make_s3_store(s3_server, tmp_path / "spool")
    monkeypatch.setattr(app.state, "store", bucket)
    engagement, lead, _ = parties(app)
    big = PDF + b"%" + os.urandom(9 * 1024 * 1024)  # past boto3's 8 MB multipart threshold
    make_evidence(app, engagement, lead, data=big)
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/evidence.zip", headers={"Prefer": "respond-async"})
    download_id = asked.json()["id"]
    jobs = Jobs(make_huey(app.state.settings), app.state.settings, engine=app.state.engine, store=bucket)
    assert jobs.make_download.call_local(download_id) == "ready"
    row = row_of(app, download_id)
    assert bucket.list_names(downloads.FOLDER) == [row.object_name]
    fetched = client.get(f"/api/downloads/{download_id}/content")
    assert fetched.status_code == 200 and len(fetched.content) == row.size
    assert big in zip_content(fetched.content).values()
    assert downloads.sweep(app.state.engine, bucket, now=utcnow() + timedelta(days=8)) == 1
    assert bucket.list_names(downloads.FOLDER) == []


def test_the_worker_registers_the_job_and_the_hourly_sweep(app: FastAPI) -> None:
    jobs = jobs_for(app)
    periodic = {task.name for task in jobs.huey.read_periodic(datetime.now(UTC).replace(minute=7))}
    assert "attest.downloads.sweep" in periodic
    assert jobs.download_sweep.call_local() == 0  # nothing to remove yet
    assert jobs.make_download.call_local("no-such-download") == "nothing to do"
    # The API's closed sets are the service's.
    assert set(get_args(State)) == {*downloads.ACTIVE, downloads.READY, downloads.FAILED, downloads.EXPIRED}
    assert set(get_args(Kind)) == set(downloads.FORMATS)


def test_a_person_disabled_before_the_job_runs_gets_no_file(app: FastAPI) -> None:
    engagement, lead, _ = parties(app)
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/export.xlsx", headers={"Prefer": "respond-async"})
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, lead.user.id)
        assert user is not None
        user.disabled_at = utcnow()
        session.add(user)
        session.commit()
    assert jobs_for(app).make_download.call_local(asked.json()["id"]) == "failed"
    row = row_of(app, asked.json()["id"])
    assert row.message == "Your account can no longer sign in, so the file was not made."
    assert audited(app, "engagement_exported") == 0  # nothing was exported for them
    assert app.state.store.list_names(downloads.FOLDER) == []


def test_progress_is_recorded_as_the_bundle_is_written(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    engagement, lead, _ = parties(app)
    for n in range(4):
        make_evidence(
            app, engagement, lead, data=PDF + b"%" + os.urandom(300_000) + bytes([n]), title=f"F{n}"
        )
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/evidence.zip", headers={"Prefer": "respond-async"})
    download_id = asked.json()["id"]
    monkeypatch.setattr(downloads, "PROGRESS_EVERY_SECONDS", 0.0)
    seen: list[tuple[str, int]] = []
    record = downloads._Progress.__call__

    def watched(self: downloads._Progress, percent: int, *, force: bool = False) -> None:
        record(self, percent, force=force)
        shown = client.get(f"/api/downloads/{download_id}").json()  # what the person sees meanwhile
        seen.append((shown["state"], shown["progress"]))

    monkeypatch.setattr(downloads._Progress, "__call__", watched)
    assert jobs_for(app).make_download.call_local(download_id) == "ready"
    assert {state for state, _ in seen} == {"running"}
    values = [progress for _, progress in seen]
    assert values == sorted(values) and values[0] >= 5 and max(values) < 100
    assert len(set(values)) >= 3  # it moved while the files were written, not only at the end
    assert client.get(f"/api/downloads/{download_id}").json()["progress"] == 100


def test_the_plan_is_made_in_the_background_as_pdf_and_word_and_matches_the_immediate_one(
    app: FastAPI,
) -> None:
    """The whole plan takes seconds for a large engagement: the API (`Prefer: respond-async`) and
    the page (`?background=1`) hand it to the worker, and the file it makes is the plan."""
    from docx import Document
    from pypdf import PdfReader

    engagement, lead, _ = parties(app)
    client = sign_in(app, TestClient(app), lead)
    asked = client.get(f"/api/engagements/{engagement.id}/plan.pdf", headers={"Prefer": "respond-async"})
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert body["kind"] == "plan" and body["state"] == "queued"
    assert run_until_finished(app, body["id"]).state == "ready"
    fetched = client.get(f"/api/downloads/{body['id']}/content")
    assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/pdf"
    immediate = client.get(f"/api/engagements/{engagement.id}/plan.pdf")
    assert fetched.headers["content-disposition"] == immediate.headers["content-disposition"]
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(fetched.content)).pages)
    assert engagement.reference in text and "Security Management Plan" in text

    queued = client.get(f"/engagements/{engagement.id}/plan.docx?background=1", follow_redirects=False)
    assert queued.status_code == 303 and queued.headers["location"].endswith("/downloads")
    [row_id] = re.findall(r'id="download-([0-9a-f]{32})" data-state="queued"', client.get("/downloads").text)
    assert run_until_finished(app, row_id).state == "ready"
    word = client.get(f"/downloads/{row_id}/content")
    assert word.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.wordprocessing"
    )
    paragraphs = "\n".join(p.text for p in Document(io.BytesIO(word.content)).paragraphs)
    assert engagement.reference in paragraphs
    assert audited(app, "engagement_exported") == 3  # the two jobs' and the immediate one
