"""The Security Management Plan as a document, an engagement in OSCAL 1.1, and the annual review
carried forward from last year's answers, through the API."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.api.bodies import Out
from app.api.downloads import ACCEPTED, accepted
from app.api.schema import ApiRoute, ErrorBody
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.documents import oscal_json, plan_pdf, plan_word
from app.http.exports import queue_download, wants_async
from app.http.loaders import EngagementToManagePlan, EngagementToView
from app.services import carry_forward
from app.services.downloads import PLAN, Wanted

router = APIRouter(
    prefix="/api",
    tags=["documents"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "No such engagement, or not yours to see"}
}


class BaselineOut(Out):
    submission_id: str
    version: int
    sha256: str
    isas: str | None


class MarkedOut(Out):
    control_id: str
    evidence_id: str
    reason: str


class StartedOut(Out):
    at: datetime
    by: str
    marked: list[MarkedOut]


class RenewalOut(MarkedOut):
    control_title: str
    title: str
    version: int


class ChangeOut(Out):
    area: str
    key: str
    what: str
    before: str
    after: str


class AnnualReviewOut(Out):
    """This contract year's review: `baseline` is last year's approved plan (null before the
    first approval), `started` when the review was started and what it marked then, `renewals`
    the evidence still to renew, `changes` every change since the approved version."""

    contract_year: int
    year_starts: date
    year_ends: date
    baseline: BaselineOut | None
    started: StartedOut | None
    marked_controls: list[str]
    renewals: list[RenewalOut]
    changes: list[ChangeOut]


@router.get(
    "/engagements/{engagement_id}/plan.pdf",
    name="api:plan-pdf",
    response_class=Response,
    responses={
        200: {"description": "The plan as a tagged PDF", "content": {"application/pdf": {}}},
        **NOT_FOUND,
        **ACCEPTED,
    },
)
def plan_document(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The whole Security Management Plan as the buyer reviews it: cover (parties, contract, the
    latest submission's SHA-256 or "draft" with the live hash), roles, readiness, responses by
    catalogue, risk register with heat maps, Required Changes Register, incident process and the
    evidence index with SHA-256. Tagged PDF/UA-1, marked on every page. Audited as
    `engagement_exported`. With `Prefer: respond-async`: `202` and the download to fetch later."""
    if wants_async(request):
        return accepted(request, queue_download(request, db, caller, Wanted(PLAN, "pdf", engagement.id)))
    return plan_pdf(request, db, library, caller, engagement)


@router.get(
    "/engagements/{engagement_id}/plan.docx",
    name="api:plan-docx",
    response_class=Response,
    responses={
        200: {
            "description": "The plan as a Word document (DOCX)",
            "content": {"application/vnd.openxmlformats-officedocument.wordprocessingml.document": {}},
        },
        **NOT_FOUND,
        **ACCEPTED,
    },
)
def plan_word_document(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The same plan as `plan.pdf`, from the same content, as a Word document: Word heading
    styles for every part, header rows on every table, the readiness figures and heat maps as
    tables, the marking in the header and footer. Audited as `engagement_exported` (format docx).
    With `Prefer: respond-async`: `202` and the download to fetch later."""
    if wants_async(request):
        return accepted(request, queue_download(request, db, caller, Wanted(PLAN, "docx", engagement.id)))
    return plan_word(request, db, library, caller, engagement)


OSCAL_KINDS = Literal["ssp", "assessment-results", "poam", "profile"]


@router.get(
    "/engagements/{engagement_id}/oscal/{kind}.json",
    name="api:engagement-oscal",
    response_class=Response,
    responses={
        200: {"description": "An OSCAL 1.1 document", "content": {"application/json": {}}},
        **NOT_FOUND,
    },
)
def engagement_oscal(
    request: Request,
    engagement: EngagementToView,
    kind: OSCAL_KINDS,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    """The engagement in OSCAL 1.1 (JSON): `ssp` the System Security Plan (each applicable control's
    answer and evidence), `assessment-results` its assessment (a finding per control, the evidence
    as observations), `poam` the open gaps and the Required Changes Register as a Plan of Action
    and Milestones, `profile` the controls in scope of each catalogue export the others import.
    Audited as `engagement_exported`."""
    return oscal_json(request, db, library, caller, engagement, kind)


@router.get(
    "/engagements/{engagement_id}/annual-review",
    name="api:annual-review",
    response_model=AnnualReviewOut,
    responses=NOT_FOUND,
)
def annual_review(engagement: EngagementToView, db: SessionDep, library: LibraryDep) -> dict[str, Any]:
    """This contract year's review: the contract year, last year's approved plan (`baseline`),
    whether and when the review was started and what it marked then (`started`), the evidence
    still to renew (`renewals`, by control) and every change since the approved version."""
    return carry_forward.annual_review(db, library, engagement, today=clock.today()).to_dict()


@router.post(
    "/engagements/{engagement_id}/annual-review",
    name="api:start-annual-review",
    response_model=AnnualReviewOut,
    responses={
        **NOT_FOUND,
        409: {"model": ErrorBody, "description": "No approved plan yet, or this year's review has started"},
    },
)
def start_annual_review(
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Start this contract year's review from last year's approved answers (the supplier lead):
    marks the evidence past its expiry or older than 12 months for renewal. Audited as
    `annual_review_started`."""
    review = carry_forward.start_review(db, library, engagement, caller, today=clock.today())
    db.commit()
    return review.to_dict()
