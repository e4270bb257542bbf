"""Issue 17 item 2 with item 8: an answers import of more than 500 rows (blank rows aside) runs in
the worker. The request checks the file (errors answer at once, nothing queued or written),
records a download of kind `import` and answers 202 + Location (API) or goes to /downloads
(page); a real consumer runs the same `app.services.imports.apply` in one transaction from the
checked file, and the Downloads list shows the result with a CSV report of every row. Another
organisation gets 404 and nothing is queued; a job whose person can no longer sign in imports
nothing; a failed import is not run again from the list. SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.domain.catalogue import Library
from app.models import AuditEvent, Download, User, utcnow
from app.services import downloads, imports
from tests.api.test_import_answers import answers, count, send
from tests.factories import Person, make_engagement, make_org, make_person, sign_in
from tests.jobs.test_downloads import row_of, run_until_finished


def big_sheet(ids: list[str], *, bad: bool = False) -> bytes:
    """Eight answers, then enough rows without a status (they change nothing) to pass 500."""
    lines = ["Control,Status,Implementation statement"]
    lines += [f"{c},met,Done in {c}" for c in ids[:8]]
    lines += [f"{ids[8 + i % 4]},," for i in range(imports.BACKGROUND_ROWS)]
    if bad:
        lines.append(f"{ids[0]},perhaps,")
    return ("\n".join(lines) + "\n").encode()


def setup(app: FastAPI) -> tuple[TestClient, str, Person, list[str]]:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, buyer, supplier)
    library: Library = app.state.library
    catalogue = library.catalogue("cps-security-policy")
    assert catalogue is not None and len(catalogue.controls) >= 12
    return sign_in(app, TestClient(app), lead), engagement.id, lead, [c.id for c in catalogue.controls][:12]


def kept_files(app: FastAPI) -> list[str]:
    return app.state.store.list_names(downloads.IMPORT_FOLDER)


def test_a_big_import_through_the_api_is_queued_then_applied_by_the_worker(app: FastAPI) -> None:
    client, engagement_id, _lead, ids = setup(app)
    sheet = big_sheet(ids)
    dry = send(client, engagement_id, sheet, dry_run=True).json()
    assert dry["changes"] == 8 and dry["errors"] == 0  # a dry run answers at once, however big

    asked = send(client, engagement_id, None, sha256=dry["sha256"])
    assert asked.status_code == 202, asked.text
    body = asked.json()
    assert asked.headers["location"].endswith(f"/api/downloads/{body['id']}")
    assert body["kind"] == "import" and body["state"] == "queued"
    assert body["title"].endswith("import of 508 rows (8 answers to save)")
    assert answers(app, engagement_id) == {}  # nothing written until the worker runs
    assert len(kept_files(app)) == 1
    again = send(client, engagement_id, None, sha256=dry["sha256"])  # pressed twice: the same job
    assert again.status_code == 202 and again.json()["id"] == body["id"]

    row = run_until_finished(app, body["id"])
    assert row.state == "ready", row.message
    assert row.message == "8 answers imported; the report lists every row."
    stored = answers(app, engagement_id)
    assert {c: v[:2] for c, v in stored.items()} == {c: ("met", f"Done in {c}") for c in ids[:8]}
    assert count(app, AuditEvent, action="answers_imported", engagement_id=engagement_id) == 1
    assert count(app, AuditEvent, action="response_saved", engagement_id=engagement_id) == 8
    assert kept_files(app) == []  # the checked file is removed once its job has run

    shown = client.get(asked.headers["location"]).json()
    assert shown["state"] == "ready" and shown["message"] == row.message
    report = client.get(shown["content_url"])
    assert report.status_code == 200 and report.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(report.content.decode("utf-8-sig"))))
    assert lines[0] == ["Sheet", "Row", "Control", "Change", "Status"]
    assert lines[1] == ["CSV", "2", ids[0], "new", "met"] and len(lines) == 1 + 8
    assert send(client, engagement_id, sheet, dry_run=True).json()["changes"] == 0


def test_a_big_import_from_the_page_goes_to_the_downloads_list(app: FastAPI) -> None:
    client, engagement_id, _lead, ids = setup(app)
    checked = client.post(
        f"/engagements/{engagement_id}/import/check", files={"file": ("big.csv", big_sheet(ids))}
    )
    assert checked.status_code == 200 and 'id="confirm-import"' in checked.text
    sha = checked.text.split('name="sha256" value="')[1].split('"')[0]
    done = client.post(
        f"/engagements/{engagement_id}/import",
        data={"sha256": sha},
        files={"x": ("", b"")},
        follow_redirects=False,
    )
    assert done.status_code == 303 and done.headers["location"].endswith("/downloads")
    listed = client.get("/downloads")
    assert "import of 508 rows" in listed.text and 'data-state="queued"' in listed.text
    assert answers(app, engagement_id) == {}
    [row] = client.get("/api/downloads").json()["downloads"]
    assert run_until_finished(app, row["id"]).state == "ready"
    listed = client.get("/downloads")
    assert 'data-state="ready"' in listed.text and "8 answers imported" in listed.text
    assert len(answers(app, engagement_id)) == 8


def test_a_big_sheet_with_an_error_is_refused_at_once_and_nothing_is_queued(app: FastAPI) -> None:
    client, engagement_id, _lead, ids = setup(app)
    refused = send(client, engagement_id, big_sheet(ids, bad=True))
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("Nothing was imported: 1 rows have errors")
    assert count(app, Download) == 0 and answers(app, engagement_id) == {} and kept_files(app) == []


def test_another_organisation_gets_404_and_nothing_is_queued(app: FastAPI) -> None:
    client, engagement_id, _lead, ids = setup(app)
    other_client, _other_engagement, _other, _ = setup(app)
    refused = send(other_client, engagement_id, big_sheet(ids))
    assert refused.status_code == 404
    assert count(app, Download) == 0 and answers(app, engagement_id) == {}
    asked = send(client, engagement_id, big_sheet(ids))
    assert asked.status_code == 202
    seen = other_client.get(asked.headers["location"])
    assert seen.status_code == 404
    with session_scope(app.state.engine) as session:
        denied = session.exec(
            select(AuditEvent).where(AuditEvent.action == "download_fetched", AuditEvent.outcome == "denied")
        ).all()
    assert len(denied) == 1


def test_a_job_whose_person_cannot_sign_in_imports_nothing_and_is_not_run_again(app: FastAPI) -> None:
    client, engagement_id, lead, ids = setup(app)
    asked = send(client, engagement_id, big_sheet(ids))
    assert asked.status_code == 202
    download_id = asked.json()["id"]
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, lead.user.id)
        assert user is not None
        user.disabled_at = utcnow()
        session.add(user)
        session.commit()
    row = run_until_finished(app, download_id)
    assert row.state == "failed"
    assert row.message == "Your account can no longer sign in, so the file was not made."
    assert answers(app, engagement_id) == {} and kept_files(app) == []
    assert count(app, AuditEvent, action="answers_imported") == 0
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, lead.user.id)
        assert user is not None
        user.disabled_at = None
        session.add(user)
        session.commit()
    listed = client.get("/downloads")
    assert "Check the file again" in listed.text and "Ask again" not in listed.text
    again = client.post(f"/api/downloads/{download_id}/retry", json={})
    assert again.status_code == 409, again.text
    assert again.json()["error"]["message"] == downloads.IMPORT_NOT_AGAIN
    assert row_of(app, download_id).state == "failed"


def test_a_job_whose_person_left_the_supplier_imports_nothing(app: FastAPI) -> None:
    client, engagement_id, lead, ids = setup(app)
    asked = send(client, engagement_id, big_sheet(ids))
    assert asked.status_code == 202
    elsewhere = make_org(app.state.engine, "supplier")
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, lead.user.id)
        assert user is not None
        user.organisation_id = elsewhere.id
        session.add(user)
        session.commit()
    row = run_until_finished(app, asked.json()["id"])
    assert row.state == "failed" and row.message == downloads.GONE_ANSWER
    assert answers(app, engagement_id) == {} and kept_files(app) == []
    assert count(app, AuditEvent, action="answers_imported") == 0
