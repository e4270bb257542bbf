"""OpenAPI links: what a client can do next with what an /api answer gives it, declared in one place.

A link (OpenAPI 3.1, "Link Object") names the operation that can follow a response and where its
parameters come from: `$response.body#/id` (the object just created), `$request.path.engagement_id`
(the same engagement), or `$response.body#/0/id` (the first engagement listed). They are the
"create -> read -> update -> delete" paths of the API: list or create an engagement, then its
risks, register entries, evidence (upload, read, new version), variations and submissions;
certificates and sub-contractors; closure days. Clients and generators (schemathesis' stateful
phase, tests/hardening/test_stateful_api.py) follow them; `install_links` adds them to the schema
FastAPI builds, and tests/api/test_links.py checks that every link names a real operation and
real parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI


@dataclass(frozen=True)
class Link:
    """From the `status` answer of `source` (method, path) to `target` (method, path)."""

    name: str
    source: tuple[str, str]
    status: str
    target: tuple[str, str]
    parameters: dict[str, str] = field(default_factory=dict)
    request_body: dict[str, str] | None = None
    description: str = ""


ENGAGEMENTS = ("/api/engagements", "/api/engagements/{engagement_id}")
RISKS = ("/api/engagements/{engagement_id}/risks", "/api/engagements/{engagement_id}/risks/{risk_id}")
REGISTER = (
    "/api/engagements/{engagement_id}/register",
    "/api/engagements/{engagement_id}/register/{entry_id}",
)
UPLOAD = "/api/engagements/{engagement_id}/evidence"
EVIDENCE = "/api/evidence/{evidence_id}"
CERTIFICATES = ("/api/certificates", "/api/certificates/{certificate_id}")
SUBCONTRACTORS = ("/api/subcontractors", "/api/subcontractors/{subcontractor_id}")
VARIATIONS = (
    "/api/engagements/{engagement_id}/variations",
    "/api/engagements/{engagement_id}/variations/{variation_id}",
)
SUBMISSIONS = "/api/engagements/{engagement_id}/submissions"
CLOSURE_DAYS = ("/api/closure-days", "/api/closure-days/{closure_id}")

SAME_ENGAGEMENT = {"engagement_id": "$request.path.engagement_id"}

# What an engagement's id opens: read it and its plan, and create in it.
_IN_ENGAGEMENT: list[tuple[str, tuple[str, str]]] = [
    ("ReadEngagement", ("get", ENGAGEMENTS[1])),
    ("ReadPlan", ("get", "/api/engagements/{engagement_id}/plan")),
    ("ReadReadiness", ("get", "/api/engagements/{engagement_id}/readiness")),
    ("CreateRisk", ("post", RISKS[0])),
    ("CreateRegisterEntry", ("post", REGISTER[0])),
    ("UploadEvidence", ("post", UPLOAD)),
    ("RecordVariation", ("post", VARIATIONS[0])),
    ("ListSubmissions", ("get", SUBMISSIONS)),
]


def _engagement_links(source: tuple[str, str], status: str, pointer: str) -> list[Link]:
    return [
        Link(name, source, status, target, {"engagement_id": f"$response.body#{pointer}"})
        for name, target in _IN_ENGAGEMENT
    ]


def _object_links(
    source: tuple[str, str],
    status: str,
    targets: list[tuple[str, tuple[str, str]]],
    id_name: str,
    *,
    in_engagement: bool = True,
    versioned: bool = False,
) -> list[Link]:
    """Links from an answer carrying one object (`id`, and `version` when `versioned`)."""
    parameters = {**(SAME_ENGAGEMENT if in_engagement else {}), id_name: "$response.body#/id"}
    found = []
    for name, target in targets:
        body = None
        extra: dict[str, str] = {}
        if versioned and target[0] == "put":
            body = {"expected_version": "$response.body#/version"}
        elif versioned and target[0] == "delete":
            extra = {"expected_version": "$response.body#/version"}
        found.append(Link(name, source, status, target, {**parameters, **extra}, body))
    return found


def _risk_targets() -> list[tuple[str, tuple[str, str]]]:
    return [("UpdateRisk", ("put", RISKS[1])), ("DeleteRisk", ("delete", RISKS[1]))]


LINKS: list[Link] = [
    # engagements: listed or created, then everything in one
    *_engagement_links(("get", ENGAGEMENTS[0]), "200", "/0/id"),
    *_engagement_links(("post", ENGAGEMENTS[0]), "201", "/id"),
    # risks: create -> update (with the version just read) -> update again or delete
    *_object_links(("post", RISKS[0]), "201", _risk_targets(), "risk_id", versioned=True),
    *_object_links(("put", RISKS[1]), "200", _risk_targets(), "risk_id", versioned=True),
    # register entries: create -> update -> update again
    *_object_links(
        ("post", REGISTER[0]),
        "201",
        [("UpdateRegisterEntry", ("put", REGISTER[1]))],
        "entry_id",
        versioned=True,
    ),
    *_object_links(
        ("put", REGISTER[1]),
        "200",
        [("UpdateRegisterEntry", ("put", REGISTER[1]))],
        "entry_id",
        versioned=True,
    ),
    # evidence: upload -> read, download, new version -> read the new version
    *[
        link
        for source in (("post", UPLOAD), ("post", f"{EVIDENCE}/versions"))
        for link in _object_links(
            source,
            "201",
            [
                ("ReadEvidence", ("get", EVIDENCE)),
                ("DownloadEvidence", ("get", f"{EVIDENCE}/content")),
                ("UploadNewVersion", ("post", f"{EVIDENCE}/versions")),
            ],
            "evidence_id",
            in_engagement=False,
        )
    ],
    # certificates: create -> read, update, withdraw
    *_object_links(
        ("post", CERTIFICATES[0]),
        "201",
        [
            ("ReadCertificate", ("get", CERTIFICATES[1])),
            ("UpdateCertificate", ("put", CERTIFICATES[1])),
            ("WithdrawCertificate", ("post", f"{CERTIFICATES[1]}/withdraw")),
        ],
        "certificate_id",
        in_engagement=False,
    ),
    *_object_links(
        ("put", CERTIFICATES[1]),
        "200",
        [("ReadCertificate", ("get", CERTIFICATES[1])), ("UpdateCertificate", ("put", CERTIFICATES[1]))],
        "certificate_id",
        in_engagement=False,
    ),
    # sub-contractors: add -> list, certify (a certificate held by it), remove
    Link("ListSubcontractors", ("post", SUBCONTRACTORS[0]), "201", ("get", SUBCONTRACTORS[0])),
    Link(
        "CertifySubcontractor",
        ("post", SUBCONTRACTORS[0]),
        "201",
        ("post", CERTIFICATES[0]),
        request_body={"holder": "$response.body#/id"},
    ),
    *_object_links(
        ("post", SUBCONTRACTORS[0]),
        "201",
        [("RemoveSubcontractor", ("delete", SUBCONTRACTORS[1]))],
        "subcontractor_id",
        in_engagement=False,
    ),
    # variations: record -> list, remove
    Link("ListVariations", ("post", VARIATIONS[0]), "201", ("get", VARIATIONS[0]), dict(SAME_ENGAGEMENT)),
    *_object_links(
        ("post", VARIATIONS[0]), "201", [("RemoveVariation", ("delete", VARIATIONS[1]))], "variation_id"
    ),
    # submissions: submit -> read it, its diff and its review
    *_object_links(
        ("post", SUBMISSIONS),
        "201",
        [
            ("ReadSubmission", ("get", "/api/submissions/{submission_id}")),
            ("ReadSubmissionDiff", ("get", "/api/submissions/{submission_id}/diff")),
            ("ReadSubmissionReview", ("get", "/api/submissions/{submission_id}/review")),
        ],
        "submission_id",
        in_engagement=False,
    ),
    # closure days: add -> list, remove
    Link("ListClosureDays", ("post", CLOSURE_DAYS[0]), "201", ("get", CLOSURE_DAYS[0])),
    *_object_links(
        ("post", CLOSURE_DAYS[0]),
        "201",
        [("RemoveClosureDay", ("delete", CLOSURE_DAYS[1]))],
        "closure_id",
        in_engagement=False,
    ),
]


def add_links(schema: dict[str, Any], links: list[Link] = LINKS) -> dict[str, Any]:
    """Write `links` into an OpenAPI document (in place; returned for convenience). A link whose
    source or target operation is not in the document is an error: the table and the routes
    must agree."""
    paths = schema["paths"]

    def operation(where: tuple[str, str]) -> dict[str, Any]:
        method, path = where
        try:
            found: dict[str, Any] = paths[path][method]
        except KeyError:
            raise LookupError(
                f"OpenAPI link to or from a missing operation: {method.upper()} {path}"
            ) from None
        return found

    for link in links:
        target = operation(link.target)
        response = operation(link.source)["responses"][link.status]
        entry: dict[str, Any] = {"operationId": target["operationId"]}
        if link.parameters:
            entry["parameters"] = dict(link.parameters)
        if link.request_body is not None:
            entry["requestBody"] = dict(link.request_body)
        entry["description"] = link.description or f"{link.target[0].upper()} {link.target[1]}"
        response.setdefault("links", {})[link.name] = entry
    return schema


def install_links(app: FastAPI) -> None:
    """Make `app.openapi()` (and so /api/openapi.json) carry LINKS."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = add_links(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
