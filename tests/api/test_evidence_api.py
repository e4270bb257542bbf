"""The evidence library through the API alone: upload, list (filters, limit and cursor), one item
with its versions, a new version, link and unlink, apply to mapped; the same rules and the same
audit events as the pages, and someone else's evidence answers 404."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent
from tests.api.test_tokens import new_token
from tests.factories import make_engagement, make_evidence, make_org, make_person

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"


def bearer(anonymous: TestClient, token: str) -> TestClient:
    anonymous.headers["Authorization"] = f"Bearer {token}"
    return anonymous


def events(app: FastAPI, action: str) -> list[AuditEvent]:
    with session_scope(app.state.engine) as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.seq)  # type: ignore[arg-type]
        return list(session.exec(query))


def upload(client: TestClient, path: str, title: str, data: bytes = PDF, **fields: str) -> dict:
    answer = client.post(
        path, files={"file": ("policy.pdf", data, "application/pdf")}, data={"title": title, **fields}
    )
    assert answer.status_code == 201, answer.text
    body: dict = answer.json()
    return body


def test_a_script_runs_the_evidence_library(app: FastAPI, anonymous: TestClient, keys) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    client = bearer(anonymous, new_token(app, lead)[1])
    eid = engagement.id

    first = upload(client, f"/api/engagements/{eid}/evidence", "Access policy", control_ids="CPS-1.1")
    second = upload(client, f"/api/engagements/{eid}/evidence", "Patching report", PDF + b"2", kind="report")
    assert events(app, "evidence_uploaded")[-1].object_id == second["id"]

    listed = client.get("/api/evidence").json()
    assert [i["id"] for i in listed["items"]] == [second["id"], first["id"]] and listed["next_cursor"] is None
    assert listed["items"][1]["used_in"] == [
        {"engagement_reference": engagement.reference, "control_id": "CPS-1.1"}
    ]
    assert [i["id"] for i in client.get("/api/evidence?kind=report").json()["items"]] == [second["id"]]
    assert [i["id"] for i in client.get("/api/evidence?q=access").json()["items"]] == [first["id"]]
    assert client.get("/api/evidence?kind=nonsense").status_code == 422
    page = client.get("/api/evidence?limit=1").json()
    assert [i["id"] for i in page["items"]] == [second["id"]] and page["next_cursor"]
    rest = client.get(f"/api/evidence?limit=1&cursor={page['next_cursor']}").json()
    assert [i["id"] for i in rest["items"]] == [first["id"]] and rest["next_cursor"] is None
    assert client.get("/api/evidence?cursor=bogus").status_code == 422

    newer = upload(client, f"/api/evidence/{first['id']}/versions", "Access policy v2", PDF + b"v2")
    assert newer["version"] == 2
    detail = client.get(f"/api/evidence/{newer['id']}").json()
    assert detail["is_owner"] is True
    assert [(v["id"], v["version"]) for v in detail["versions"]] == [(newer["id"], 2), (first["id"], 1)]
    assert detail["versions"][1]["superseded_at"] is not None
    stale = client.post(
        f"/api/evidence/{first['id']}/versions", files={"file": ("p.pdf", PDF + b"x", "application/pdf")}
    )
    assert stale.status_code == 422  # new versions go against the newest version

    base = f"/api/engagements/{eid}/responses/CPS-1.2/evidence"
    linked = client.post(base, json={"evidence_id": second["id"]})
    assert linked.status_code == 200, linked.text
    assert [e["id"] for e in linked.json()["evidence"]] == [second["id"]]
    link_event = events(app, "evidence_linked")[-1]
    assert (link_event.object_type, link_event.object_id, link_event.engagement_id) == (
        "evidence",
        second["id"],
        eid,
    )
    assert client.post(base, json={"evidence_id": first["id"]}).status_code == 422  # superseded
    unlinked = client.delete(f"{base}/{second['id']}")
    assert unlinked.status_code == 200 and unlinked.json()["evidence"] == []
    assert events(app, "evidence_unlinked")[-1].object_id == second["id"]
    assert client.delete(f"{base}/{second['id']}").status_code == 404  # not linked any more

    content = client.get(f"/api/evidence/{newer['id']}/content")
    assert content.status_code == 200 and content.content == PDF + b"v2"
    assert events(app, "evidence_downloaded")[-1].object_id == newer["id"]


def test_someone_elses_evidence_answers_404_and_is_audited(app: FastAPI, anonymous: TestClient, keys) -> None:
    engine = app.state.engine
    supplier, other = make_org(engine, "supplier"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    other_lead = make_person(engine, keys, "supplier_lead", other)
    theirs = make_evidence(app, make_engagement(engine, make_org(engine, "buyer"), other), other_lead)
    mine = make_engagement(engine, make_org(engine, "buyer"), supplier)
    client = bearer(anonymous, new_token(app, lead)[1])
    before = len(events(app, "evidence_viewed"))
    answer = client.get(f"/api/evidence/{theirs}")
    assert answer.status_code == 404 and theirs not in answer.text
    denied = events(app, "evidence_viewed")
    assert len(denied) == before + 1 and denied[-1].outcome == "denied"
    assert client.get("/api/evidence/" + "0" * 32).status_code == 404
    assert client.get("/api/evidence").json()["items"] == []  # the library lists only one's own
    linked = client.post(
        f"/api/engagements/{mine.id}/responses/CPS-1.1/evidence", json={"evidence_id": theirs}
    )
    assert linked.status_code == 422  # not in the supplier's library (nothing about it is told)
    versioned = client.post(
        f"/api/evidence/{theirs}/versions", files={"file": ("p.pdf", PDF, "application/pdf")}
    )
    assert versioned.status_code == 404


def test_the_library_is_for_suppliers(app: FastAPI, anonymous: TestClient, keys) -> None:
    advisor = make_person(app.state.engine, keys, "buyer_advisor")
    client = bearer(anonymous, new_token(app, advisor)[1])
    assert client.get("/api/evidence").status_code == 404
    assert events(app, "evidence_library")[-1].outcome == "denied"
