"""Assessment API: create engagements, scoping, responses, evidence upload/download, readiness."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.bodies import EngagementOut, EvidenceForm, EvidenceOut, ResponseOut
from app.api.dates import WindowDate
from app.api.engagements import engagement_json
from app.api.schema import UPLOAD, ApiRoute, responses_for
from app.domain.access import Action
from app.domain.errors import Forbidden
from app.services import engagements, readiness, responses
from app.web import auth
from app.web.deps import LibraryDep, SessionDep
from app.web.loaders import engagement_for
from app.web.routes.evidence import download, receive_upload

router = APIRouter(
    prefix="/api",
    tags=["assessments"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {"multipart/form-data": {"schema": EvidenceForm.model_json_schema()}},
    }
}


class EngagementIn(BaseModel):
    reference: str = Field(max_length=64)
    title: str = Field(max_length=300)
    buyer_org_id: str = Field(max_length=32)
    supplier_org_id: str = Field(max_length=32)
    effective_date: WindowDate
    workflow_profile: Literal["schedule-2-4", "call-off-schedule-7"]
    catalogue_ids: list[str] = Field(min_length=1, max_length=20)
    jurisdiction: Literal["england-and-wales", "scotland", "northern-ireland"] = "england-and-wales"


class ScopingIn(BaseModel):
    answers: dict[str, bool]


class ResponseIn(BaseModel):
    status: Literal["met", "partially_met", "not_met", "not_applicable"]
    statement: str = Field(default="", max_length=10_000)
    justification: str = Field(default="", max_length=10_000)
    owner_id: str | None = Field(default=None, max_length=32)
    planned_change: str = Field(default="", max_length=10_000)
    target_date: WindowDate | None = None
    expected_version: int | None = Field(default=None, ge=0)


@router.post(
    "/engagements",
    name="api:create-engagement",
    status_code=201,
    response_model=EngagementOut,
    responses=responses_for(409),
)
def create_engagement(
    request: Request,
    body: EngagementIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> JSONResponse:
    """Create an engagement (administrator, or buyer advisor for their own organisation)."""
    if not auth.can_act(principal, Action.CREATE_ENGAGEMENT):
        auth.record_denied(
            request, db, principal, "engagement_created", object_type="engagement", object_id=""
        )
        raise Forbidden("Only administrators and buyer advisors create engagements.")
    data = body.model_dump()
    data["effective_date"] = body.effective_date.isoformat()
    engagement = engagements.create(db, library, principal.actor, **data)
    auth.record(
        request,
        db,
        principal,
        "engagement_created",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    db.commit()
    return JSONResponse(engagement_json(engagement, sorted(body.catalogue_ids)), status_code=201)


@router.put("/engagements/{engagement_id}/scoping", name="api:scoping")
def put_scoping(
    request: Request,
    engagement_id: str,
    body: ScopingIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    """Answer scoping questions (supplier); unanswered questions count as yes."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.ANSWER_CONTROL)
    engagements.set_scoping(db, library, engagement, principal.actor, body.answers)
    auth.record(
        request,
        db,
        principal,
        "scoping_answered",
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details=body.answers,
    )
    db.commit()
    return {"answers": engagements.scoping_answers(db, engagement.id)}


@router.put(
    "/engagements/{engagement_id}/responses/{control_id}", name="api:response", response_model=ResponseOut
)
def put_response(
    request: Request,
    engagement_id: str,
    control_id: str,
    body: ResponseIn,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    """Set the supplier's response to one control; `expected_version` guards against lost updates."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.ANSWER_CONTROL)
    row = responses.set_response(
        db,
        library,
        engagement,
        principal.actor,
        control_id,
        responses.ResponseInput(
            status=body.status,
            statement=body.statement,
            justification=body.justification,
            owner_id=body.owner_id,
            planned_change=body.planned_change,
            target_date=body.target_date.isoformat() if body.target_date else None,
            expected_version=body.expected_version,
        ),
    )
    auth.record(
        request,
        db,
        principal,
        "response_saved",
        object_type="control",
        object_id=control_id,
        engagement_id=engagement.id,
        details={"status": row.status, "version": row.version},
    )
    db.commit()
    return {"control_id": control_id, "version": row.version, **responses.snapshot(row)}


@router.post(
    "/engagements/{engagement_id}/evidence",
    name="api:upload-evidence",
    status_code=201,
    response_model=EvidenceOut,
    responses=UPLOAD,
    openapi_extra=UPLOAD_BODY,
)
async def upload_evidence(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> JSONResponse:
    """Multipart upload: `file`, `title`, `kind`, `marking`, `effective_on`, `expires_on`, `control_ids`
    (repeated). Streamed to the store while hashed; 413 over the size limit, 415 for refused types."""
    engagement = engagement_for(request, db, principal, engagement_id, Action.UPLOAD_EVIDENCE)
    row = await receive_upload(request, db, library, principal, engagement)
    return JSONResponse(
        {
            "id": row.id,
            "sha256": row.sha256,
            "size": row.size,
            "media_type": row.media_type,
            "title": row.title,
            "kind": row.kind,
            "marking": row.marking,
            "file_name": row.file_name,
            "version": row.version,
            "effective_on": row.effective_on.isoformat() if row.effective_on else None,
            "expires_on": row.expires_on.isoformat() if row.expires_on else None,
        },
        status_code=201,
    )


@router.get(
    "/evidence/{evidence_id}/content",
    name="api:evidence-content",
    response_class=Response,
    responses={200: {"description": "The file's bytes, with its media type", "content": {"*/*": {}}}},
)
def evidence_content(
    request: Request, evidence_id: str, db: SessionDep, principal: auth.CurrentPrincipal, inline: bool = False
) -> Response:
    """Download evidence (authorised and audited before any byte is sent)."""
    return download(request, evidence_id, db, principal, inline)


@router.get("/engagements/{engagement_id}/readiness", name="api:readiness")
def get_readiness(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> dict[str, Any]:
    """Readiness with counts, blockers, expiring evidence and the breakdown to every control."""
    engagement = engagement_for(request, db, principal, engagement_id)
    result = readiness.engagement_readiness(db, library, engagement, today=clock.today())
    may = readiness.may_process(db, engagement, result, today=clock.today())
    return {**result.to_dict(), "may_process_buyer_data": may.allowed, "reasons": list(may.reasons)}
