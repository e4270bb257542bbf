"""Issue 17 item 6 (import side): an OSCAL catalog or profile imported as a new catalogue. It is
kept in the database (every worker sees it), appears in the catalogue browser, exports again as
OSCAL and can be used by a new engagement, whose answers readiness counts. An invalid document
gets every problem listed, and nothing is created; only administrators and buyer advisors may
import, and a refusal is audited."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select
from trestle.oscal.catalog import Catalog

from app.adapters import catalogue_json
from app.adapters.oscal_import import ImportRefused, from_catalog, read_document
from app.db import session_scope
from app.domain.catalogue import Criticality, Relation
from app.models import AuditEvent, ImportedCatalogue
from tests.factories import Person, csrf_token, make_org, make_person, sign_in

URL = "/api/catalogues/import"


def post(app: FastAPI, client: TestClient, data: bytes, catalogue_id: str = "") -> Any:
    token = csrf_token(app, client)
    return client.post(
        URL,
        data={"catalogue_id": catalogue_id},
        files={"file": ("policy.json", data, "application/json")},
        headers={"X-CSRF-Token": token},
    )


def rows(app: FastAPI) -> int:
    with session_scope(app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(ImportedCatalogue)).one())


def events(app: FastAPI, action: str, outcome: str = "allowed") -> list[AuditEvent]:
    with session_scope(app.state.engine) as session:
        query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.outcome == outcome)
        return list(session.exec(query).all())


def advisor(app: FastAPI) -> tuple[Person, TestClient]:
    person = make_person(
        app.state.engine, app.state.keys, "buyer_advisor", make_org(app.state.engine, "buyer")
    )
    return person, sign_in(app, TestClient(app), person)


def relabelled(client: TestClient, catalogue_id: str = "cps-security-policy") -> bytes:
    """The catalogue's own OSCAL export, as another policy: new title and control ids."""
    response = client.get(f"/api/catalogues/{catalogue_id}/oscal")
    assert response.status_code == 200
    document = response.json()
    document["catalog"]["metadata"]["title"] = "Harbour Department supplier policy"
    text = json.dumps(document).replace('"CPS-', '"HDP-').replace("_CPS-", "_HDP-")
    return text.encode()


