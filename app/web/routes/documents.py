"""The plan as a document and the annual review carried forward from last year's answers, from
the plan page (the API has the same: app/api/documents.py)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app import clock
from app.domain.access import Action, can
from app.domain.errors import Conflict
from app.http import auth
from app.http.deps import LibraryDep, SessionDep
from app.http.documents import plan_pdf, plan_word
from app.http.exports import queue_download, wants_background
from app.http.loaders import EngagementToManagePlan, EngagementToView
from app.models import Engagement
from app.services import carry_forward
from app.services.caller import Caller
from app.services.deadlines import profile_of
from app.services.downloads import PLAN, Wanted
from app.services.engagements import parties
from app.web.templating import render

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])


@router.get("/engagements/{engagement_id}/plan.pdf", name="documents:plan-pdf")
def plan_document(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    if wants_background(request):
        return _queued(request, db, caller, Wanted(PLAN, "pdf", engagement.id))
    return plan_pdf(request, db, library, caller, engagement)


@router.get("/engagements/{engagement_id}/plan.docx", name="documents:plan-docx")
def plan_word_document(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    caller: auth.CurrentCaller,
) -> Response:
    if wants_background(request):
        return _queued(request, db, caller, Wanted(PLAN, "docx", engagement.id))
    return plan_word(request, db, library, caller, engagement)


def _queued(request: Request, db: SessionDep, caller: Caller, wanted: Wanted) -> Response:
    """`?background=1`: the worker makes the file; the person goes to their Downloads list."""
    queue_download(request, db, caller, wanted)
    return RedirectResponse(str(request.url_for("downloads:index")), status_code=303)


def review_page(
    request: Request,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.Principal,
    engagement: Engagement,
    *,
    error: str = "",
    status_code: int = 200,
) -> Response:
    review = carry_forward.annual_review(db, library, engagement, today=clock.today())
    started_now = ""
    if review.started and request.query_params.get("started") == "yes" and not error:
        marked = len(review.started.marked)
        started_now = (
            f"Annual review of contract year {review.contract_year} started: {marked} piece"
            f"{'' if marked == 1 else 's'} of evidence marked for renewal."
        )
    context = {
        "engagement": engagement,
        "profile": profile_of(engagement),
        "review": review,
        "can_start": can(principal.actor, Action.MANAGE_PLAN, parties(engagement)),
        "started_now": started_now,
        "error": error,
    }
    return render(request, "documents/annual_review.html", context, status_code=status_code)


@router.get("/engagements/{engagement_id}/annual-review", name="documents:carry-forward")
def annual_review(
    request: Request,
    engagement: EngagementToView,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    """This contract year's review: last year's approved plan, the evidence to renew, the changes."""
    return review_page(request, db, library, principal, engagement)


@router.post("/engagements/{engagement_id}/annual-review", name="documents:start-review")
def start_review(
    request: Request,
    engagement: EngagementToManagePlan,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
    caller: auth.CurrentCaller,
) -> Response:
    """Start the review from last year's answers (the supplier lead); 409 on the page when there
    is no approved plan or this year's review has started already."""
    try:
        carry_forward.start_review(db, library, engagement, caller, today=clock.today())
    except Conflict as refused:
        db.rollback()
        return review_page(
            request, db, library, principal, engagement, error=refused.message, status_code=409
        )
    db.commit()
    url = request.url_for("documents:carry-forward", engagement_id=engagement.id)
    return RedirectResponse(f"{url.include_query_params(started='yes')}#review-started", status_code=303)
