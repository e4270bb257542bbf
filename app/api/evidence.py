"""Evidence API: upload (streamed), the supplier's library (filtered, paged), one item with its
versions, a new version, links to and from a control's response, and audited downloads.

The same services and audit events as the evidence pages (app.services.evidence); the
engagement comes from a load-or-refuse dependency (app.http.loaders). A handler with a second path
parameter still names `engagement_id` first, so the schema lists them in the order of the path."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.bodies import EvidenceForm, EvidenceKind, EvidenceOut, Out
from app.api.schema import UPLOAD, ApiRoute, ErrorBody
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import EngagementToUpload
from app.http.uploads import download_evidence, upload_evidence
from app.models import Evidence
from app.services import evidence as evidence_service
from app.services import scanning

router = APIRouter(
    prefix="/api",
    tags=["evidence"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)


class EvidenceUploadForm(EvidenceForm):
    """The fields of a first upload: a new version's, and `allow_duplicate`."""

    title: str = Field(
        default="", description="Defaults to the file name without its extension, `_` as spaces"
    )
    allow_duplicate: bool = Field(
        default=False, description="Keep a second item even when the library holds these exact bytes"
    )


def multipart_body(form: type[BaseModel]) -> dict[str, Any]:
    """The documented (streamed) multipart body of an upload operation."""
    content = {"multipart/form-data": {"schema": form.model_json_schema()}}
    return {"requestBody": {"required": True, "content": content}}


UPLOAD_BODY = multipart_body(EvidenceForm)
DUPLICATE: dict[int | str, dict[str, Any]] = {
    409: {
        "model": ErrorBody,
        "description": "The library already holds these exact bytes (same SHA-256): `details.evidence_id` "
        "and `details.title` name that item; link it, or send `allow_duplicate=true` to keep a copy.",
    }
}


SCAN_REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "model": ErrorBody,
        "description": "Quarantined: the malware scan found something, or could not check the file",
    },
    409: {"model": ErrorBody, "description": "The file is still being checked for malware: try again"},
}


class UsageOut(Out):
    engagement_reference: str
    control_id: str


class EvidenceItemOut(EvidenceOut):
    uploaded_at: datetime
    used_in: list[UsageOut] = Field(description="Where this version is linked: engagement and control")


