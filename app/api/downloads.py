"""Prepared downloads through the API: big exports asked for with `Prefer: respond-async` (answered
202 with a Location here), their state and progress, the file once ready, and a retry of a failed
one. The same service functions, refusals and audit events as the Downloads page
(app.web.routes.downloads): another person's download answers 404, audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal, cast

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app.api.schema import ApiRoute, ErrorBody
from app.domain.audit import AuditAction
from app.http import auth
from app.http.deps import SessionDep
from app.http.exports import download_content, retry_download
from app.models import Download
from app.services import downloads as service
from app.services.downloads import own_download

router = APIRouter(
    prefix="/api",
    tags=["downloads"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
NOT_YOURS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such download, or someone else's"}
}


State = Literal["queued", "running", "ready", "failed", "expired"]
Kind = Literal["engagement", "register", "soa", "engagement_bundle", "submission_bundle", "plan", "import"]


class DownloadOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    title: str
    kind: Kind = Field(
        description="what it is: an engagement export, a register, a Statement of Applicability, a bundle, "
        "the whole Security Management Plan (PDF or Word), or an answers import "
        "(its file is the import's report)"
    )
    params: dict[str, str] = Field(description="the format, and the register or submission it is of")
    engagement_id: str | None
    state: State
    progress: int = Field(description="per cent done (100 once ready)")
    message: str = Field(description="why it failed (empty otherwise)")
    filename: str = Field(description="the file's name once ready")
    media_type: str
    size: int | None = Field(description="bytes, once ready")
    requested_at: datetime
    finished_at: datetime | None
    expires_at: datetime | None = Field(description="when the ready file is removed")
    content_url: str | None = Field(description="where to fetch the file once ready (null before)")


class DownloadListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    downloads: list[DownloadOut] = Field(
        description=f"the caller's latest {service.LIST_LIMIT}, newest first"
    )


def download_out(request: Request, row: Download) -> DownloadOut:
    ready = row.state == service.READY
    return DownloadOut(
        id=row.id,
        title=row.title,
        kind=cast(Kind, row.kind),
        params=service.params_of(row),
        engagement_id=row.engagement_id,
        state=cast(State, row.state),
        progress=row.progress,
        message=row.message,
        filename=row.filename,
        media_type=row.media_type,
        size=row.size,
        requested_at=row.requested_at,
        finished_at=row.finished_at,
        expires_at=row.expires_at,
        content_url=str(request.url_for("api:download-content", download_id=row.id)) if ready else None,
    )


def accepted(request: Request, row: Download) -> JSONResponse:
    """202 Accepted: the file is being made; Location is where to follow its state."""
    body = download_out(request, row).model_dump(mode="json")
    location = str(request.url_for("api:download", download_id=row.id))
    return JSONResponse(
        body, status_code=202, headers={"Location": location, "Preference-Applied": "respond-async"}
    )


ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "model": DownloadOut,
        "description": "With `Prefer: respond-async`: the file is being made in the background; "
        "Location is its download (GET it for the state; `content_url` once ready)",
    }
}


@router.get("/downloads", name="api:downloads", response_model=DownloadListOut)
def index(request: Request, db: SessionDep, principal: auth.CurrentPrincipal) -> DownloadListOut:
    """The caller's own prepared downloads, newest first, with their state and progress."""
    rows = service.listing(db, principal.user.id)
    return DownloadListOut(downloads=[download_out(request, row) for row in rows])


@router.get("/downloads/{download_id}", name="api:download", response_model=DownloadOut, responses=NOT_YOURS)
def show(request: Request, download_id: str, db: SessionDep, caller: auth.CurrentCaller) -> DownloadOut:
    """One of the caller's downloads: queued, running (with progress), ready (with `content_url`),
    failed (with `message`) or expired."""
    return download_out(request, own_download(db, caller, download_id, AuditAction.DOWNLOAD_FETCHED))


@router.get(
    "/downloads/{download_id}/content",
    name="api:download-content",
    response_class=Response,
    responses={
        200: {"description": "The file (its type as `media_type` said)"},
        409: {"model": ErrorBody, "description": "Not ready yet, or it failed"},
        **NOT_YOURS,
    },
)
def content(request: Request, download_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    """The ready file. Audited as `download_fetched`; 404 once it has expired."""
    return download_content(request, db, caller, download_id)


@router.post(
    "/downloads/{download_id}/retry",
    name="api:download-retry",
    status_code=202,
    response_model=DownloadOut,
    responses={409: {"model": ErrorBody, "description": "It has not failed or expired"}, **NOT_YOURS},
)
def retry(request: Request, download_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    """Make a failed (or expired) download again; 202 with its Location, as when it was asked for."""
    return accepted(request, retry_download(request, db, caller, download_id))
