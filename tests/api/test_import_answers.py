"""Issue 17 item 2: answers from a spreadsheet. Attest's own export (XLSX and CSV) imported into a
twin engagement gives every field back exactly; a sheet with other headings and deliberate errors
shows every error in the dry run and writes nothing until confirmed; unrecognised headings are
mapped by the person; bad files (not a spreadsheet, password-protected, a zip bomb dressed as
XLSX, 100,000 rows, too big, empty) are refused with a clear message and change nothing."""

from __future__ import annotations

import io
import uuid
import zipfile
from typing import Any

import httpx
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from app.db import session_scope
from app.domain.catalogue import Library
from app.models import (
    AuditEvent,
    ControlResponse,
    Engagement,
    EngagementCatalogue,
    ResponseChange,
    ScopingAnswer,
)
from app.services.engagements import catalogue_ids
from app.services.imports import OLE_MAGIC
from tests.api.test_engagement_export import demo_lead
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

FIELDS = ("status", "statement", "justification", "owner_id", "planned_change", "target_on")


def answers(app: FastAPI, engagement_id: str) -> dict[str, tuple[str, ...]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(ControlResponse).where(ControlResponse.engagement_id == engagement_id))
        return {r.control_id: tuple(str(getattr(r, f)) for f in FIELDS) for r in rows}


def count(app: FastAPI, model: Any, **where: str) -> int:
    with session_scope(app.state.engine) as session:
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return int(session.exec(query).one())


def twin(app: FastAPI, engagement: Engagement) -> Engagement:
    """Next year's engagement of the same supplier: the same catalogues and scoping answers."""
    with session_scope(app.state.engine, write=True) as session:
        copy = Engagement(
            reference=f"{engagement.reference} renewal {uuid.uuid4().hex[:6]}",
            title=engagement.title,
            buyer_org_id=engagement.buyer_org_id,
            supplier_org_id=engagement.supplier_org_id,
            effective_on=engagement.effective_on,
            workflow_profile=engagement.workflow_profile,
        )
        session.add(copy)
        session.flush()
        for catalogue_id in catalogue_ids(session, engagement.id):
            session.add(EngagementCatalogue(engagement_id=copy.id, catalogue_id=catalogue_id))
        scoping = session.exec(select(ScopingAnswer).where(ScopingAnswer.engagement_id == engagement.id))
        for answer in scoping:
            session.add(
                ScopingAnswer(
                    engagement_id=copy.id,
                    question_id=answer.question_id,
                    answer=answer.answer,
                    answered_by_id=answer.answered_by_id,
                )
            )
        session.commit()
        session.refresh(copy)
        return copy


def send(
    client: TestClient, engagement_id: str, data: bytes | None, *, dry_run: bool = False, **fields: str
) -> httpx.Response:
    files = {"file": ("answers.xlsx", data)} if data is not None else None
    return client.post(
        f"/api/engagements/{engagement_id}/import",
        params={"dry_run": "true"} if dry_run else None,
        data=fields,
        files=files or {"none": ("", b"")},
    )


def test_the_export_imported_into_next_years_engagement_gives_every_field_back(app: FastAPI) -> None:
    client, engagement = demo_lead(app)
    before = answers(app, engagement.id)
    assert len(before) > 10
    for fmt in ("xlsx", "csv"):
        sheet = client.get(f"/api/engagements/{engagement.id}/export.{fmt}")
        assert sheet.status_code == 200
        target = twin(app, engagement)

        dry = send(client, target.id, sheet.content, dry_run=True)
        assert dry.status_code == 200, dry.text
        plan = dry.json()
        assert plan["errors"] == 0 and plan["mapping_problems"] == {}, [
            r for r in plan["rows"] if r["errors"]
        ]
        assert plan["changes"] == len(before)
        assert {r["control_id"] for r in plan["rows"] if r["change"] == "new"} == set(before)
        assert answers(app, target.id) == {}  # a dry run writes nothing

        done = send(client, target.id, sheet.content)
        assert done.status_code == 200, done.text
        assert answers(app, target.id) == before, fmt  # every field of every answer
        assert count(app, ResponseChange, engagement_id=target.id) == len(before)
        assert count(app, AuditEvent, action="answers_imported", engagement_id=target.id) == 1
        assert count(app, AuditEvent, action="response_saved", engagement_id=target.id) == len(before)

        again = send(client, target.id, sheet.content, dry_run=True).json()
        assert again["changes"] == 0 and again["errors"] == 0  # imported twice: nothing changes


