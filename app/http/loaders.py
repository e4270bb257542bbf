"""Load-or-refuse helpers for objects inside engagements (refusals are 404 and audited).

`engagement_for` and `submission_for` load an engagement or a submission and refuse, as if it
did not exist, a principal who may not do the action there. The typed dependencies below call
them for a route's `{engagement_id}` or `{submission_id}`, in the request's own session, so a
handler that declares `engagement: EngagementToAnswer` starts with the engagement it may answer
in (or never runs): it then only parses, calls the service, commits and renders. A dependency
runs before the body's fields are validated: a refused caller gets the 404 (audited) rather than
a 422 for a wrong field.

The path parameter keeps its name, so URLs and the OpenAPI schema do not change. FastAPI lists
a handler's own path parameters before those of its dependencies: an /api handler with a second
one (`.../responses/{control_id}`) still names `engagement_id: str` first, to keep the path's order.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends
from sqlmodel import Session
from starlette.requests import Request

from app.domain.access import Action
from app.domain.errors import NotFound
from app.http import auth
from app.http.deps import SessionDep
from app.models import Engagement, Submission
from app.services.engagements import parties


def engagement_for(
    request: Request,
    db: Session,
    principal: auth.Principal,
    engagement_id: str,
    action: Action = Action.VIEW_ENGAGEMENT,
) -> Engagement:
    """The engagement if `principal` may do `action` in it; otherwise 404 (audited)."""
    engagement = db.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFound("No such engagement.")
    auth.authorise(
        request,
        db,
        principal,
        action,
        parties(engagement),
        object_type="engagement",
        object_id=engagement_id,
        engagement_id=engagement_id,
    )
    return engagement


def submission_for(
    request: Request,
    db: Session,
    principal: auth.Principal,
    submission_id: str,
    action: Action = Action.VIEW_ENGAGEMENT,
) -> tuple[Submission, Engagement]:
    """A submission and its engagement if `principal` may do `action` there; otherwise 404."""
    submission = db.get(Submission, submission_id)
    if submission is None:
        raise NotFound("No such submission.")
    engagement = db.get(Engagement, submission.engagement_id)
    if engagement is None:
        raise NotFound("No such submission.")
    auth.authorise(
        request,
        db,
        principal,
        action,
        parties(engagement),
        object_type="submission",
        object_id=submission_id,
        engagement_id=engagement.id,
    )
    return submission, engagement


def engagement_loader(action: Action) -> Callable[..., Engagement]:
    """A dependency: the route's `{engagement_id}` engagement if the caller may do `action` in it."""

    def load_engagement(
        request: Request, engagement_id: str, db: SessionDep, principal: auth.CurrentPrincipal
    ) -> Engagement:
        return engagement_for(request, db, principal, engagement_id, action)

    return load_engagement


def submission_loader(action: Action) -> Callable[..., tuple[Submission, Engagement]]:
    """A dependency: the route's `{submission_id}` submission and its engagement, if the caller
    may do `action` there."""

    def load_submission(
        request: Request, submission_id: str, db: SessionDep, principal: auth.CurrentPrincipal
    ) -> tuple[Submission, Engagement]:
        return submission_for(request, db, principal, submission_id, action)

    return load_submission


# One alias per action a route checks with a constant; each refuses exactly as `engagement_for`.
EngagementToView = Annotated[Engagement, Depends(engagement_loader(Action.VIEW_ENGAGEMENT))]
EngagementToAnswer = Annotated[Engagement, Depends(engagement_loader(Action.ANSWER_CONTROL))]
EngagementToUpload = Annotated[Engagement, Depends(engagement_loader(Action.UPLOAD_EVIDENCE))]
EngagementToManagePlan = Annotated[Engagement, Depends(engagement_loader(Action.MANAGE_PLAN))]
EngagementToSubmit = Annotated[Engagement, Depends(engagement_loader(Action.SUBMIT_PLAN))]
EngagementToNotify = Annotated[Engagement, Depends(engagement_loader(Action.NOTIFY_CHANGE))]
EngagementToDecide = Annotated[Engagement, Depends(engagement_loader(Action.DECIDE_SUBMISSION))]
SubmissionToView = Annotated[
    tuple[Submission, Engagement], Depends(submission_loader(Action.VIEW_ENGAGEMENT))
]
SubmissionToDecide = Annotated[
    tuple[Submission, Engagement], Depends(submission_loader(Action.DECIDE_SUBMISSION))
]
