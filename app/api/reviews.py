"""Review API: one submission with its snapshot and what changed, review comments, the decision,
the statement as PDF, the advisors' review queue, and their office closure days. Each handler
gets the submission from a load-or-refuse dependency (app.http.loaders), calls the use case's
service (which applies the rule and audits), commits once and serialises."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import clock
from app.api.approval_json import (
    ClosureDayOut,
    ClosureDaysOut,
    CommentOut,
    DiffOut,
    SubmissionDetailOut,
    SubmissionReviewOut,
    review_json,
    submission_json,
)
from app.api.bodies import ReviewsOut, SubmissionOut
from app.api.dates import WindowDate
from app.api.schema import ApiRoute, responses_for
from app.domain.errors import InvalidInput
from app.http import auth, statements
from app.http.deps import LibraryDep, SessionDep
from app.http.loaders import SubmissionToDecide, SubmissionToView
from app.models import ClosureDay
from app.services import approvals, calendars
from app.services.reviews import queue_view, review_view

router = APIRouter(
    prefix="/api",
    tags=["reviews"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)
STATE_CONFLICT = responses_for(409)  # the workflow refuses a move from the plan's current state
ADVISORS_ONLY = responses_for(403)  # a public rule: only buyer advisors (refused and audited)


class DecisionIn(BaseModel):
    decision: Literal["approve", "reject"]
    reasons: str = Field(default="", max_length=20_000)
    control_reasons: dict[str, str] = Field(default_factory=dict, max_length=500)
    conditions: str = Field(default="", max_length=20_000)
    residual_risks_accepted: bool = False
    advisor_role: str = Field(default="Security advisor", max_length=200)
    acknowledge_outstanding: bool = Field(
        default=False,
        description="Approve although blockers are still open (the ISAS then lists them as outstanding"
        " conditions); without it, approving with any open answers 422 naming them",
    )


class CommentIn(BaseModel):
    control_id: str = Field(max_length=64)
    body: str = Field(max_length=20_000)


class ClosureDayIn(BaseModel):
    day: WindowDate
    reason: str = Field(max_length=200)


@router.get("/submissions/{submission_id}", name="api:submission", response_model=SubmissionDetailOut)
def get_submission(
    loaded: SubmissionToView, db: SessionDep, library: LibraryDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    """The submission with its frozen snapshot (verify: SHA-256 of the canonical snapshot = `sha256`),
    and, for an advisor who may decide, the blockers an approval would leave open."""
    submission, engagement = loaded
    view = review_view(db, engagement, submission, caller, today=clock.today(), library=library)
    return {
        **submission_json(view.submission, view.decision, view.case),
        "snapshot": view.data,
        "open_blockers": [b.message for b in view.outstanding],
    }


@router.get("/submissions/{submission_id}/diff", name="api:submission-diff", response_model=DiffOut)
def get_diff(loaded: SubmissionToView, db: SessionDep, caller: auth.CurrentCaller) -> dict[str, Any]:
    """What changed since the previous version (empty `changes` for the first)."""
    submission, engagement = loaded
    view = review_view(db, engagement, submission, caller, today=clock.today())
    return {
        "previous_version": view.previous.version if view.previous else None,
        "changes": [
            {"area": c.area, "key": c.key, "what": c.what, "before": c.before, "after": c.after}
            for c in view.changes
        ],
    }


@router.get(
    "/submissions/{submission_id}/review", name="api:submission-review", response_model=SubmissionReviewOut
)
def get_review(
    loaded: SubmissionToView, db: SessionDep, library: LibraryDep, caller: auth.CurrentCaller
) -> dict[str, Any]:
    """The review as the advisor's page opens it: coverage, readiness, open blockers and gates,
    counts of each kind of change since the previous version, the previous version's reasons with
    what the supplier did about each, and the readable diff (one entry per changed control,
    unchanged ones counted; risks, register, roles and incident process as tables)."""
    submission, engagement = loaded
    view = review_view(db, engagement, submission, caller, today=clock.today(), library=library)
    return review_json(view)


@router.post(
    "/submissions/{submission_id}/comments", name="api:comment", status_code=201, response_model=CommentOut
)
def post_comment(
    loaded: SubmissionToDecide, body: CommentIn, db: SessionDep, caller: auth.CurrentCaller
) -> JSONResponse:
    submission, engagement = loaded
    comment = approvals.add_comment(
        db,
        engagement,
        submission,
        caller,
        control_id=body.control_id,
        body=body.body,
    )
    db.commit()
    return JSONResponse(
        {"id": comment.id, "control_id": comment.control_id, "body": comment.body}, status_code=201
    )


@router.post(
    "/submissions/{submission_id}/decision",
    name="api:decision",
    response_model=SubmissionOut,
    responses=STATE_CONFLICT,
)
def post_decision(
    request: Request,
    loaded: SubmissionToDecide,
    body: DecisionIn,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> dict[str, Any]:
    """Approve (issues the numbered ISAS) or reject (issues a rejection notice with reasons).
    Approving while blockers are open needs `acknowledge_outstanding` (422 naming them otherwise,
    nothing written); the decision then records them as outstanding conditions."""
    submission, engagement = loaded
    decision = approvals.decide(
        db,
        engagement,
        submission,
        caller,
        approve=body.decision == "approve",
        reasons=body.reasons,
        control_reasons=body.control_reasons,
        conditions=body.conditions,
        residual_risks_accepted=body.residual_risks_accepted,
        advisor_role=body.advisor_role,
        acknowledge_outstanding=body.acknowledge_outstanding,
        library=library,
        today=clock.today(),
    )
    db.commit()
    statements.queue_render(request, submission.id)
    return submission_json(submission, decision, approvals.case_row(db, engagement.id))


@router.get(
    "/submissions/{submission_id}/statement.pdf",
    name="api:statement-pdf",
    response_class=Response,
    responses={200: {"description": "The statement as PDF", "content": {"application/pdf": {}}}},
)
def statement_pdf(
    request: Request, loaded: SubmissionToView, db: SessionDep, caller: auth.CurrentCaller
) -> Response:
    """The ISAS or rejection notice as PDF (404 until the submission is decided)."""
    submission, engagement = loaded
    pdf, name = statements.statement_pdf(request, db, caller, submission, engagement)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'attachment; filename="{name}"'}
    )


@router.get("/reviews", name="api:reviews", response_model=ReviewsOut, responses=ADVISORS_ONLY)
def reviews(db: SessionDep, caller: auth.CurrentCaller) -> dict[str, Any]:
    """Buyer advisors: every submission awaiting a decision in their engagements, most urgent first."""
    view = queue_view(db, caller, today=clock.today())
    return {
        "reviews": [
            {
                "submission_id": i.submission.id,
                "engagement_id": i.engagement.id,
                "reference": i.engagement.reference,
                "supplier": i.supplier,
                "version": i.submission.version,
                "submitted_on": i.submission.submitted_on.isoformat(),
                "decision_due": i.due.due_on.isoformat(),
                "state": i.due.state,
            }
            for i in view.items
        ]
    }


def closure_json(closure: ClosureDay) -> dict[str, Any]:
    return {"id": closure.id, "day": closure.day.isoformat(), "reason": closure.reason}


@router.get("/closure-days", name="api:closure-days", response_model=ClosureDaysOut, responses=ADVISORS_ONLY)
def list_closure_days(
    db: SessionDep,
    caller: auth.CurrentCaller,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page")
    ] = None,
) -> dict[str, Any]:
    """Buyer advisors: the days their organisation is closed besides bank holidays, earliest first.
    They are not Working Days in the organisation's engagements."""
    days = calendars.own_closure_days(db, caller)
    if cursor:
        try:
            after = date.fromisoformat(cursor)
        except ValueError:
            raise InvalidInput(
                "The cursor is not valid for this list.", details={"cursor": "unknown"}
            ) from None
        days = [c for c in days if c.day > after]
    page = days[:limit]
    more = len(days) > limit
    return {
        "closure_days": [closure_json(c) for c in page],
        "next_cursor": page[-1].day.isoformat() if more and page else None,
    }


@router.post(
    "/closure-days",
    name="api:add-closure-day",
    status_code=201,
    response_model=ClosureDayOut,
    responses=ADVISORS_ONLY,
)
def add_closure_day(body: ClosureDayIn, db: SessionDep, caller: auth.CurrentCaller) -> JSONResponse:
    """Buyer advisors: a weekday their organisation is closed. It is shown beside the deadlines it
    falls in and moves none of them, unless the parties of an engagement recorded an agreed
    calendar (a `calendar` variation). 422 for a weekend, a day already closed, or a day outside
    the date window."""
    closure = calendars.add_closure_day(db, caller, day=body.day, reason=body.reason)
    db.commit()
    return JSONResponse(closure_json(closure), status_code=201)


@router.delete("/closure-days/{closure_id}", name="api:remove-closure-day", status_code=204)
def remove_closure_day(closure_id: str, db: SessionDep, caller: auth.CurrentCaller) -> Response:
    """Buyer advisors: take back a closure day of their organisation. Another organisation's
    closure day answers 404, audited."""
    calendars.remove_closure_day(db, caller, closure_id)
    db.commit()
    return Response(status_code=204)