def cps_setup(app: FastAPI) -> tuple[TestClient, Engagement, Person, list[str]]:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    library: Library = app.state.library
    catalogue = library.catalogue("cps-security-policy")
    assert catalogue is not None
    ids = [c.id for c in catalogue.controls][:8]
    return sign_in(app, TestClient(app), lead), engagement, lead, ids


def test_other_headings_and_every_error_in_the_dry_run_and_nothing_written(app: FastAPI) -> None:
    client, engagement, lead, ids = cps_setup(app)
    a, b, c, d, e, f = ids[:6]
    rows = [
        "Ref,Compliance,How it is implemented,Reason,Assignee,Due date",
        f"{a},Compliant,Encrypted at rest,,{lead.email},",
        "NOPE-9.9,met,,,,",
        f"{b},maybe,,,,",
        f"{c},N/A,,,,",
        f"{d},partial,,,,next spring",
        f"{e},not met,,,nobody@elsewhere.example,31/03/2027",
        f"{a},met,Twice,,,",
        f"{f},partially met,Half done,,,2199-01-01",
    ]
    body = "\n".join(rows).encode()
    dry = send(client, engagement.id, body, dry_run=True)
    assert dry.status_code == 200, dry.text
    plan = dry.json()
    errors = {r["row"]: r["errors"] for r in plan["rows"] if r["errors"]}
    assert sorted(errors) == [3, 4, 5, 6, 7, 8, 9]
    assert "NOPE-9.9 is not a control of this engagement." in errors[3]
    assert "is not a status" in errors[4][0]
    assert errors[5] == ["Not applicable needs a justification."]
    assert "“next spring” is not a date" in errors[6][0]
    assert errors[7] == ["nobody@elsewhere.example is not a member of the supplier's organisation."]
    assert errors[8] == [f"{a} is already answered by row 2."]
    assert "outside the dates" in errors[9][0]
    assert plan["changes"] == 1 and plan["errors"] == 7

    refused = send(client, engagement.id, body)
    assert refused.status_code == 422
    assert refused.json()["error"]["message"].startswith("Nothing was imported: 7 rows have errors")
    assert refused.json()["error"]["details"]["errors"] == 7
    assert answers(app, engagement.id) == {}
    assert count(app, AuditEvent, action="answers_imported") == 0

    fixed = "\n".join(
        [
            rows[0],
            rows[1],
            f"{c},N/A,,Not used by this service,,",
            f"{d},partial,Half the laptops,,,2027-03-31",
            f"{e},not met,,,{lead.user.name},31/03/2027",
        ]
    ).encode()
    done = send(client, engagement.id, fixed)
    assert done.status_code == 200, done.text
    stored = answers(app, engagement.id)
    assert stored[a] == ("met", "Encrypted at rest", "", lead.user.id, "", "None")
    assert stored[c][:3] == ("not_applicable", "", "Not used by this service")
    assert stored[d] == ("partially_met", "Half the laptops", "", "None", "", "2027-03-31")
    assert stored[e][0] == "not_met" and stored[e][3] == lead.user.id and stored[e][5] == "2027-03-31"
    assert count(app, AuditEvent, action="answers_imported", engagement_id=engagement.id) == 1


def test_headings_it_cannot_read_are_chosen_by_the_person(app: FastAPI) -> None:
    client, engagement, _lead, ids = cps_setup(app)
    body = f"Item,Outcome,Notes\n{ids[0]},met,Done\n".encode()
    dry = send(client, engagement.id, body, dry_run=True).json()
    assert set(dry["mapping_problems"]) == {"control_id", "status"}
    assert dry["changes"] == 0
    mapped = send(
        client, engagement.id, body, dry_run=True, column_control_id="Item", column_status="Outcome"
    )
    assert mapped.json()["changes"] == 1 and mapped.json()["mapping_problems"] == {}
    wrong = send(client, engagement.id, body, dry_run=True, column_status="Verdict").json()
    assert wrong["mapping_problems"]["status"] == "There is no column headed “Verdict” in this sheet."
    done = send(client, engagement.id, body, column_control_id="Item", column_status="Outcome")
    assert done.status_code == 200
    assert answers(app, engagement.id)[ids[0]][:2] == ("met", "")  # "Notes" was not chosen


