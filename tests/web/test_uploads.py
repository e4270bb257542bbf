"""Uploads as an attacker and a careless user would try them: size, type, names, duplicates, failures."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.main import create_app
from app.models import AuditEvent, Engagement, Evidence
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
MB = 1024 * 1024


@pytest.fixture
def small_app(tmp_path: Path, database_url: str) -> FastAPI:
    app = create_app(make_settings(tmp_path, database_url, max_upload_mb=1))
    yield app
    app.state.engine.dispose()


@pytest.fixture
def setup(small_app: FastAPI) -> tuple[FastAPI, Engagement, Person]:
    engine = small_app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, small_app.state.keys, "supplier_lead", supplier)
    return small_app, make_engagement(engine, make_org(engine, "buyer"), supplier), lead


def state(app: FastAPI) -> tuple[int, list[str]]:
    with session_scope(app.state.engine) as session:
        rows = session.exec(select(func.count()).select_from(Evidence)).one()
    return int(rows), sorted(app.state.store.keys())


def post(client: TestClient, engagement: Engagement, name: str, data: bytes, **fields: str):
    form = {
        "title": fields.pop("title", "Doc"),
        "control_ids": fields.pop("control_ids", "CPS-1.1"),
        **fields,
    }
    return client.post(f"/api/engagements/{engagement.id}/evidence", data=form, files={"file": (name, data)})


def test_limit_plus_one_byte_is_refused_with_nothing_stored(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        exact = post(client, engagement, "exact.txt", b"a" * MB)
        assert exact.status_code == 201, exact.text
        before = state(app)
        over = post(client, engagement, "big.txt", b"a" * (MB + 1))
        assert over.status_code == 413
        assert over.json()["error"]["code"] == "too_large"
        assert state(app) == before
        assert not list((Path(app.state.settings.evidence_dir) / "tmp").glob("*"))


def test_declared_oversize_is_refused_before_the_body_is_read(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        response = client.post(
            f"/api/engagements/{engagement.id}/evidence",
            content=b"x" * 10,
            headers={"Content-Type": "multipart/form-data; boundary=zzz", "Content-Length": str(5 * MB)},
        )
        assert response.status_code == 413


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("tool.exe", b"MZ\x90\x00" + b"\x00" * 200),
        ("page.html", b"<!DOCTYPE html><script>alert(1)</script>"),
        ("image.svg", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("run.sh", b"#!/bin/sh\nrm -rf /\n"),
        ("fake.pdf", b"\x7fELF\x02\x01\x01" + b"\x00" * 100),
    ],
)
def test_refused_types_get_415_and_nothing_is_stored(setup, name: str, data: bytes) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        before = state(app)
        response = post(client, engagement, name, data)
        assert response.status_code == 415
        assert response.json()["error"]["code"] == "unsupported_media_type"
        assert state(app) == before


@pytest.mark.parametrize(
    ("hostile", "expected"),
    [
        ("../../etc/passwd.txt", "passwd.txt"),
        ("..\\..\\boot.txt", "boot.txt"),
        ("evil\x00name.txt", "evilname.txt"),
        ("line\r\nSet-Cookie: x.txt", "line Set-Cookie: x.txt"),
        ("invoice\u202etxt.exe.txt", "invoicetxt.exe.txt"),
    ],
)
def test_hostile_file_names_are_neutralised(setup, hostile: str, expected: str) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        # Built by hand: HTTP clients would escape these names, an attacker's would not.
        body = (
            b'--zzz\r\nContent-Disposition: form-data; name="control_ids"\r\n\r\nCPS-1.1\r\n'
            b'--zzz\r\nContent-Disposition: form-data; name="file"; filename="'
            + hostile.replace("\r\n", " ").encode()
            + b'"\r\nContent-Type: text/plain\r\n\r\nplain text evidence\n\r\n--zzz--\r\n'
        )
        response = client.post(
            f"/api/engagements/{engagement.id}/evidence",
            content=body,
            headers={"Content-Type": "multipart/form-data; boundary=zzz"},
        )
        assert response.status_code == 201, response.text
        assert response.json()["file_name"] == expected
        download = client.get(f"/api/evidence/{response.json()['id']}/content")
        disposition = download.headers["content-disposition"]
        assert disposition.startswith("attachment;") and "\r" not in disposition and "\n" not in disposition
        assert "/" not in disposition.split("filename=")[1].split(";")[0]


def test_very_long_names_are_cut(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        response = post(client, engagement, "a" * 600 + ".txt", b"text\n")
        assert response.status_code == 201
        assert len(response.json()["file_name"]) <= 150 and response.json()["file_name"].endswith(".txt")


def test_identical_bytes_are_stored_once(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = post(client, engagement, "a.pdf", PDF)
        refused = post(client, engagement, "b.pdf", PDF, title="Same again")
        # The library already holds them (tests/web/test_duplicate_upload.py): a copy on request.
        assert refused.status_code == 409
        second = post(client, engagement, "b.pdf", PDF, title="Same again", allow_duplicate="true")
        assert first.json()["sha256"] == second.json()["sha256"]
        rows, objects = state(app)
        assert rows == 2 and objects == [first.json()["sha256"]]


def test_a_failed_upload_leaves_no_row_and_no_file(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        before = state(app)
        bad_control = post(client, engagement, "a.pdf", PDF + b"1", control_ids="NOT-A-CONTROL")
        bad_date = post(client, engagement, "a.pdf", PDF + b"2", expires_on="31/12/2026")
        bad_kind = post(client, engagement, "a.pdf", PDF + b"3", kind="rumour")
        empty = post(client, engagement, "a.txt", b"")
        assert [r.status_code for r in (bad_control, bad_date, bad_kind, empty)] == [422, 422, 422, 422]
        assert state(app) == before


def test_download_is_audited_before_bytes_and_safe_headers(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        uploaded = post(client, engagement, "report.pdf", PDF).json()
        response = client.get(f"/api/evidence/{uploaded['id']}/content")
        assert response.content == PDF
        assert response.headers["x-content-type-options"] == "nosniff"
        assert "sandbox" in response.headers["content-security-policy"]
        assert "filename*=UTF-8''report.pdf" in response.headers["content-disposition"]
        inline = client.get(f"/api/evidence/{uploaded['id']}/content", params={"inline": "true"})
        assert inline.headers["content-disposition"].startswith("inline;")
    with session_scope(app.state.engine) as session:
        actions = [
            e.action for e in session.exec(select(AuditEvent).where(AuditEvent.object_id == uploaded["id"]))
        ]
    assert actions == ["evidence_uploaded", "evidence_downloaded", "evidence_downloaded"]


def test_buyer_sees_only_linked_evidence(setup) -> None:
    app, engagement, lead = setup
    advisor = make_person(app.state.engine, app.state.keys, "buyer_advisor")
    from app.db import session_scope as scope

    with scope(app.state.engine, write=True) as session:
        row = session.get(Engagement, engagement.id)
        row.buyer_org_id = advisor.organisation.id
        session.add(row)
        session.commit()
    with TestClient(app) as client, TestClient(app) as buyer:
        sign_in(app, client, lead)
        sign_in(app, buyer, advisor)
        linked = post(client, engagement, "linked.txt", b"linked\n").json()
        unlinked = post(client, engagement, "unlinked.txt", b"unlinked\n", control_ids="").json()
        assert buyer.get(f"/api/evidence/{linked['id']}/content").status_code == 200
        assert buyer.get(f"/api/evidence/{unlinked['id']}/content").status_code == 404


def test_new_version_supersedes_and_old_stays_downloadable(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        old = post(client, engagement, "policy.txt", b"version one\n").json()
        response = client.post(
            f"/evidence/{old['id']}/versions",
            data={"title": "Policy", "kind": "policy"},
            files={"file": ("policy.txt", b"version two\n")},
            follow_redirects=False,
        )
        assert response.status_code == 303
        new_id = response.headers["location"].rsplit("/", 1)[-1]
        assert client.get(f"/api/evidence/{old['id']}/content").content == b"version one\n"
        assert client.get(f"/api/evidence/{new_id}/content").content == b"version two\n"
        links = client.get(f"/api/engagements/{engagement.id}/readiness").json()
        assert links["counts"]["unanswered"] >= 1
        page = client.get(f"/evidence/{new_id}")
        assert "v1" in page.text and "v2" in page.text and "(superseded)" in page.text