class EvidencePageOut(Out):
    items: list[EvidenceItemOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last")


class VersionOut(EvidenceOut):
    uploaded_at: datetime
    superseded_at: datetime | None


class EvidenceDetailOut(VersionOut):
    is_owner: bool = Field(description="The caller's organisation owns it (may upload a new version)")
    scan_state: str = Field(
        description="Malware check: `pending`, `clean`, `infected` (quarantined), `failed` (could not "
        "be checked) or `not_scanned` (scanning is off)"
    )
    versions: list[VersionOut] = Field(description="Every version, newest first")


class LinkIn(BaseModel):
    evidence_id: str = Field(max_length=32, description="Evidence from the supplier's own library")


class ControlEvidenceOut(Out):
    control_id: str
    evidence: list[EvidenceOut] = Field(description="Evidence now linked to the control")


def evidence_json(row: Evidence) -> dict[str, Any]:
    return {
        "id": row.id,
        "sha256": row.sha256,
        "size": row.size,
        "media_type": row.media_type,
        "title": row.title,
        "kind": str(row.kind),
        "marking": str(row.marking),
        "file_name": row.file_name,
        "version": row.version,
        "effective_on": row.effective_on.isoformat() if row.effective_on else None,
        "expires_on": row.expires_on.isoformat() if row.expires_on else None,
    }


def version_json(row: Evidence) -> dict[str, Any]:
    return {
        **evidence_json(row),
        "uploaded_at": row.uploaded_at.isoformat(),
        "superseded_at": row.superseded_at.isoformat() if row.superseded_at else None,
    }


@router.post(
    "/engagements/{engagement_id}/evidence",
    name="api:upload-evidence",
    status_code=201,
    response_model=EvidenceOut,
    responses={**UPLOAD, **DUPLICATE},
    openapi_extra=multipart_body(EvidenceUploadForm),
)
async def post_evidence(
    request: Request,
    engagement: EngagementToUpload,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> JSONResponse:
    """Multipart upload: `file`, `title`, `kind`, `marking`, `effective_on`, `expires_on`, `control_ids`
    (repeated), `allow_duplicate`. Streamed to the store while hashed; 413 over the size limit, 415
    for refused types, 409 with the existing item's id when the library already holds the bytes."""
    row = await upload_evidence(request, db, library, caller, engagement)
    return JSONResponse(evidence_json(row), status_code=201)


@router.get("/evidence", name="api:evidence-library", response_model=EvidencePageOut)
def evidence_library(
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    q: str = Query("", max_length=200, description="Words in the title or file name"),
    kind: EvidenceKind | None = None,
    expiry: str = Query(
        "", pattern="^(|expired|expiring)$", description="`expired`, or `expiring` in 30 days"
    ),
    limit: int = Query(100, ge=1, le=500),
    cursor: str | None = Query(None, max_length=64),
) -> dict[str, Any]:
    """The supplier's evidence library (current versions, newest first); suppliers only."""
    page = evidence_service.library_page(
        db,
        principal.actor,
        q=q,
        kind=kind or "",
        expiry=expiry,
        today=clock.today(),
        limit=limit,
        cursor=cursor,
    )
    items = [
        {
            **evidence_json(row),
            "uploaded_at": row.uploaded_at.isoformat(),
            "used_in": [{"engagement_reference": ref, "control_id": cid} for ref, cid in usage],
        }
        for row, usage in page.items
    ]
    return {"items": items, "next_cursor": page.next_cursor}


@router.get("/evidence/{evidence_id}", name="api:evidence", response_model=EvidenceDetailOut)
def show_evidence(
    request: Request, evidence_id: str, db: SessionDep, principal: auth.CurrentPrincipal
) -> dict[str, Any]:
    """One piece of evidence with every version; someone else's answers 404 (audited)."""
    item = evidence_service.item(db, principal.actor, evidence_id)
    return {
        **version_json(item.evidence),
        "is_owner": item.is_owner,
        "scan_state": scanning.view(db, request.app.state.settings, item.evidence).state,
        "versions": [version_json(v) for v in item.versions],
    }


@router.post(
    "/evidence/{evidence_id}/versions",
    name="api:evidence-new-version",
    status_code=201,
    response_model=EvidenceOut,
    responses=UPLOAD,
    openapi_extra=UPLOAD_BODY,
)
async def new_version(
    request: Request,
    evidence_id: str,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> JSONResponse:
    """Upload a new version of the newest version (same multipart fields as an upload); it takes
    over every link of the old one."""
    old, engagement = evidence_service.version_target(db, caller.actor, evidence_id)
    row = await upload_evidence(request, db, library, caller, engagement, supersedes=old)
    return JSONResponse(evidence_json(row), status_code=201)


@router.get(
    "/evidence/{evidence_id}/content",
    name="api:evidence-content",
    response_class=Response,
    responses={
        200: {"description": "The file's bytes, with its media type", "content": {"*/*": {}}},
        **SCAN_REFUSALS,
    },
)
def evidence_content(
    request: Request, evidence_id: str, db: SessionDep, caller: auth.CurrentCaller, inline: bool = False
) -> Response:
    """Download evidence (authorised and audited before any byte is sent)."""
    return download_evidence(request, db, caller, evidence_id, inline=inline)


def _linked(db: SessionDep, engagement_id: str, control_id: str) -> dict[str, Any]:
    rows = evidence_service.linked_to(db, engagement_id, control_id)
    return {"control_id": control_id, "evidence": [evidence_json(e) for e in rows]}


@router.post(
    "/engagements/{engagement_id}/responses/{control_id}/evidence",
    name="api:link-evidence",
    response_model=ControlEvidenceOut,
)
def link_evidence(
    engagement_id: str,
    control_id: str,
    engagement: EngagementToUpload,
    body: LinkIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Link evidence from the supplier's library to a control (the newest version only; 422 for
    evidence not in the library)."""
    evidence_service.link(db, library, engagement, caller, control_id, body.evidence_id)
    db.commit()
    return _linked(db, engagement.id, control_id)


@router.delete(
    "/engagements/{engagement_id}/responses/{control_id}/evidence/{evidence_id}",
    name="api:unlink-evidence",
    response_model=ControlEvidenceOut,
)
def unlink_evidence(
    engagement_id: str,
    control_id: str,
    evidence_id: str,
    engagement: EngagementToUpload,
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Remove a control's link to evidence (404 when it is not linked there)."""
    evidence_service.unlink(db, engagement, caller, control_id, evidence_id)
    db.commit()
    return _linked(db, engagement.id, control_id)
