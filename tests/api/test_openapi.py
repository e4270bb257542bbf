"""The OpenAPI schema tells the truth: every status an operation can answer, with the error
body Attest really sends, and every closed set as an enum."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.schema import ErrorBody
from app.domain import deadlines as deadline_rules
from app.domain.access import Role
from app.domain.catalogue import Criticality, Recurrence, Relation
from app.domain.certificates import ITHC_PROVIDERS, STATES, Scheme, Tier
from app.domain.readiness import Status
from app.domain.workflow import Move, State
from app.models import OrgKind
from app.services import changes, engagements, evidence, plan, responses
from tests.api.test_tokens import new_token
from tests.factories import make_person

UNSAFE = {"post", "put", "patch", "delete"}
ERROR_REF = "#/components/schemas/ErrorBody"

Schema = dict[str, Any]


@pytest.fixture
def openapi(anonymous: TestClient) -> Schema:
    answer = anonymous.get("/api/openapi.json")
    assert answer.status_code == 200
    schema: Schema = answer.json()
    return schema


def operations(openapi: Schema) -> list[tuple[str, str, Schema]]:
    found = [
        (method, path, operation)
        for path, item in openapi["paths"].items()
        if path.startswith("/api/")
        for method, operation in item.items()
    ]
    assert len(found) > 30
    return found


def resolve(openapi: Schema, node: Schema) -> Schema:
    while "$ref" in node:
        node = openapi["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def enum_values(openapi: Schema, node: Schema) -> set[Any]:
    """The values a schema node allows when it is a closed set (through $ref, anyOf, items)."""
    node = resolve(openapi, node)
    if "enum" in node:
        return set(node["enum"])
    if "const" in node:
        return {node["const"]}
    if node.get("type") == "array":
        return enum_values(openapi, node["items"])
    if "anyOf" in node:
        parts = [p for p in node["anyOf"] if p.get("type") != "null"]
        values = [enum_values(openapi, p) for p in parts]
        assert all(values), f"a branch of {node} is not a closed set"
        return set().union(*values)
    raise AssertionError(f"{node} is not an enum")


def field(openapi: Schema, model: str, name: str) -> Schema:
    node: Schema = openapi["components"]["schemas"][model]["properties"][name]
    return node


def test_every_api_operation_documents_its_errors_with_the_error_body(openapi: Schema) -> None:
    for method, path, operation in operations(openapi):
        documented = operation["responses"]
        wanted = {"401", "404", "422", "500"} | ({"403", "413"} if method in UNSAFE else set())
        assert wanted <= set(documented), (method, path, sorted(documented))
        for status in wanted:
            schema = documented[status]["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in openapi["components"]["schemas"]


def test_uploads_document_malformed_slow_large_and_refused_bodies(openapi: Schema) -> None:
    uploads = [
        (method, path, op)
        for method, path, op in operations(openapi)
        if "multipart/form-data" in op.get("requestBody", {}).get("content", {})
    ]
    assert ("post", "/api/engagements/{engagement_id}/evidence") in {(m, p) for m, p, _ in uploads}
    for method, path, operation in uploads:
        assert {"400", "408", "413", "415"} <= set(operation["responses"]), (method, path)
        if "/evidence" not in path:
            continue  # the other upload is an import (its fields are column names)
        form = operation["requestBody"]["content"]["multipart/form-data"]["schema"]
        assert enum_values(openapi, form["properties"]["kind"]) == set(evidence.KINDS)
        assert enum_values(openapi, form["properties"]["marking"]) == set(evidence.MARKINGS)


def test_versioned_saves_document_409(openapi: Schema) -> None:
    versioned = set()
    for method, path, operation in operations(openapi):
        body = operation.get("requestBody", {}).get("content", {}).get("application/json")
        in_body = body and "expected_version" in resolve(openapi, body["schema"]).get("properties", {})
        in_query = any(p["name"] == "expected_version" for p in operation.get("parameters", []))
        if in_body or in_query:
            versioned.add((method, path))
            assert "409" in operation["responses"], (method, path)
    assert ("put", "/api/engagements/{engagement_id}/responses/{control_id}") in versioned
    moves = ["/api/engagements/{engagement_id}/dispute/resolve", "/api/submissions/{submission_id}/decision"]
    for path in moves:
        assert "409" in openapi["paths"][path]["post"]["responses"]


def test_cached_catalogue_answers_document_304(openapi: Schema) -> None:
    assert "304" in openapi["paths"]["/api/catalogues/{catalogue_id}"]["get"]["responses"]


CLOSED_SETS: list[tuple[str, str, set[Any]]] = [
    ("CertificateBody", "scheme", set(Scheme)),
    ("CertificateOut", "scheme", set(Scheme)),
    ("CertificateOut", "state", set(STATES)),
    ("CertificateOut", "provider", set(ITHC_PROVIDERS)),
    ("HolderOut", "tier", set(Tier)),
    ("ResponseIn", "status", set(responses.STATUSES)),
    ("ResponseOut", "status", set(Status)),
    ("EvidenceOut", "kind", set(evidence.KINDS)),
    ("EvidenceOut", "marking", set(evidence.MARKINGS)),
    ("EngagementIn", "workflow_profile", set(engagements.WORKFLOW_PROFILES)),
    ("EngagementIn", "jurisdiction", set(engagements.JURISDICTIONS)),
    ("EngagementOut", "workflow_profile", set(engagements.WORKFLOW_PROFILES)),
    ("EngagementOut", "jurisdiction", set(engagements.JURISDICTIONS)),
    ("PlanOut", "state", set(State)),
    ("PlanOut", "moves", set(Move)),
    ("StateOut", "state", set(State)),
    ("SubmissionOut", "plan_state", set(State)),
    ("SubmissionOut", "state", {"awaiting_decision", "decided"}),
    ("DecisionIn", "decision", {"approve", "reject"}),
    ("DecisionOut", "decision", {"approve", "reject"}),
    ("DecisionOut", "kind", {"isas", "rejection_notice"}),
    ("DecisionOut", "consequence", {"dispute", "material_default"}),
    ("EntryIn", "status", set(plan.ENTRY_STATUSES)),
    ("EntryOut", "status", set(plan.ENTRY_STATUSES)),
    ("EntryOut", "source", set(plan.ENTRY_SOURCES)),
    ("PersonIn", "kind", set(plan.ROLE_KINDS)),
    ("PersonOut", "kind", set(plan.ROLE_KINDS)),
    ("NoticeIn", "event", set(changes.EVENTS)),
    ("NoticeOut", "event", set(changes.EVENTS)),
    ("MeOut", "role", set(Role)),
    ("OrganisationOut", "kind", set(OrgKind)),
    ("DeadlineOut", "state", set(deadline_rules.STATES)),
    ("DeadlineOut", "party", set(deadline_rules.PARTIES)),
    ("ReviewOut", "state", set(deadline_rules.STATES)),
    ("ControlOut", "criticality", set(Criticality)),
    ("ControlOut", "recurrence", set(Recurrence)),
    ("MappingOut", "relation", set(Relation)),
    ("CatalogueSummaryOut", "kind", {"contract", "framework"}),
]


@pytest.mark.parametrize(
    ("model", "name", "values"), CLOSED_SETS, ids=[f"{m}.{n}" for m, n, _ in CLOSED_SETS]
)
def test_closed_set_fields_are_enums_with_the_domain_values(
    openapi: Schema, model: str, name: str, values: set[Any]
) -> None:
    assert enum_values(openapi, field(openapi, model, name)) == {str(v) for v in values}


def test_certificate_filters_are_enums_and_risk_levels_are_bounded(openapi: Schema) -> None:
    parameters = {p["name"]: p["schema"] for p in openapi["paths"]["/api/certificates"]["get"]["parameters"]}
    assert enum_values(openapi, parameters["scheme"]) == {*Scheme, ""}
    assert enum_values(openapi, parameters["state"]) == {*STATES, ""}
    for model in ("RiskIn", "RiskOut"):
        for name in ("likelihood", "impact", "residual_likelihood", "residual_impact"):
            level = field(openapi, model, name)
            assert (level["minimum"], level["maximum"]) == (1, 5), (model, name)


def assert_declared_error(openapi: Schema, answer: Any, method: str, path: str) -> None:
    """The answer has the documented status and exactly the declared error body."""
    operation = openapi["paths"][path][method]
    assert str(answer.status_code) in operation["responses"], (answer.status_code, path)
    body = answer.json()
    ErrorBody.model_validate(body)  # extra keys are forbidden, so this is an exact match
    declared = resolve(openapi, field(openapi, "ErrorBody", "error"))
    assert set(body["error"]) == set(declared["properties"]) == set(declared["required"])
    assert body["error"]["code"] in declared["properties"]["code"]["enum"]


def test_real_error_answers_match_the_declared_error_body(
    app: FastAPI, openapi: Schema, anonymous: TestClient, client: TestClient
) -> None:
    unauthenticated = anonymous.get("/api/me")
    assert unauthenticated.status_code == 401
    assert_declared_error(openapi, unauthenticated, "get", "/api/me")

    missing = client.get("/api/engagements/nope")
    assert missing.status_code == 404
    assert_declared_error(openapi, missing, "get", "/api/engagements/{engagement_id}")

    too_short = client.get("/api/controls", params={"q": "x"})
    assert too_short.status_code == 422 and isinstance(too_short.json()["error"]["details"], list)
    assert_declared_error(openapi, too_short, "get", "/api/controls")

    bad_scheme = client.get("/api/certificates", params={"scheme": "iso9001"})
    assert bad_scheme.status_code == 422
    assert_declared_error(openapi, bad_scheme, "get", "/api/certificates")

    no_csrf = client.post(
        "/api/certificates",
        json={"scheme": "iso27001", "issued_on": "2024-01-02"},
        headers={"X-CSRF-Token": "forged"},
    )
    assert no_csrf.status_code == 403
    assert_declared_error(openapi, no_csrf, "post", "/api/certificates")

    lead = make_person(app.state.engine, app.state.keys, "supplier_lead")
    _, token = new_token(app, lead)
    rule_broken = anonymous.post(
        "/api/certificates",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "scheme": "cyber_essentials",
            "body": "IASME",
            "issued_on": "2024-01-02",
            "expires_on": "2030-01-01",
        },
    )
    assert rule_broken.status_code == 422 and isinstance(rule_broken.json()["error"]["details"], dict)
    assert_declared_error(openapi, rule_broken, "post", "/api/certificates")
