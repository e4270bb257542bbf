"""The statement PDF (ISAS / rejection notice) rendered on the job queue and kept in the evidence
store: the decision queues the render; a real consumer runs it; the download is the stored file,
audited; with no worker the first download renders and stores it once; a new plan version or a
new renderer version is a new file. Local store on SQLite and PostgreSQL; one S3 (SeaweedFS) case."""

from __future__ import annotations

import io
import json
import logging
import threading
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pypdf import PdfReader
from sqlmodel import select

from app.adapters.jobs import make_huey
from app.adapters.storage import EvidenceStore
from app.db import session_scope
from app.jobs import Jobs
from app.models import AuditEvent, Decision, Engagement, Submission
from app.services import statement_files
from tests.factories import Person, make_decided_submission, make_engagement, make_org, make_person, sign_in
from tests.jobs.test_queue import consumer, wait_until
from tests.storage.test_s3_store import S3Server, make_s3_store, s3_server

__all__ = ["s3_server"]  # the session's SeaweedFS fixture, used below
RENDERED_HERE = "rendered in the request"


def parties(app: FastAPI) -> tuple[Engagement, Person, Person]:
    buyer, supplier = make_org(app.state.engine, "buyer"), make_org(app.state.engine, "supplier")
    lead = make_person(app.state.engine, app.state.keys, "supplier_lead", supplier)
    advisor = make_person(app.state.engine, app.state.keys, "buyer_advisor", buyer)
    return make_engagement(app.state.engine, buyer, supplier), lead, advisor


def reject_through_the_api(app: FastAPI, advisor: Person, submission_id: str) -> str:
    """The advisor rejects the submission; returns the notice's number."""
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        answer = client.post(
            f"/api/submissions/{submission_id}/decision",
            json={"decision": "reject", "reasons": "The incident process is missing."},
        )
    assert answer.status_code == 200, answer.text
    number: str = answer.json()["decision"]["number"]
    return number


def download(app: FastAPI, person: Person, submission_id: str) -> bytes:
    with TestClient(app) as client:
        sign_in(app, client, person)
        answer = client.get(f"/api/submissions/{submission_id}/statement.pdf")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    return answer.content


def words(pdf: bytes) -> str:
    return " ".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())


def statements_in(store: EvidenceStore) -> list[str]:
    return store.list_names(statement_files.FOLDER)


def downloads_audited(app: FastAPI, submission_id: str) -> int:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(AuditEvent).where(AuditEvent.object_id == submission_id))
        return sum(1 for e in rows if e.action == "statement_downloaded")


def jobs_for(app: FastAPI, store: EvidenceStore | None = None) -> Jobs:
    """A worker's view of the app's queue (the SQLite file in the test's data folder)."""
    settings = app.state.settings
    return Jobs(
        make_huey(settings),
        settings,
        engine=app.state.engine,
        store=store or app.state.store,
        retry_delay=0.5,
    )


