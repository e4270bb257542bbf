"""Malformed and cut-off multipart bodies: each is a 400 that says what is wrong, and nothing of
it is kept (no evidence row, no stored object, no temp file), through the API, the evidence
page and the certificate form alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import Certificate, Engagement, Evidence
from tests.factories import make_engagement, make_org, make_person, sign_in

MAX_PART_HEADER_BYTES = 4096  # app.http.uploads.MAX_PART_HEADER_BYTES, as documented
TYPE = {"Content-Type": "multipart/form-data; boundary=xx"}
TITLE = b'--xx\r\nContent-Disposition: form-data; name="title"\r\n\r\nPolicy\r\n'
FILE_HEAD = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="policy.txt"\r\n\r\n'
TEXT = b"plain text evidence\n" * 50


@pytest.fixture
def lead_client(app: FastAPI) -> Iterator[tuple[TestClient, Engagement]]:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        yield sign_in(app, client, lead), engagement


def assert_nothing_kept(app: FastAPI) -> None:
    with session_scope(app.state.engine) as session:
        assert session.exec(select(func.count()).select_from(Evidence)).one() == 0
        assert session.exec(select(func.count()).select_from(Certificate)).one() == 0
    assert list(app.state.store.keys()) == []
    assert not list((Path(app.state.settings.evidence_dir) / "tmp").glob("*"))


def api_upload(client: TestClient, engagement: Engagement, body: bytes, headers: dict[str, str] = TYPE):
    return client.post(
        f"/api/engagements/{engagement.id}/evidence?control_id=CPS-1.1", content=body, headers=headers
    )


def test_a_body_without_its_closing_boundary_is_400_and_stores_nothing(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    response = api_upload(client, engagement, TITLE + FILE_HEAD + TEXT + b"\r\n")
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "bad_request"
    assert "ended before its closing boundary" in response.json()["error"]["message"]
    assert_nothing_kept(app)


def test_a_body_cut_off_inside_the_file_is_400_and_stores_nothing(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    response = api_upload(client, engagement, TITLE + FILE_HEAD + TEXT[:500])
    assert response.status_code == 400, response.text
    assert "closing boundary" in response.json()["error"]["message"]
    assert_nothing_kept(app)


def test_a_part_header_without_a_colon_is_400_and_stores_nothing(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    body = (
        b'--xx\r\nContent-Disposition form-data; name="file"; filename="a.txt"\r\n\r\n'
        + TEXT
        + b"\r\n--xx--\r\n"
    )
    response = api_upload(client, engagement, body)
    assert response.status_code == 400, response.text
    assert "a part header is not of the form 'Name: value'" in response.json()["error"]["message"]
    assert_nothing_kept(app)


def test_an_over_long_part_header_is_400_and_stores_nothing(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    name = b"a" * (MAX_PART_HEADER_BYTES + 1) + b".txt"
    body = b'--xx\r\nContent-Disposition: form-data; name="file"; filename="' + name + b'"\r\n\r\n'
    response = api_upload(client, engagement, body + TEXT + b"\r\n--xx--\r\n")
    assert response.status_code == 400, response.text
    assert (
        f"a part header is longer than {MAX_PART_HEADER_BYTES} bytes" in response.json()["error"]["message"]
    )
    assert_nothing_kept(app)


def test_a_part_with_too_many_headers_is_400(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    extra = b"".join(b"X-Filler-%d: x\r\n" % n for n in range(20))
    body = FILE_HEAD.replace(b"\r\n\r\n", b"\r\n" + extra + b"\r\n", 1) + TEXT + b"\r\n--xx--\r\n"
    response = api_upload(client, engagement, body)
    assert response.status_code == 400, response.text
    assert "more than 8 headers" in response.json()["error"]["message"]
    assert_nothing_kept(app)


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("multipart/form-data; boundary=xx", b"this is not multipart at all"),
        ("multipart/form-data; boundary=xx", b"--xx\r\n" + b"--yy--\r\n"),
        ("multipart/form-data; boundary=" + "b" * 300, b"--" + b"b" * 300 + b"--\r\n"),
    ],
    ids=["no-boundary-in-body", "broken-boundary", "over-long-boundary"],
)
def test_broken_framing_is_400_and_stores_nothing(
    app: FastAPI, lead_client, content_type: str, body: bytes
) -> None:
    client, engagement = lead_client
    response = api_upload(client, engagement, body, {"Content-Type": content_type})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"].startswith("The upload is not well-formed multipart/form-data")
    assert_nothing_kept(app)


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "multipart/form-data"])
def test_a_body_that_is_not_multipart_is_refused_and_stores_nothing(
    app: FastAPI, lead_client, content_type: str
) -> None:
    client, engagement = lead_client
    response = api_upload(client, engagement, b'{"file": "x"}', {"Content-Type": content_type})
    assert response.status_code == 415
    assert response.json()["error"]["message"] == "Send the file as multipart/form-data."
    assert_nothing_kept(app)


def test_the_evidence_page_refuses_an_unterminated_body_with_400(app: FastAPI, lead_client) -> None:
    client, engagement = lead_client
    response = client.post(
        f"/engagements/{engagement.id}/evidence", content=TITLE + FILE_HEAD + TEXT, headers=TYPE
    )
    assert response.status_code == 400
    assert "closing boundary" in response.text
    assert_nothing_kept(app)


def test_the_certificate_form_refuses_an_unterminated_body_with_400(app: FastAPI, lead_client) -> None:
    client, _ = lead_client
    fields = b"".join(
        b'--xx\r\nContent-Disposition: form-data; name="%s"\r\n\r\n%s\r\n' % (name, value)
        for name, value in [(b"scheme", b"cyber_essentials"), (b"issued_on", b"2025-01-10")]
    )
    file_head = FILE_HEAD.replace(b"policy.txt", b"certificate.pdf")
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    response = client.post("/certificates", content=fields + file_head + pdf, headers=TYPE)
    assert response.status_code == 400
    assert "closing boundary" in response.text
    assert_nothing_kept(app)
