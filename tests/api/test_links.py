"""The OpenAPI links of app/api/links.py are in the schema, and each names a real operation and
parameters it really has; a body FastAPI cannot read answers the 400 the schema documents."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.api.links import LINKS
from tests.api.test_tokens import new_token
from tests.factories import make_person

Schema = dict[str, Any]


def test_every_declared_link_is_in_the_schema_and_names_what_its_target_takes(anonymous: TestClient) -> None:
    schema: Schema = anonymous.get("/api/openapi.json").json()
    by_id = {
        operation["operationId"]: operation
        for item in schema["paths"].values()
        for operation in item.values()
    }
    found = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            for status, response in operation["responses"].items():
                for name, link in response.get("links", {}).items():
                    found += 1
                    target = by_id[link["operationId"]]  # a real operation
                    names = {p["name"] for p in target.get("parameters", [])}
                    assert set(link.get("parameters", {})) <= names, (method, path, status, name)
                    for expression in link.get("parameters", {}).values():
                        assert expression.startswith(("$response.body#/", "$request.path.")), expression
                        if expression.startswith("$request.path."):
                            source_names = {p["name"] for p in operation.get("parameters", [])}
                            assert expression.removeprefix("$request.path.") in source_names
                    if "requestBody" in link:
                        body = target["requestBody"]["content"]["application/json"]["schema"]
                        model = schema["components"]["schemas"][body["$ref"].rsplit("/", 1)[1]]
                        assert set(link["requestBody"]) <= set(model["properties"]), (method, path, name)
    assert found == len(LINKS)
    # create -> read -> update -> delete, e.g. for risks
    risk = schema["paths"]["/api/engagements/{engagement_id}/risks"]["post"]["responses"]["201"]["links"]
    assert set(risk) == {"UpdateRisk", "DeleteRisk"}
    assert risk["UpdateRisk"]["requestBody"] == {"expected_version": "$response.body#/version"}


def test_a_body_that_cannot_be_read_answers_the_documented_400(app: FastAPI, anonymous: TestClient) -> None:
    """Found by the stateful phase: a JSON body that is not UTF-8 is refused with 400 before
    validation, which the schema did not say of operations with a JSON body."""
    schema: Schema = anonymous.get("/api/openapi.json").json()
    for item in schema["paths"].values():
        for method, operation in item.items():
            if "requestBody" in operation:
                assert "400" in operation["responses"], (method, operation["operationId"])
    _, token = new_token(app, make_person(app.state.engine, app.state.keys, "supplier_lead"))
    answer = anonymous.post(
        "/api/subcontractors",
        content=b"\xe8R\xbc",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "bad_request"
