"""Load-or-refuse helpers for objects inside engagements (refusals are 404 and audited)."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request

from app.domain.access import Action
from app.domain.errors import NotFound
from app.models import Engagement, Submission
from app.services.engagements import parties
from app.web import auth


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
