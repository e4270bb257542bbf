"""What the OpenAPI schema says every /api operation can answer, declared in one place.

Every error has the body `app.http.errors.error_response` sends, `{"error": {"code",
"message", "details"}}`, including 422 (Attest replaces FastAPI's validation body). The
statuses follow from the route: every operation can answer 401, 404, 422, 500 and 503; an
unsafe method adds 403 (CSRF, or a role that may not) and 413 (body over the limit); a
`expected_version` (in the body or the query) adds 409. Operations add what only they can answer
(uploads, state conflicts, 304) through `responses_for`.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from app.domain import errors as domain_errors
from app.http.errors import CODE_BY_STATUS

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

WHEN: dict[int, str] = {
    304: "Not modified: the client's `If-None-Match` names the current ETag (no body).",
    400: "Malformed request body (for uploads: not valid, or not terminated, multipart/form-data).",
    401: "Not signed in, or the bearer token is not valid, was revoked or has expired.",
    403: "Refused: the CSRF check failed (cookie sessions), or the caller's role may not do this.",
    404: "Not found, or the caller may not know it exists (the refusal is audited).",
    408: "The upload stalled or arrived too slowly and was cut off; nothing was stored.",
    409: "Conflict with the current state: a stale `expected_version`, a duplicate, or a wrong state.",
    413: "The request body is larger than the configured limit.",
    415: "Unsupported content: not multipart/form-data, or a file type that is not accepted.",
    422: "The request is not valid; `details` names each field (a list) or each problem (an object).",
    500: "Unexpected failure; the message quotes the request id to report.",
    503: "The database is busy or could not be reached; nothing was saved: try again (`Retry-After`).",
    507: "No space is left to store the file; nothing was stored.",
}


def _error_codes() -> list[str]:
    """Every `code` an error can carry: per status, per domain exception, and the fallback."""
    codes = set(CODE_BY_STATUS.values()) | {"error"}
    pending: list[type[domain_errors.AttestError]] = [domain_errors.AttestError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending.extend(cls.__subclasses__())
    return sorted(codes)


def _code_enum(schema: dict[str, Any]) -> None:
    # Computed when the schema is built, so exception classes defined anywhere are included.
    schema["enum"] = _error_codes()


class FieldProblem(BaseModel):
    """One problem with one field (the 422 Attest sends for a body or parameter that fails)."""

    model_config = ConfigDict(extra="forbid")
    field: str = Field(description="Dotted path of the field; empty for the body as a whole")
    message: str


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(description="Machine-readable reason", json_schema_extra=_code_enum)
    message: str = Field(description="For people: what went wrong and what to do")
    details: list[FieldProblem] | dict[str, Any] | None = Field(
        description="Field problems (a list), named problems or context (an object), or null"
    )


class ErrorBody(BaseModel):
    """The body of every /api error response."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


def responses_for(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for these statuses, each with the error body (304 has none)."""
    return {
        status: {"description": WHEN[status]}
        if status == 304
        else {"model": ErrorBody, "description": WHEN[status]}
        for status in statuses
    }


COMMON = (401, 404, 422, 500, 503)
UPLOAD = responses_for(400, 408, 413, 415, 507)


def _is_versioned(endpoint: Callable[..., Any]) -> bool:
    """True when a parameter, or a body parameter's field, is `expected_version` (a guarded write)."""
    for parameter in inspect.signature(endpoint, eval_str=True).parameters.values():
        if parameter.name == "expected_version":
            return True
        annotation = parameter.annotation
        if (
            inspect.isclass(annotation)
            and issubclass(annotation, BaseModel)
            and "expected_version" in annotation.model_fields
        ):
            return True
    return False


class ApiRoute(APIRoute):
    """An /api route whose documented errors follow from its method and body."""

    def __init__(
        self,
        path: str,
        endpoint: Callable[..., Any],
        *,
        methods: set[str] | list[str] | None = None,
        responses: dict[int | str, dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        statuses = list(COMMON)
        if UNSAFE_METHODS & {m.upper() for m in methods or ()}:
            statuses += [403, 413]
        if _is_versioned(endpoint):
            statuses.append(409)
        merged = {**responses_for(*statuses), **(responses or {})}
        declared = dict(sorted(merged.items(), key=lambda item: str(item[0])))
        super().__init__(path, endpoint, methods=methods, responses=declared, **kwargs)
        if self.body_field is not None and 400 not in self.responses:
            # A body FastAPI cannot read at all (a JSON body that is not UTF-8, say) is refused
            # with 400 before validation; the stateful phase of tests/hardening found it undocumented.
            body = {**self.responses, **responses_for(400)}
            self.responses = dict(sorted(body.items(), key=lambda item: str(item[0])))
