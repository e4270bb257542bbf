"""Every bad body is a 4xx that changes nothing, the same on SQLite and PostgreSQL.

Control characters are refused with 422 naming the field (forms, JSON bodies, query and
path parameters, and any writer at all at the database); bodies over the configured
limit are refused with 413 before they are parsed; a 405 lists every method of the path.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.db import session_scope
from app.domain.errors import InvalidInput
from app.main import create_app
from app.models import AuditEvent, Engagement, Evidence, IncidentProcess, Organisation, Risk
from app.services import accounts
from tests.conftest import make_settings
from tests.factories import csrf_token, make_engagement, make_org, make_person, sign_in

RISK = {
    "title": "Removable media lost in transit",
    "description": "",
    "control_ids": [],
    "likelihood": 3,
    "impact": 4,
    "treatment": "Encrypt all media.",
    "owner": "Head of IT",
    "residual_likelihood": 1,
    "residual_impact": 3,
}


def lead_with_engagement(app: FastAPI, client: TestClient) -> Engagement:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    sign_in(app, client, make_person(engine, keys, "supplier_lead", supplier))
    return make_engagement(engine, buyer, supplier)


def count(app: FastAPI, model: type, *where: object) -> int:
    with session_scope(app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(model).where(*where)).one())  # type: ignore[arg-type]


def risk_form(**changes: str) -> dict[str, str]:
    return {**{k: str(v) for k, v in RISK.items() if k != "control_ids"}, **changes}


@pytest.fixture
def browser(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


# --- control characters -------------------------------------------------------------------


def test_nul_in_a_form_field_is_422_naming_the_field_and_stores_nothing(
    app: FastAPI, browser: TestClient
) -> None:
    engagement = lead_with_engagement(app, browser)
    response = browser.post(
        f"/engagements/{engagement.id}/plan/risks", data=risk_form(title="Lost\x00laptop")
    )
    assert response.status_code == 422, response.text[:500]
    assert "title contains a control character (U+0000)" in response.text
    assert count(app, Risk) == 0
    assert count(app, AuditEvent, AuditEvent.action == "risk_saved") == 0


def test_htmx_form_with_a_control_character_gets_a_toast(app: FastAPI, browser: TestClient) -> None:
    engagement = lead_with_engagement(app, browser)
    response = browser.post(
        f"/engagements/{engagement.id}/plan/risks",
        data=risk_form(owner="Head\x1b[31m of IT"),
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#toasts"
    assert "owner contains a control character (U+001B)" in response.text
    assert count(app, Risk) == 0


@pytest.mark.parametrize(
    ("char", "name"),
    [("\x00", "U+0000"), ("\x07", "U+0007"), ("\x7f", "U+007F"), ("\ud800", "U+D800")],
)
def test_control_character_in_a_json_body_is_422_naming_the_field_and_stores_nothing(
    app: FastAPI, browser: TestClient, char: str, name: str
) -> None:
    engagement = lead_with_engagement(app, browser)
    body = json.dumps({**RISK, "description": f"Before{char}after"})  # "\u0000"-style escapes
    response = browser.post(
        f"/api/engagements/{engagement.id}/risks",
        content=body,
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 422, response.text[:500]
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert f"The description contains a control character ({name})" in error["message"]
    assert "description" in error["details"]
    assert count(app, Risk) == 0


def test_nul_nested_in_a_json_body_is_refused_although_it_is_stored_as_json_text(
    app: FastAPI, browser: TestClient
) -> None:
    engagement = lead_with_engagement(app, browser)
    contacts = [{"name": "Sam\x00", "email": "s@x.example"}]
    incident = {"document": "Triaged within an hour.", "contacts": contacts}
    response = browser.put(f"/api/engagements/{engagement.id}/incident-process", json=incident)
    assert response.status_code == 422, response.text[:500]
    assert "contacts.0.name" in response.json()["error"]["details"]
    assert count(app, IncidentProcess) == 0


def test_nul_in_a_search_query_parameter_is_422_not_500(app: FastAPI, browser: TestClient) -> None:
    lead_with_engagement(app, browser)
    response = browser.get("/evidence", params={"q": "policy\x00"})
    assert response.status_code == 422
    assert "The q contains a control character (U+0000)" in response.text
    api = browser.get("/api/engagements", params={"reference": "\x00"})
    assert api.status_code == 422 and api.json()["error"]["code"] == "invalid"


def test_nul_in_a_path_parameter_is_422_not_500(app: FastAPI, browser: TestClient) -> None:
    lead_with_engagement(app, browser)
    response = browser.get("/api/engagements/abc%00def")
    assert response.status_code == 422
    assert "engagement id contains a control character" in response.json()["error"]["message"]


def test_control_character_in_a_multipart_field_is_422_and_stores_no_object(
    app: FastAPI, browser: TestClient
) -> None:
    """The multipart parser applies the same rule to its text fields, so the upload stops before
    its row and its object exist (the engine's guard stays behind it)."""
    engagement = lead_with_engagement(app, browser)
    pdf = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    response = browser.post(
        f"/api/engagements/{engagement.id}/evidence",
        files={"file": ("policy.pdf", pdf, "application/pdf")},
        data={"title": "Pol\x00icy", "kind": "policy", "control_ids": "CPS-1.1"},
    )
    assert response.status_code == 422, response.text[:500]
    assert "The title contains a control character (U+0000)" in response.json()["error"]["message"]
    assert count(app, Evidence) == 0
    objects = app.state.settings.evidence_dir / "objects"
    assert not objects.exists() or not any(p.is_file() for p in objects.rglob("*"))


def test_tab_line_breaks_c1_and_escaped_emoji_are_kept_exactly(app: FastAPI, browser: TestClient) -> None:
    engagement = lead_with_engagement(app, browser)
    text = "Step 1\tlock\r\nStep 2 \U0001f512 \\u0000 is literal, C1 \x85 is kept"
    body = json.dumps({**RISK, "description": text})  # the emoji travels as a surrogate pair escape
    assert "\\ud83d\\udd12" in body
    response = browser.post(
        f"/api/engagements/{engagement.id}/risks", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 201, response.text[:500]
    with session_scope(app.state.engine) as session:
        assert session.exec(select(Risk.description)).one() == text


def test_the_database_refuses_control_characters_from_any_writer(app: FastAPI) -> None:
    """The guard sits on the engine: ORM inserts, ORM updates, Core updates and queries alike."""
    engine = app.state.engine
    org = make_org(engine, "supplier", "Clean Ltd")

    def insert(session: Session) -> None:
        accounts.create_organisation(session, name="Bad\x00 Ltd", kind="buyer")

    def orm_update(session: Session) -> None:
        row = session.get(Organisation, org.id)
        assert row is not None
        row.name = "Bad\x0c"
        session.flush()

    def core_update(session: Session) -> None:
        session.execute(update(Organisation).where(col(Organisation.id) == org.id).values(name="Bad\x7f"))

    def query(session: Session) -> None:
        session.exec(select(Organisation).where(Organisation.name == "\x00")).all()

    attempts: list[Callable[[Session], None]] = [insert, orm_update, core_update, query]
    for attempt in attempts:
        with session_scope(engine, write=True) as session, pytest.raises(InvalidInput) as refused:
            attempt(session)
            session.commit()
        assert "name" in refused.value.details, attempt.__name__
        assert "control character" in refused.value.message, attempt.__name__
    with session_scope(engine) as session:
        assert [o.name for o in session.exec(select(Organisation))] == ["Clean Ltd"]


def test_a_utf8_user_agent_does_not_block_sign_in(app: FastAPI, anonymous: TestClient) -> None:
    """Header values are decoded as Latin-1, so UTF-8 "€" arrives as C1 U+0082: accepted."""
    person = make_person(app.state.engine, app.state.keys, "supplier_lead")
    token = csrf_token(app, anonymous)
    user_agent = {"User-Agent": "Bröwser €".encode()}
    steps = [
        ("/sign-in", {"email": person.email, "password": person.password}),
        ("/sign-in/verify", {"code": person.code()}),
    ]
    for path, data in steps:
        response = anonymous.post(
            path, data={**data, "csrf_token": token}, headers=user_agent, follow_redirects=False
        )
        assert response.status_code == 303, response.text[:300]


# --- body size limit ----------------------------------------------------------------------


@pytest.fixture
def small_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    application = create_app(make_settings(tmp_path, database_url, max_body_kb=2))
    yield application
    application.state.engine.dispose()


@pytest.fixture
def small(small_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(small_app, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
        yield client


def test_json_body_over_the_limit_is_413_before_parsing_and_stores_nothing(
    small_app: FastAPI, small: TestClient
) -> None:
    engagement = lead_with_engagement(small_app, small)
    body = json.dumps({**RISK, "description": "x" * 3000})
    response = small.post(
        f"/api/engagements/{engagement.id}/risks", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "too_large" and "2 KB" in error["message"]
    assert count(small_app, Risk) == 0
    # Not parsed: a malformed body over the limit is 413, not the parser's 422.
    garbage = small.post(
        f"/api/engagements/{engagement.id}/risks",
        content=b"{" * 3000,
        headers={"Content-Type": "application/json"},
    )
    assert garbage.status_code == 413


def test_chunked_body_over_the_limit_is_413(small_app: FastAPI, small: TestClient) -> None:
    engagement = lead_with_engagement(small_app, small)
    body = json.dumps({**RISK, "description": "x" * 3000}).encode()

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 500):
            yield body[start : start + 500]

    response = small.post(
        f"/api/engagements/{engagement.id}/risks",
        content=chunks(),
        headers={"Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers  # streamed, size unknown up front
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"
    assert count(small_app, Risk) == 0


def test_form_body_over_the_limit_is_413_page(small_app: FastAPI, small: TestClient) -> None:
    engagement = lead_with_engagement(small_app, small)
    response = small.post(f"/engagements/{engagement.id}/plan/risks", data=risk_form(description="x" * 3000))
    assert response.status_code == 413
    assert response.headers["content-type"].startswith("text/html")
    assert "2 KB" in response.text and response.headers["x-request-id"]
    assert count(small_app, Risk) == 0


def test_bodies_within_the_limit_still_work(small_app: FastAPI, small: TestClient) -> None:
    engagement = lead_with_engagement(small_app, small)
    response = small.post(f"/api/engagements/{engagement.id}/risks", json=RISK)
    assert response.status_code == 201
    form = small.post(
        f"/engagements/{engagement.id}/plan/risks", data=risk_form(title="Second"), follow_redirects=False
    )
    assert form.status_code == 303
    assert count(small_app, Risk) == 2


def test_multipart_upload_is_not_under_the_body_limit(small_app: FastAPI, small: TestClient) -> None:
    engagement = lead_with_engagement(small_app, small)
    pdf = b"%PDF-1.4\n" + b"%" * 8000 + b"\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
    response = small.post(
        f"/api/engagements/{engagement.id}/evidence",
        files={"file": ("policy.pdf", pdf, "application/pdf")},
        data={"title": "Policy", "kind": "policy", "control_ids": "CPS-1.1"},
    )
    assert response.status_code == 201, response.text[:500]


def test_ten_megabyte_json_body_is_413_by_default(app: FastAPI, browser: TestClient) -> None:
    engagement = lead_with_engagement(app, browser)
    body = "{" + ",".join(f'"k{i}":0' for i in range(900_000)) + "}"
    assert len(body) > 10_000_000
    response = browser.post(
        f"/api/engagements/{engagement.id}/risks", content=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413
    assert "1024 KB" in response.json()["error"]["message"]


# --- 405 ----------------------------------------------------------------------------------


def test_405_allow_lists_every_method_of_the_path(app: FastAPI, browser: TestClient) -> None:
    page = browser.delete("/engagements/new")
    assert page.status_code == 405
    assert page.headers["allow"] == "GET, POST"
    api = browser.post("/api/engagements/e1/risks/r1")
    assert api.status_code == 405
    assert api.headers["allow"] == "DELETE, PUT"
    assert api.json()["error"]["code"] == "method_not_allowed"