def test_the_decision_queues_the_render_and_the_first_download_is_the_stored_file(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    engagement, lead, advisor = parties(app)
    submission_id = make_decided_submission(app.state.engine, engagement, decided=False)
    number = reject_through_the_api(app, advisor, submission_id)
    jobs = jobs_for(app)
    # queued after the commit (beside the decision's notification mail); nothing rendered yet
    assert [t.name for t in jobs.huey.pending()].count("attest.statements.render") == 1
    assert statements_in(app.state.store) == []
    with consumer(jobs.huey):
        wait_until(lambda: bool(statements_in(app.state.store)) and jobs.huey.pending_count() == 0)
    [name] = statements_in(app.state.store)
    with session_scope(app.state.engine) as session:
        submission = session.get(Submission, submission_id)
        assert submission is not None and name.startswith(f"statements/{submission.sha256}-")
    stored = app.state.store.get_bytes(name)
    with caplog.at_level(logging.INFO, logger="attest.statements"):
        first = download(app, lead, submission_id)
        second = download(app, advisor, submission_id)
    assert first == second == stored  # the job's file, as it was stored
    assert not [r for r in caplog.records if RENDERED_HERE in r.getMessage()]
    assert number in words(first) and "The incident process is missing." in words(first)
    assert downloads_audited(app, submission_id) == 2  # each download audited, as before


def test_with_no_worker_the_first_download_renders_and_stores_it_once(
    app: FastAPI, caplog: pytest.LogCaptureFixture
) -> None:
    engagement, lead, advisor = parties(app)
    submission_id = make_decided_submission(app.state.engine, engagement, decided=False)
    reject_through_the_api(app, advisor, submission_id)  # queued, but no worker runs it
    with caplog.at_level(logging.INFO, logger="attest.statements"):
        first = download(app, lead, submission_id)
        [name] = statements_in(app.state.store)
        stored_at = (app.state.store.root / name).stat().st_mtime_ns
        again = download(app, lead, submission_id)
    assert first == again == app.state.store.get_bytes(name)
    assert (app.state.store.root / name).stat().st_mtime_ns == stored_at  # served, not written again
    assert len([r for r in caplog.records if RENDERED_HERE in r.getMessage()]) == 1
    # The worker starts later: its job finds the file made and renders nothing.
    assert jobs_for(app).render_statement.call_local(submission_id) == "cached"
    assert downloads_audited(app, submission_id) == 2


def revised(app: FastAPI, first_id: str) -> tuple[str, str]:
    """Version 2 of the plan (other content, so another SHA-256), decided too; (id, SHA-256)."""
    from app.domain.submissions import canonical, fingerprint

    with session_scope(app.state.engine, write=True) as session:
        first = session.get(Submission, first_id)
        decision = session.exec(select(Decision).where(Decision.submission_id == first_id)).one()
        assert first is not None
        data = {**json.loads(first.snapshot), "risks": [{"title": "Laptop theft"}]}
        second = Submission(
            **{
                **first.model_dump(exclude={"id", "submitted_at"}),
                "version": 2,
                "cycle": 2,
                "snapshot": canonical(data).decode(),
                "sha256": fingerprint(data),
            }
        )
        session.add(second)
        session.flush()
        fields = decision.model_dump(exclude={"id", "decided_at", "submission_id", "number"})
        session.add(Decision(**fields, submission_id=second.id, number=decision.number + "-2"))
        session.commit()
        return second.id, second.sha256


def test_a_new_plan_version_or_renderer_is_a_new_file(app: FastAPI, monkeypatch: pytest.MonkeyPatch) -> None:
    engagement, lead, _ = parties(app)
    first_id = make_decided_submission(app.state.engine, engagement)
    jobs = jobs_for(app)
    assert jobs.render_statement.call_local(first_id) == "rendered"
    assert jobs.render_statement.call_local(first_id) == "cached"
    second_id, second_sha = revised(app, first_id)
    assert jobs.render_statement.call_local(second_id) == "rendered"
    names = statements_in(app.state.store)
    assert len(names) == 2 and any(n.startswith(f"statements/{second_sha}-") for n in names)
    assert "version 2" in words(download(app, lead, second_id))
    assert "version 1" in words(download(app, lead, first_id))
    monkeypatch.setattr(statement_files, "RENDERER_VERSION", "changed")  # a changed template or renderer
    assert jobs.render_statement.call_local(first_id) == "rendered"
    assert len(statements_in(app.state.store)) == 3
    assert jobs.render_statement.call_local("no-such-submission") == "not decided"


def test_concurrent_downloads_in_one_process_render_once(app: FastAPI) -> None:
    engagement, _lead, _ = parties(app)
    submission_id = make_decided_submission(app.state.engine, engagement)
    with session_scope(app.state.engine) as session:
        file = statement_files.file_for_submission(session, submission_id, base_url="https://attest.example")
    assert file is not None
    results: list[tuple[bytes, bool]] = []
    threads = [
        threading.Thread(target=lambda: results.append(statement_files.pdf_bytes(app.state.store, file)))
        for _ in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [rendered for _, rendered in results].count(True) == 1
    assert len({pdf for pdf, _ in results}) == 1
    assert "https://attest.example/verify" in words(results[0][0]).replace("/ verify", "/verify")


def test_the_render_job_stores_into_an_s3_bucket(
    app: FastAPI, s3_server: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bucket = make_s3_store(s3_server, tmp_path / "spool")
    monkeypatch.setattr(app.state, "store", bucket)
    engagement, lead, _ = parties(app)
    submission_id = make_decided_submission(app.state.engine, engagement, approved=True)
    assert jobs_for(app, bucket).render_statement.call_local(submission_id) == "rendered"
    [name] = statements_in(bucket)
    assert download(app, lead, submission_id) == bucket.get_bytes(name)
