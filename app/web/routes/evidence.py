"""Evidence pages: upload (streamed), the supplier's library, one item with its versions, new
versions, and audited downloads. Each handler parses, calls app.services.evidence, and answers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from app import clock
from app.domain.errors import AttestError, Conflict, InvalidInput, PayloadTooLarge, Refusal, UnsupportedType
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.errors import CODE_BY_STATUS, STATUS_BY_ERROR
from app.http.loaders import EngagementToUpload
from app.http.uploads import download_evidence, upload_evidence
from app.models import Engagement, Evidence
from app.services import evidence as evidence_service
from app.services import scanning
from app.web.htmx import trigger
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
# What the drop zone is told as JSON (with the service's message) instead of an error page.
# Refusals (authorisation) still go to the one audited handler.
SHOWN_IN_THE_DROP_ZONE = (PayloadTooLarge, UnsupportedType, InvalidInput, Conflict)


def path_for(request: Request, name: str, **params: str) -> str:
    """A root-relative address, as templates link (behind any proxy host name)."""
    return str(request.scope.get("root_path", "")) + str(request.app.url_path_for(name, **params))


def drop_zone_error(status: int, code: str, message: str, details: Any = None) -> JSONResponse:
    """The body app.http.errors gives /api, so the drop zone reads one shape for every refusal."""
    return JSONResponse({"error": {"code": code, "message": message, "details": details}}, status_code=status)


def duplicate_details(request: Request, existing: Evidence) -> dict[str, str]:
    return {
        "evidence_id": existing.id,
        "title": existing.title,
        "url": path_for(request, "evidence:show", evidence_id=existing.id),
    }


def duplicate_page(request: Request, engagement: Engagement, existing: Evidence) -> Response:
    """409 without JavaScript: offer the library item (and, on a control, linking it there)."""
    control_id = request.query_params.get("control_id", "")
    context = {"existing": existing, "engagement": engagement, "control_id": control_id}
    return render(request, "evidence/duplicate.html", context, status_code=409)


@router.post("/engagements/{engagement_id}/evidence", name="evidence:upload")
async def upload(
    request: Request,
    engagement: EngagementToUpload,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Upload one file. The drop zone (Accept: application/json) gets 201 or the refusal as JSON
    with a message for people; a plain form gets a redirect, the duplicate page or an error page."""
    wants_json = request.headers.get("accept", "").startswith("application/json")
    try:
        row = await upload_evidence(request, db, library, caller, engagement)
    except evidence_service.DuplicateUpload as duplicate:
        if not wants_json:
            return duplicate_page(request, engagement, duplicate.existing)
        details = duplicate_details(request, duplicate.existing)
        return drop_zone_error(409, duplicate.code, duplicate.message, details)
    except AttestError as error:
        if not wants_json or isinstance(error, Refusal) or not isinstance(error, SHOWN_IN_THE_DROP_ZONE):
            raise
        status = next(s for cls, s in STATUS_BY_ERROR.items() if isinstance(error, cls))
        return drop_zone_error(status, error.code, error.message, error.details)
    except HTTPException as error:  # malformed (400) or cut off (408): the message says which
        if not wants_json:
            raise
        code = CODE_BY_STATUS.get(error.status_code, "error")
        response = drop_zone_error(error.status_code, code, str(error.detail))
        response.headers.update(error.headers or {})
        return response
    if wants_json:
        return trigger(
            JSONResponse({"id": row.id, "title": row.title, "sha256": row.sha256}, status_code=201),
            "readiness-changed",
        )
    control_id = request.query_params.get("control_id")
    if control_id:
        target = request.url_for("assessment:control", engagement_id=engagement.id, control_id=control_id)
    else:
        target = request.url_for("evidence:show", evidence_id=row.id)
    return RedirectResponse(str(target), status_code=303)


@router.get("/evidence", name="evidence:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    q: str = Query("", max_length=200),
    kind: str = Query("", max_length=20),
    expiry: str = Query("", max_length=10),
) -> Response:
    page = evidence_service.library_page(
        db, principal.actor, q=q, kind=kind, expiry=expiry, today=clock.today()
    )
    context = {"items": page.items, "q": q, "kind": kind, "expiry": expiry, "kinds": evidence_service.KINDS}
    return render(request, "evidence/index.html", context)


@router.get("/evidence/{evidence_id}", name="evidence:show")
def show(request: Request, evidence_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    item = evidence_service.item(db, principal.actor, evidence_id)
    context = {"evidence": item.evidence, "versions": item.versions, "is_owner": item.is_owner}
    context["scan"] = scanning.view(db, request.app.state.settings, item.evidence)  # malware check
    return render(request, "evidence/show.html", context)


@router.get("/evidence/{evidence_id}/content", name="evidence:download")
def download(
    request: Request, evidence_id: str, db: SessionDep, caller: auth.CurrentCaller, inline: bool = False
) -> Response:
    return download_evidence(request, db, caller, evidence_id, inline=inline)


@router.post("/evidence/{evidence_id}/versions", name="evidence:new-version")
async def new_version(
    request: Request, evidence_id: str, db: SessionDep, library: LibraryDep, caller: auth.CurrentCaller
) -> Response:
    old, engagement = evidence_service.version_target(db, caller.actor, evidence_id)
    row = await upload_evidence(request, db, library, caller, engagement, supersedes=old)
    return RedirectResponse(str(request.url_for("evidence:show", evidence_id=row.id)), status_code=303)
