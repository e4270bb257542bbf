"""Downloads of an engagement's data from its pages (the API has the same: app/api/exports.py)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.exports import (
    engagement_bundle,
    engagement_export,
    queue_download,
    register_export,
    soa_export,
    submission_bundle,
    wants_background,
)
from app.http.loaders import EngagementToView, SubmissionToView
from app.services.caller import Caller
from app.services.downloads import (
    ENGAGEMENT,
    ENGAGEMENT_BUNDLE,
    REGISTER,
    SOA,
    SUBMISSION_BUNDLE,
    Wanted,
)

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
Register = Literal["portfolio", "certificates", "evidence"]
Format = Literal["xlsx", "csv"]


def queued(request: Request, db: SessionDep, caller: Caller, wanted: Wanted) -> Response:
    """`?background=1`: the file is made by the worker; the person goes to their Downloads list."""
    queue_download(request, db, caller, wanted)
    return RedirectResponse(str(request.url_for("downloads:index")), status_code=303)


@router.get("/exports/{what}.{fmt}", name="exports:register")
def register(
    request: Request, what: Register, fmt: Format, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """The portfolio (buyer advisors), the certificate register, or the evidence library (suppliers)."""
    if wants_background(request):
        return queued(request, db, caller, Wanted(REGISTER, fmt, what=what))
    return register_export(request, db, caller, what, fmt)


@router.get("/engagements/{engagement_id}/export.xlsx", name="exports:engagement-xlsx")
def engagement_xlsx(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    if wants_background(request):
        return queued(request, db, caller, Wanted(ENGAGEMENT, "xlsx", engagement.id))
    return engagement_export(request, db, library, caller, engagement, "xlsx")


@router.get("/engagements/{engagement_id}/export.csv", name="exports:engagement-csv")
def engagement_csv(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    if wants_background(request):
        return queued(request, db, caller, Wanted(ENGAGEMENT, "csv", engagement.id))
    return engagement_export(request, db, library, caller, engagement, "csv")


@router.get("/engagements/{engagement_id}/statement-of-applicability.{fmt}", name="exports:soa")
def statement_of_applicability(
    request: Request,
    engagement: EngagementToView,
    fmt: Literal["xlsx", "csv", "pdf"],
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    if wants_background(request):
        return queued(request, db, caller, Wanted(SOA, fmt, engagement.id))
    return soa_export(request, db, library, caller, engagement, fmt)


@router.get("/engagements/{engagement_id}/evidence.zip", name="exports:engagement-bundle")
def engagement_evidence(
    request: Request, engagement: EngagementToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    if wants_background(request):
        return queued(request, db, caller, Wanted(ENGAGEMENT_BUNDLE, "zip", engagement.id))
    return engagement_bundle(request, db, caller, engagement)


@router.get("/submissions/{submission_id}/evidence.zip", name="exports:submission-bundle")
def submission_evidence(
    request: Request, loaded: SubmissionToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    submission, engagement = loaded
    if wants_background(request):
        wanted = Wanted(SUBMISSION_BUNDLE, "zip", engagement.id, submission_id=submission.id)
        return queued(request, db, caller, wanted)
    return submission_bundle(request, db, caller, submission, engagement)