def test_round_trip_export_import_engagement_answer_readiness(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    person, client = advisor(app)
    data = relabelled(client)
    answer = post(app, client, data, "harbour-policy")
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["id"] == "harbour-policy" and body["kind"] == "catalog"
    assert body["sha256"] == hashlib.sha256(data).hexdigest() and body["size_bytes"] == len(data)
    assert answer.headers["location"] == "/api/catalogues/harbour-policy"
    original = client.get("/api/catalogues/cps-security-policy").json()
    imported = client.get("/api/catalogues/harbour-policy").json()
    assert imported["control_count"] == original["control_count"] == body["control_count"]
    first = original["sections"][0]["controls"][0]
    again = imported["sections"][0]["controls"][0]
    assert again["id"] == first["id"].replace("CPS-", "HDP-")
    for field in (
        "title",
        "requirement",
        "guidance",
        "evidence",
        "criticality",
        "evidence_required",
        "source",
    ):
        assert again[field] == first[field], field
    assert "harbour-policy" in {c["id"] for c in client.get("/api/catalogues").json()}

    # the catalogue browser lists it and shows its controls; its OSCAL export validates
    page = client.get("/catalogues")
    assert page.status_code == 200 and "Harbour Department supplier policy" in page.text
    assert again["id"] in client.get("/catalogues/harbour-policy").text
    exported = client.get("/api/catalogues/harbour-policy/oscal").json()
    Catalog.model_validate(exported["catalog"])

    with session_scope(engine) as session:
        row = session.get(ImportedCatalogue, "harbour-policy")
        assert row is not None and row.imported_by_id == person.user.id
        assert row.organisation_id == person.organisation.id and row.sha256 == body["sha256"]
        assert json.loads(row.document) == json.loads(data)
    [event] = events(app, "catalogue_imported")
    assert event.object_id == "harbour-policy"

    # a new engagement chooses it; the supplier answers one of its controls; readiness counts it
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    created = client.post(
        "/api/engagements",
        json={
            "reference": "PR 2026 017",
            "title": "Harbour data platform",
            "buyer_org_id": person.organisation.id,
            "supplier_org_id": lead.organisation.id,
            "effective_date": "2026-11-02",
            "workflow_profile": "schedule-2-4",
            "catalogue_ids": ["harbour-policy"],
        },
        headers={"X-CSRF-Token": csrf_token(app, client)},
    )
    assert created.status_code == 201, created.text
    engagement_id = created.json()["id"]
    supplier = sign_in(app, TestClient(app), lead)
    put = supplier.put(
        f"/api/engagements/{engagement_id}/responses/{again['id']}",
        json={"status": "met", "statement": "Our own vetting follows the department's policy."},
        headers={"X-CSRF-Token": csrf_token(app, supplier)},
    )
    assert put.status_code == 200, put.text
    readiness = supplier.get(f"/api/engagements/{engagement_id}/readiness").json()
    assert [c["id"] for c in readiness["catalogues"]] == ["harbour-policy"]
    assert readiness["counts"]["met"] == 1
    scored = {c["control_id"]: c for c in readiness["controls"]}
    assert scored[again["id"]]["status"] == "met"


def invalid_documents(client: TestClient) -> dict[str, tuple[bytes, str, str]]:
    """name -> (document, catalogue id, a path that must be among the problems)."""
    good = json.loads(relabelled(client))
    no_title = json.loads(json.dumps(good))
    del no_title["catalog"]["metadata"]["title"]
    bad_uuid = json.loads(json.dumps(good))
    bad_uuid["catalog"]["uuid"] = "not-a-uuid"
    profile = {
        "profile": {
            "uuid": "1f5e1b1e-8a44-4c52-9f0e-3b0a3c1d2e4f",
            "metadata": {"title": "Tailored", "last-modified": "2026-12-01T00:00:00+00:00", "version": "1",
                         "oscal-version": "1.1.2"},
            "imports": [{"href": "https://elsewhere.example/nist-800-53.json", "include-all": {}}],
        }
    }  # fmt: skip
    unchanged = client.get("/api/catalogues/cps-security-policy/oscal").content
    return {
        "schema error": (json.dumps(no_title).encode(), "harbour-policy", "catalog.metadata.title"),
        "bad uuid": (json.dumps(bad_uuid).encode(), "harbour-policy", "catalog.uuid"),
        "not json": (b"catalogue:\n  - title: not JSON\n", "harbour-policy", ""),
        "unknown href": (json.dumps(profile).encode(), "tailored", "profile.imports.0.href"),
        "catalogue id in use": (json.dumps(good).encode(), "cps-security-policy", "catalogue_id"),
        "control ids in use": (unchanged, "cps-copy", "control CPS-1.1"),
        "bad id": (json.dumps(good).encode(), "Harbour Policy!", "catalogue_id"),
    }


def test_invalid_documents_get_every_problem_and_nothing_is_created(app: FastAPI) -> None:
    _person, client = advisor(app)
    for name, (data, catalogue_id, path) in invalid_documents(client).items():
        answer = post(app, client, data, catalogue_id)
        assert answer.status_code == 422, (name, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "invalid" and "nothing was created" in error["message"]
        assert path in {p["field"] for p in error["details"]}, (name, error["details"])
        assert all(p["message"] for p in error["details"])
    assert rows(app) == 0
    assert events(app, "catalogue_imported") == []


def test_too_big_is_refused_before_it_is_read(app: FastAPI) -> None:
    _person, client = advisor(app)
    answer = post(app, client, b" " * (10 * 1024 * 1024 + 1), "big")
    assert answer.status_code == 413
    assert "10 MB" in answer.json()["error"]["message"]
    assert rows(app) == 0


@pytest.mark.parametrize("role", ["supplier_lead", "supplier_contributor"])
def test_suppliers_are_refused_and_the_refusal_is_audited(app: FastAPI, role: str) -> None:
    _person, client = advisor(app)
    data = relabelled(client)
    person = make_person(app.state.engine, app.state.keys, role)
    supplier = sign_in(app, TestClient(app), person)
    answer = post(app, supplier, data, "harbour-policy")
    assert answer.status_code == 403
    assert rows(app) == 0
    [denied] = events(app, "catalogue_imported", "denied")
    assert denied.actor_user_id == person.user.id and denied.object_type == "catalogue"
    assert 'id="catalogue-import-form"' not in supplier.get("/catalogues").text
    page = supplier.post(
        "/catalogues/import",
        data={"csrf_token": csrf_token(app, supplier), "catalogue_id": "harbour-policy"},
        files={"file": ("policy.json", data, "application/json")},
    )
    assert page.status_code == 403
    assert len(events(app, "catalogue_imported", "denied")) == 2
    assert rows(app) == 0


def test_an_administrator_imports_a_profile_of_a_catalogue_in_the_library(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    admin = sign_in(app, TestClient(app), make_person(engine, keys, "administrator"))
    profile = {
        "profile": {
            "uuid": "1f5e1b1e-8a44-4c52-9f0e-3b0a3c1d2e4f",
            "metadata": {"title": "Vetting only", "last-modified": "2026-12-01T00:00:00+00:00",
                         "version": "2026.1", "oscal-version": "1.1.2"},
            "imports": [
                {"href": "#6c1b7f0e-0c0f-4b9f-8d55-5a3f3e1f2a10",
                 "include-controls": [{"with-ids": ["CPS-1.1", "CPS-1.2"]}]},
            ],
            "back-matter": {"resources": [
                {"uuid": "6c1b7f0e-0c0f-4b9f-8d55-5a3f3e1f2a10",
                 "rlinks": [{"href": "https://attest.example/api/catalogues/cps-security-policy/oscal"}]},
            ]},
        }
    }  # fmt: skip
    answer = post(app, admin, json.dumps(profile).encode(), "vetting-only")
    assert answer.status_code == 201, answer.text
    assert answer.json()["kind"] == "profile" and answer.json()["control_count"] == 2
    control = admin.get("/api/catalogues/vetting-only/controls/VETTING-ONLY-CPS-1.1").json()
    original = admin.get("/api/catalogues/cps-security-policy/controls/CPS-1.1").json()
    assert control["requirement"] == original["requirement"]
    assert {"control_id": "CPS-1.1", "relation": "equivalent"}.items() <= control["mappings"][0].items()

    unknown = json.loads(json.dumps(profile))
    unknown["profile"]["imports"][0]["include-controls"] = [{"with-ids": ["CPS-99.9"]}]
    refused = post(app, admin, json.dumps(unknown).encode(), "vetting-two")
    assert refused.status_code == 422
    assert "CPS-99.9" in refused.json()["error"]["details"][0]["message"]
    assert rows(app) == 1


def test_the_browser_form_lists_the_problems_and_creates_nothing(app: FastAPI) -> None:
    _person, client = advisor(app)
    page = client.get("/catalogues")
    assert 'id="catalogue-import-form"' in page.text
    token = csrf_token(app, client)
    bad = client.post(
        "/catalogues/import",
        data={"csrf_token": token, "catalogue_id": "harbour-policy"},
        files={"file": ("policy.json", b'{"catalog": {"uuid": "x"}}', "application/json")},
    )
    assert bad.status_code == 422
    assert "Nothing was imported" in bad.text and "catalog.metadata" in bad.text
    assert 'value="harbour-policy"' in bad.text
    assert rows(app) == 0
    good = client.post(
        "/catalogues/import",
        data={"csrf_token": token, "catalogue_id": "harbour-policy"},
        files={"file": ("policy.json", relabelled(client), "application/json")},
        follow_redirects=False,
    )
    assert good.status_code == 303 and good.headers["location"].endswith("/catalogues/harbour-policy")
    assert "Harbour Department supplier policy" in client.get("/catalogues").text
    assert 'value="harbour-policy"' in client.get("/engagements/new").text  # a new engagement may choose it


def _label(value: str) -> list[dict[str, str]]:
    return [{"name": "label", "value": value}]


def _statement(cid: str, prose: str = "", parts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "id": f"{cid}_smt",
        "name": "statement",
        **({"prose": prose} if prose else {}),
        "parts": parts or [],
    }


AC_17 = {
    "id": "ac-17",
    "title": "Remote access",
    "params": [{"id": "ac-17_prm_1", "label": "usage restrictions"}],
    "props": _label("AC-17"),
    "parts": [
        _statement(
            "ac-17",
            parts=[
                {
                    "id": "a",
                    "name": "item",
                    "props": _label("a."),
                    "prose": "Establish {{ insert: param, ac-17_prm_1 }}.",
                },
                {
                    "id": "b",
                    "name": "item",
                    "props": _label("b."),
                    "prose": "Authorise each type of remote access.",
                },
            ],
        ),
        {"id": "ac-17_gdn", "name": "guidance", "prose": "Remote access is any access from outside."},
        {"id": "ac-17_obj", "name": "assessment-objective", "prose": "The remote access policy."},
    ],
    "controls": [
        {
            "id": "ac-17.1",
            "title": "Monitoring",
            "props": _label("AC-17(1)"),
            "parts": [_statement("ac-17.1", "Monitor remote access.")],
        },
        {
            "id": "ac-17.2",
            "title": "Withdrawn one",
            "props": [*_label("AC-17(2)"), {"name": "status", "value": "withdrawn"}],
        },
    ],
}
NIST_LIKE = {
    "catalog": {
        "uuid": "0b1a0e4e-3c65-4a34-9d2c-6d0f1e2b3c4d",
        "metadata": {
            "title": "Example Department Controls",
            "last-modified": "2026-10-01T09:00:00Z",
            "version": "3",
            "oscal-version": "1.1.2",
            "remarks": "Our own controls.",
        },
        "controls": [
            {"id": "top-1", "title": "Loose control", "parts": [_statement("top-1", "Do the loose thing.")]}
        ],
        "groups": [
            {
                "id": "ac",
                "title": "Access control",
                "groups": [{"id": "ac-r", "title": "Remote access", "controls": [AC_17]}],
            },
        ],
    }
}


def test_a_catalog_maps_groups_parts_labels_and_nested_controls() -> None:
    kind, body = read_document(json.dumps(NIST_LIKE).encode())
    assert kind == "catalog"
    catalogue = from_catalog(body, "example-controls", set())
    assert [(s.id, s.title) for s in catalogue.sections] == [
        ("controls", "Controls"),
        ("ac-r", "Access control: Remote access"),
    ]
    assert [c.id for c in catalogue.controls] == ["top-1", "AC-17", "AC-17(1)"]
    control = catalogue.controls[1]
    assert (
        control.requirement == "a. Establish [usage restrictions].\nb. Authorise each type of remote access."
    )
    assert control.guidance == "Remote access is any access from outside."
    assert control.evidence == "The remote access policy."
    assert control.clauses == ("AC-17",) and control.criticality is Criticality.NORMAL
    assert catalogue.version == "3" and catalogue.description == "Our own controls."
    assert catalogue.source_clauses == ("top-1", "AC-17", "AC-17(1)")
    assert catalogue_json.loads(catalogue_json.dumps(catalogue)) == catalogue


def test_attest_links_become_mappings_when_their_target_is_known() -> None:
    document = json.loads(json.dumps(NIST_LIKE))
    document["catalog"]["controls"][0]["links"] = [
        {"href": "/api/catalogues/cps-security-policy/controls/CPS-1.1", "rel": "equivalent-to"},
        {"href": "/api/catalogues/cps-security-policy/controls/CPS-1.2", "rel": "covered-by"},
        {"href": "/api/catalogues/cps-security-policy/controls/NOPE", "rel": "related-to"},
        {"href": "#ac-17", "rel": "related"},
    ]
    _kind, body = read_document(json.dumps(document).encode())
    catalogue = from_catalog(body, "example-controls", {"CPS-1.1", "CPS-1.2"})
    assert [(m.target, m.relation) for m in catalogue.controls[0].mappings] == [
        ("CPS-1.1", Relation.EQUIVALENT)
    ]


@pytest.mark.parametrize(
    ("data", "path"),
    [
        (b"\xff\xfe not utf-8", ""),
        (b"[1, 2]", ""),
        (b'{"catalog": {}, "profile": {}}', ""),
        (b'{"catalog": {"uuid": "0b1a0e4e-3c65-4a34-9d2c-6d0f1e2b3c4d"}}', "catalog.metadata"),
    ],
)
def test_documents_that_are_not_an_oscal_catalog_or_profile(data: bytes, path: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_document(data)
    assert path in {p.path for p in refused.value.problems}
