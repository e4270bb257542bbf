"""Data out through the API: an engagement as XLSX (one sheet per catalogue, risks, the Required
Changes Register, certificates, deadlines) or its answers as CSV. The same as the pages'."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from app.adapters.spreadsheets import XLSX_TYPE
from app.api.downloads import ACCEPTED, accepted
from app.api.schema import ApiRoute, ErrorBody
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.exports import (
    engagement_bundle,
    engagement_export,
    queue_download,
    register_export,
    soa_export,
    submission_bundle,
    wants_async,
)
from app.http.loaders import EngagementToView, SubmissionToView
from app.services.downloads import ENGAGEMENT, ENGAGEMENT_BUNDLE, REGISTER, SOA, SUBMISSION_BUNDLE, Wanted

router = APIRouter(
    prefix="/api",
    tags=["exports"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such engagement, or not yours to see"},
    **ACCEPTED,
}


@router.get(
    "/engagements/{engagement_id}/export.xlsx",
    name="api:engagement-export-xlsx",
    response_class=Response,
    responses={200: {"description": "The engagement as a workbook", "content": {XLSX_TYPE: {}}}, **NOT_FOUND},
)
def engagement_xlsx(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """One sheet per catalogue in scope (control, clause, applicability, answer, owner, planned
    change, target date, evidence with SHA-256 and expiry), then risks, the Required Changes
    Register, certificates and deadlines. Audited as `engagement_exported`. With `Prefer:
    respond-async`: 202, made by the worker into the caller's downloads (Location)."""
    if wants_async(request):
        return accepted(
            request, queue_download(request, db, caller, Wanted(ENGAGEMENT, "xlsx", engagement.id))
        )
    return engagement_export(request, db, library, caller, engagement, "xlsx")


@router.get(
    "/engagements/{engagement_id}/export.csv",
    name="api:engagement-export-csv",
    response_class=Response,
    responses={200: {"description": "Every catalogue's answers", "content": {"text/csv": {}}}, **NOT_FOUND},
)
def engagement_csv(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """Every catalogue's answers in one table, the catalogue first (UTF-8 with a byte order mark,
    so spreadsheets read it as UTF-8); cells that would run as formulas are neutralised."""
    if wants_async(request):
        return accepted(
            request, queue_download(request, db, caller, Wanted(ENGAGEMENT, "csv", engagement.id))
        )
    return engagement_export(request, db, library, caller, engagement, "csv")


@router.get(
    "/exports/{what}.{fmt}",
    name="api:register-export",
    response_class=Response,
    responses={
        200: {"description": "The register", "content": {XLSX_TYPE: {}, "text/csv": {}}},
        403: {
            "model": ErrorBody,
            "description": "The caller's role keeps no such register (the portfolio is the advisors', "
            "the evidence library the suppliers'); the refusal is audited",
        },
        404: {"model": ErrorBody, "description": "Not a register the caller may read"},
        **ACCEPTED,
    },
)
def register_file(
    request: Request,
    what: Literal["portfolio", "certificates", "evidence"],
    fmt: Literal["xlsx", "csv"],
    db: SessionDep,
    caller: auth.CurrentCaller,
) -> Response:
    """`portfolio`: the advisor's suppliers' required certificates and their certificates (buyer
    advisors); `certificates`: the certificate register the caller may read; `evidence`: the
    supplier's evidence library. XLSX, or its first table as CSV. Audited as `register_exported`."""
    if wants_async(request):
        return accepted(request, queue_download(request, db, caller, Wanted(REGISTER, fmt, what=what)))
    return register_export(request, db, caller, what, fmt)


@router.get(
    "/engagements/{engagement_id}/statement-of-applicability.{fmt}",
    name="api:soa",
    response_class=Response,
    responses={
        200: {
            "description": "The ISO/IEC 27001 Statement of Applicability",
            "content": {XLSX_TYPE: {}, "text/csv": {}, "application/pdf": {}},
        },
        404: {
            "model": ErrorBody,
            "description": "No such engagement, not yours to see, or it does not assess ISO/IEC 27001",
        },
        **ACCEPTED,
    },
)
def statement_of_applicability(
    request: Request,
    engagement: EngagementToView,
    fmt: Literal["xlsx", "csv", "pdf"],
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The 93 Annex A controls of ISO/IEC 27001:2022 with the 2013 numbers, whether each applies
    and why, its implementation status and statement, and the evidence linked to it."""
    if wants_async(request):
        return accepted(request, queue_download(request, db, caller, Wanted(SOA, fmt, engagement.id)))
    return soa_export(request, db, library, caller, engagement, fmt)


ZIP = {"description": "A zip: manifest.csv, manifest.json, the files", "content": {"application/zip": {}}}


@router.get(
    "/engagements/{engagement_id}/evidence.zip",
    name="api:engagement-bundle",
    response_class=Response,
    responses={200: ZIP, **NOT_FOUND},
)
def engagement_evidence(
    request: Request, engagement: EngagementToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """Every piece of evidence linked to the engagement, with a manifest (file, controls, SHA-256,
    version, effective and expiry dates, kind, marking, uploader), streamed as it is built."""
    if wants_async(request):
        wanted = Wanted(ENGAGEMENT_BUNDLE, "zip", engagement.id)
        return accepted(request, queue_download(request, db, caller, wanted))
    return engagement_bundle(request, db, caller, engagement)


@router.get(
    "/submissions/{submission_id}/evidence.zip",
    name="api:submission-bundle",
    response_class=Response,
    responses={
        200: ZIP,
        404: {"model": ErrorBody, "description": "No such submission, or not yours to see"},
        **ACCEPTED,
    },
)
def submission_evidence(
    request: Request, loaded: SubmissionToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """The evidence versions one submission was decided on, with the ISAS or rejection notice
    (as PDF, under statement/) once it is decided."""
    submission, engagement = loaded
    if wants_async(request):
        wanted = Wanted(SUBMISSION_BUNDLE, "zip", engagement.id, submission_id=submission.id)
        return accepted(request, queue_download(request, db, caller, wanted))
    return submission_bundle(request, db, caller, submission, engagement)
