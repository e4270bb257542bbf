"""Each refused upload says, in words a person can act on, what is wrong: the same message from
the API, from the drop zone's JSON answer and on the page a plain form lands on, with the
status that names it (413 too large, 415 refused type, 422 empty), and nothing is stored."""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx import Response
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.main import create_app
from app.models import Engagement, Evidence
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

MB = 1024 * 1024
ACCEPTED = "Upload a PDF, Office document, image or text file."
WINDOWS = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200

REFUSALS = [
    pytest.param(
        "setup.exe", WINDOWS, 415, f"This looks like a Windows program. {ACCEPTED}", id="windows-program"
    ),
    pytest.param(
        "policy.pdf",
        WINDOWS,
        415,
        f"This looks like a Windows program, not a PDF. {ACCEPTED}",
        id="exe-as-pdf",
    ),
    pytest.param(
        "report.docx",
        b"\x7fELF\x02\x01\x01" + b"\x00" * 100,
        415,
        f"This looks like a Linux program, not a Word document. {ACCEPTED}",
        id="linux-program",
    ),
    pytest.param(
        "page.txt",
        b"<!DOCTYPE html><script>alert(1)</script>",
        415,
        f"This looks like a web page, not a text file. {ACCEPTED}",
        id="web-page",
    ),
    pytest.param(
        "scan.pdf",
        b"\x00\x01\x02\x03binary noise" * 20,
        415,
        f"This file's name ends in .pdf, but its content is not a PDF. {ACCEPTED}",
        id="not-really-pdf",
    ),
    pytest.param(
        "blob.bin",
        b"\x00\x01\x02\x03binary noise" * 20,
        415,
        f"This type of file is not accepted. {ACCEPTED}",
        id="unknown-type",
    ),
    pytest.param("empty.pdf", b"", 422, "The file is empty.", id="empty"),
    pytest.param(
        "big.txt",
        b"a" * (MB + 1),
        413,
        "This file is larger than the 1 MB limit. Upload a smaller file, or split it into parts.",
        id="too-large",
    ),
]


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[FastAPI, Engagement, Person]]:
    app = create_app(make_settings(tmp_path, database_url, max_upload_mb=1))
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    yield app, make_engagement(engine, make_org(engine, "buyer"), supplier), lead
    engine.dispose()


def stored(app: FastAPI) -> tuple[int, list[str], list[Path]]:
    """Evidence rows, stored objects and leftover temp files: all must stay as they were."""
    with session_scope(app.state.engine) as session:
        rows = int(session.exec(select(func.count()).select_from(Evidence)).one())
    return rows, sorted(app.state.store.keys()), list(app.state.store.tmp_dir.iterdir())


def upload(
    client: TestClient, url: str, name: str, data: bytes, accept: str = "application/json"
) -> Response:
    form = {"title": "Access policy", "control_ids": "CPS-1.1"}
    return client.post(url, data=form, files={"file": (name, data)}, headers={"Accept": accept})


@pytest.mark.parametrize(("name", "data", "status", "message"), REFUSALS)
def test_the_api_refuses_with_a_message_for_people(
    setup, name: str, data: bytes, status: int, message: str
) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        before = stored(app)
        response = upload(client, f"/api/engagements/{engagement.id}/evidence", name, data)
        assert response.status_code == status, response.text
        assert response.json()["error"]["message"] == message
        assert stored(app) == before


@pytest.mark.parametrize(("name", "data", "status", "message"), REFUSALS)
def test_the_drop_zone_gets_the_same_message_as_json(
    setup, name: str, data: bytes, status: int, message: str
) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        before = stored(app)
        response = upload(client, f"/engagements/{engagement.id}/evidence", name, data)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/json")
        error = response.json()["error"]
        assert error["message"] == message
        assert "upload failed" not in error["message"]
        assert stored(app) == before


@pytest.mark.parametrize(("name", "data", "status", "message"), REFUSALS)
def test_a_plain_form_lands_on_a_page_that_says_it(
    setup, name: str, data: bytes, status: int, message: str
) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        before = stored(app)
        url = f"/engagements/{engagement.id}/evidence?control_id=CPS-1.1"
        response = upload(client, url, name, data, accept="text/html")
        assert response.status_code == status
        assert message in html.unescape(response.text)
        assert stored(app) == before


def test_a_declared_oversize_body_gets_the_same_message_before_it_is_read(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        response = client.post(
            f"/engagements/{engagement.id}/evidence",
            content=b"x" * 10,
            headers={
                "Accept": "application/json",
                "Content-Type": "multipart/form-data; boundary=zzz",
                "Content-Length": str(5 * MB),
            },
        )
        assert response.status_code == 413
        assert response.json()["error"]["message"].startswith("This file is larger than the 1 MB limit.")


def test_the_control_page_states_the_size_limit_beside_the_field(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        page = client.get(f"/engagements/{engagement.id}/controls/CPS-1.1")
        assert page.status_code == 200
        assert 'id="upload-limit">up to 1 MB<' in page.text
        assert 'aria-describedby="file-hint"' in page.text


def test_without_a_title_the_file_name_gives_one(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        response = client.post(
            f"/api/engagements/{engagement.id}/evidence",
            data={"control_ids": "CPS-1.1"},
            files={"file": ("access_control__policy.v2.pdf", b"%PDF-1.4\n%%EOF\n")},
        )
        assert response.status_code == 201, response.text
        assert response.json()["title"] == "access control policy.v2"


PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def test_dates_typed_as_day_month_and_year_are_stored_and_a_bad_one_says_so_in_those_words(
    setup,
) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        page = client.get(f"/engagements/{engagement.id}/controls/CPS-1.1")
        for name in ("effective_on", "expires_on"):  # the form without JavaScript
            for part in ("day", "month", "year"):
                assert f'name="{name}-{part}" type="text" inputmode="numeric"' in page.text
        url = f"/engagements/{engagement.id}/evidence"
        form = {"title": "Access policy", "control_ids": "CPS-1.1", "kind": "policy"}
        form |= {"effective_on-day": "1", "effective_on-month": "4", "effective_on-year": "2025"}
        bad = {**form, "expires_on-day": "31", "expires_on-month": "2", "expires_on-year": "2027"}
        before = stored(app)
        refused = client.post(
            url, data=bad, files={"file": ("policy.pdf", PDF)}, headers={"Accept": "application/json"}
        )
        assert refused.status_code == 422
        wording = "Enter the expiry date as a day, month and year, for example 27 3 2025."
        assert refused.json()["error"]["message"] == wording
        assert refused.json()["error"]["details"]["expires_on"] == wording
        assert stored(app) == before
        good = {**bad, "expires_on-day": "28"}
        saved = client.post(
            url, data=good, files={"file": ("policy.pdf", PDF)}, headers={"Accept": "application/json"}
        )
        assert saved.status_code == 201, saved.text
        with session_scope(app.state.engine) as session:
            row = session.exec(select(Evidence)).one()
            assert (str(row.effective_on), str(row.expires_on)) == ("2025-04-01", "2027-02-28")


def test_the_api_still_takes_iso_dates_and_asks_for_them(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        response = client.post(
            f"/api/engagements/{engagement.id}/evidence",
            data={"title": "Access policy", "expires_on": "31/03/2027"},
            files={"file": ("policy.pdf", PDF)},
        )
        assert response.status_code == 422
        assert response.json()["error"]["message"] == "Enter the expiry date as YYYY-MM-DD."