def test_the_checked_draft_is_imported_without_sending_the_file_again(app: FastAPI) -> None:
    client, engagement, _lead, ids = cps_setup(app)
    first = f"Control,Status\n{ids[0]},met\n".encode()
    second = f"Control,Status\n{ids[1]},met\n".encode()
    checked = send(client, engagement.id, first, dry_run=True).json()
    send(client, engagement.id, second, dry_run=True)  # a newer dry run replaces the draft
    stale = send(client, engagement.id, None, sha256=checked["sha256"])
    assert stale.status_code == 422
    assert "not the file the dry run checked" in stale.json()["error"]["message"]
    assert answers(app, engagement.id) == {}
    latest = send(client, engagement.id, second, dry_run=True).json()
    done = send(client, engagement.id, None, sha256=latest["sha256"])
    assert done.status_code == 200, done.text
    assert set(answers(app, engagement.id)) == {ids[1]}


def zip_bomb() -> bytes:
    """An .xlsx in name: a small zip whose one member unpacks to 60 MB of zeros."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"\0" * (60 * 1024 * 1024))
    return out.getvalue()


def test_bad_files_are_refused_with_a_message_and_change_nothing(app: FastAPI) -> None:
    client, engagement, _lead, ids = cps_setup(app)
    bomb = zip_bomb()
    assert len(bomb) < 200_000
    cases = [
        (b"%PDF-1.7\n" + b"\0\1\2" * 100, 415, "not a spreadsheet"),
        (OLE_MAGIC + b"\0" * 4096, 415, "password-protected"),
        (bomb, 422, "unpack to more than 50 MB"),
        (b"Control,Status\n" + f"{ids[0]},met\n".encode() * 100_000, 422, "more than 5,000 rows"),
        (b"Control,Status\n" + b"x" * (11 * 1024 * 1024), 413, "larger than 10 MB"),
        (b"PK\3\4 not really a zip", 415, "not a spreadsheet"),
        (b"", 422, "The file is empty."),
    ]
    for data, status, message in cases:
        for dry_run in (True, False):
            answer = send(client, engagement.id, data, dry_run=dry_run)
            assert answer.status_code == status, (message, answer.text)
            assert message in answer.json()["error"]["message"], answer.text
    assert answers(app, engagement.id) == {}
    assert count(app, AuditEvent, action="answers_imported") == 0


def test_the_import_page_checks_then_imports(app: FastAPI) -> None:
    client, engagement, _lead, ids = cps_setup(app)
    dashboard = client.get(f"/engagements/{engagement.id}")
    assert f'href="/engagements/{engagement.id}/import"' in dashboard.text
    page = client.get(f"/engagements/{engagement.id}/import")
    assert page.status_code == 200 and 'id="import-form"' in page.text
    body = f"Control,Status,Implementation statement\n{ids[0]},met,Done\n{ids[1]},bogus,\n".encode()
    files = {"file": ("answers.csv", body)}
    checked = client.post(f"/engagements/{engagement.id}/import/check", files=files)
    assert checked.status_code == 200
    assert "1 answer would change; 1 row has errors" in checked.text
    assert 'id="confirm-import"' not in checked.text and 'id="fix-first"' in checked.text
    good = f"Control,Status,Implementation statement\n{ids[0]},met,Done\n".encode()
    checked = client.post(f"/engagements/{engagement.id}/import/check", files={"file": ("a.csv", good)})
    assert 'id="confirm-import"' in checked.text and answers(app, engagement.id) == {}
    sha = checked.text.split('name="sha256" value="')[1].split('"')[0]
    done = client.post(f"/engagements/{engagement.id}/import", data={"sha256": sha}, files={"x": ("", b"")})
    assert done.status_code == 200 and "1 answer imported." in done.text
    assert answers(app, engagement.id)[ids[0]][:2] == ("met", "Done")
    refused = client.post(
        f"/engagements/{engagement.id}/import/check", files={"file": ("a.pdf", b"%PDF-1.4")}
    )
    assert refused.status_code == 415 and "not a spreadsheet" in refused.text
