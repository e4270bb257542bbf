"""An empty file is refused for what it is: "The file is empty" (422), not "not accepted" (415)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import Evidence
from tests.factories import make_engagement, make_org, make_person, sign_in


def test_an_empty_file_is_refused_as_empty_and_nothing_is_stored(app: FastAPI) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with TestClient(app) as client:
        sign_in(app, client, lead)
        for name in ("empty.pdf", "empty.txt", "blank"):
            response = client.post(
                f"/api/engagements/{engagement.id}/evidence",
                data={"title": "Nothing", "control_ids": "CPS-1.1"},
                files={"file": (name, b"")},
            )
            assert response.status_code == 422, response.text
            error = response.json()["error"]
            assert error["message"] == "The file is empty."
            assert error["details"] == {"file": "empty"}
    with session_scope(engine) as session:
        assert session.exec(select(func.count()).select_from(Evidence)).one() == 0
    assert list(app.state.store.keys()) == []
    assert list(app.state.store.tmp_dir.iterdir()) == []
