"""Uploading bytes the organisation's library already holds offers that item instead of making a
second one: the API answers 409 with its id (unless `allow_duplicate=true`), the drop zone is told
where it is, and a plain form lands on a page that links to it and can link it to the control."""

from __future__ import annotations

import html
import re
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
from app.models import Engagement, Evidence, EvidenceLink
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


@pytest.fixture
def setup(tmp_path: Path, database_url: str) -> Iterator[tuple[FastAPI, Engagement, Person]]:
    app = create_app(make_settings(tmp_path, database_url))
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    yield app, make_engagement(engine, make_org(engine, "buyer"), supplier), lead
    engine.dispose()


def rows(app: FastAPI) -> int:
    with session_scope(app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(Evidence)).one())


def links(app: FastAPI, control_id: str) -> list[str]:
    with session_scope(app.state.engine) as session:
        query = select(EvidenceLink.evidence_id).where(EvidenceLink.control_id == control_id)
        return list(session.exec(query))


def api_upload(client: TestClient, engagement: Engagement, title: str, **fields: str) -> Response:
    data = {"title": title, "control_ids": fields.pop("control_ids", "CPS-1.1"), **fields}
    return client.post(
        f"/api/engagements/{engagement.id}/evidence", data=data, files={"file": ("policy.pdf", PDF)}
    )


def test_the_api_answers_409_with_the_existing_item_and_keeps_one(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = api_upload(client, engagement, "Security policy")
        assert first.status_code == 201
        again = api_upload(client, engagement, "Security policy (again)", control_ids="CPS-1.2")
        assert again.status_code == 409
        error = again.json()["error"]
        assert error["code"] == "conflict"
        assert error["message"] == "You already have this file: Security policy"
        assert error["details"]["evidence_id"] == first.json()["id"]
        assert rows(app) == 1
        assert links(app, "CPS-1.2") == []  # nothing half-done: no link either
        library = client.get("/api/evidence").json()["items"]
        assert [item["id"] for item in library] == [first.json()["id"]]


def test_allow_duplicate_keeps_a_second_item_on_purpose(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = api_upload(client, engagement, "Security policy")
        copy = api_upload(client, engagement, "Security policy, signed copy", allow_duplicate="true")
        assert copy.status_code == 201, copy.text
        assert copy.json()["sha256"] == first.json()["sha256"]
        assert rows(app) == 2
        assert list(app.state.store.keys()) == [first.json()["sha256"]]  # still one stored object


def test_another_organisation_with_the_same_bytes_is_not_told_about_it(setup) -> None:
    app, engagement, lead = setup
    engine = app.state.engine
    other = make_org(engine, "supplier", "Other Supplier Ltd")
    other_lead = make_person(engine, app.state.keys, "supplier_lead", other)
    other_engagement = make_engagement(engine, make_org(engine, "buyer"), other)
    with TestClient(app) as client, TestClient(app) as rival:
        sign_in(app, client, lead)
        sign_in(app, rival, other_lead)
        assert api_upload(client, engagement, "Ours").status_code == 201
        theirs = api_upload(rival, other_engagement, "Theirs")
        assert theirs.status_code == 201, theirs.text
        assert "Ours" not in theirs.text


def test_the_openapi_schema_documents_the_409_and_allow_duplicate(setup) -> None:
    app, _, _ = setup
    with TestClient(app) as client:
        operation = client.get("/api/openapi.json").json()["paths"][
            "/api/engagements/{engagement_id}/evidence"
        ]
    post = operation["post"]
    assert "409" in post["responses"]
    assert "evidence_id" in post["responses"]["409"]["description"]
    schema = post["requestBody"]["content"]["multipart/form-data"]["schema"]
    assert "allow_duplicate" in schema["properties"]


def test_the_drop_zone_is_told_where_the_existing_item_is_and_the_link_works(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = api_upload(client, engagement, "Security policy").json()
        response = client.post(
            f"/engagements/{engagement.id}/evidence",
            data={"title": "policy", "control_ids": "CPS-1.2"},
            files={"file": ("policy.pdf", PDF)},
            headers={"Accept": "application/json"},
        )
        assert response.status_code == 409
        details = response.json()["error"]["details"]
        assert details["evidence_id"] == first["id"] and details["title"] == "Security policy"
        item = client.get(details["url"])
        assert item.status_code == 200 and "Security policy" in item.text
        assert rows(app) == 1


def test_a_plain_form_offers_the_item_and_links_it_to_the_control(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = api_upload(client, engagement, "Security policy", control_ids="").json()
        page = client.post(
            f"/engagements/{engagement.id}/evidence?control_id=CPS-1.2",
            data={"title": "", "control_ids": "CPS-1.2"},
            files={"file": ("policy.pdf", PDF)},
        )
        assert page.status_code == 409
        text = html.unescape(page.text)
        assert "You already have this file:" in text
        assert f'href="/evidence/{first["id"]}">Security policy</a>' in text
        assert client.get(f"/evidence/{first['id']}").status_code == 200
        action = re.search(r'<form method="post" action="([^"]+/links)"', page.text)
        assert action is not None and "Link it to this control" in text
        assert f'name="evidence_id" value="{first["id"]}"' in page.text
        linked = client.post(html.unescape(action.group(1)), data={"evidence_id": first["id"]})
        assert linked.status_code == 200  # followed back to the control
        assert links(app, "CPS-1.2") == [first["id"]]
        assert rows(app) == 1
        control = client.get(f"/engagements/{engagement.id}/controls/CPS-1.2")
        assert "Security policy" in control.text


def test_a_new_version_with_earlier_bytes_is_not_refused(setup) -> None:
    app, engagement, lead = setup
    with TestClient(app) as client:
        sign_in(app, client, lead)
        first = api_upload(client, engagement, "Policy").json()
        second = client.post(
            f"/api/evidence/{first['id']}/versions",
            data={"title": "Policy"},
            files={"file": ("policy.txt", b"the second wording\n")},
        ).json()
        restored = client.post(
            f"/api/evidence/{second['id']}/versions",
            data={"title": "Policy"},
            files={"file": ("policy.pdf", PDF)},
        )
        assert restored.status_code == 201, restored.text
        assert restored.json()["version"] == 3
