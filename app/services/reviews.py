"""The buyer advisors' side of a plan, as views composed once for the pages and the API: the review
queue (with the office closure days) and one submission under review (its snapshot, what changed
since the previous version, comments, the decision, and the blockers an approval would leave
open, which the advisor must acknowledge to approve: app.services.approvals.decide)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session

from app.domain.access import Action, can
from app.domain.catalogue import Library
from app.domain.deadlines import Deadline
from app.domain.errors import Denied
from app.domain.readiness import Blocker
from app.domain.submissions import Change, diff
from app.domain.workflow import Profile
from app.models import ClosureDay, Decision, Engagement, Organisation, PlanCase, ReviewComment, Submission
from app.services import approvals, calendars
from app.services.caller import Caller
from app.services.deadlines import QueueItem, decision_clock, engagement_deadlines, profile_of, review_queue
from app.services.engagements import parties
from app.services.readiness import outstanding_at_approval

QUEUE_REFUSED = "The review queue is for buyer security advisors."


@dataclass(frozen=True, slots=True)
class QueueView:
    items: list[QueueItem]
    closures: list[ClosureDay]


def queue_view(session: Session, caller: Caller, *, today: date) -> QueueView:
    """Every submission awaiting the caller's decision, most urgent first, and their organisation's
    closure days. Only buyer advisors have a queue (a public rule: 403, audited)."""
    if not can(caller.actor, Action.REVIEW_QUEUE):
        raise Denied(QUEUE_REFUSED, action=Action.REVIEW_QUEUE, object_type="review_queue", object_id="")
    org_id = caller.actor.org_id
    return QueueView(
        items=review_queue(session, org_id, today=today), closures=calendars.closure_days(session, org_id)
    )


@dataclass(frozen=True, slots=True)
class ReviewView:
    engagement: Engagement
    supplier: str
    submission: Submission
    data: dict[str, Any]
    previous: Submission | None
    changes: list[Change]
    comments: dict[str, list[ReviewComment]]
    decision: Decision | None
    control_reasons: dict[str, str]
    is_latest: bool
    can_decide: bool
    case: PlanCase
    profile: Profile
    due: Deadline | None
    outstanding: list[Blocker]  # open now, for the advisor who can decide (with a library)
    acknowledged: list[dict[str, str]]  # what an approval with blockers open recorded as outstanding


def review_view(
    session: Session,
    engagement: Engagement,
    submission: Submission,
    caller: Caller,
    *,
    today: date,
    library: Library | None = None,
) -> ReviewView:
    """One submission as a reviewer (or its supplier) reads it; the caller may view the engagement.
    With `library`, an advisor who can decide also gets the blockers an approval would leave open."""
    before = approvals.previous(session, submission)
    data = approvals.data_of(submission)
    decision = approvals.decision_for(session, submission.id)
    is_latest = approvals.submissions(session, engagement.id)[-1].id == submission.id
    supplier = session.get(Organisation, engagement.supplier_org_id)
    can_decide = (
        decision is None and is_latest and can(caller.actor, Action.DECIDE_SUBMISSION, parties(engagement))
    )
    return ReviewView(
        engagement=engagement,
        supplier=supplier.name if supplier else "",
        submission=submission,
        data=data,
        previous=before,
        changes=diff(approvals.data_of(before), data) if before else [],
        comments=approvals.comments(session, submission.id),
        decision=decision,
        control_reasons=approvals.control_reasons_of(decision) if decision else {},
        is_latest=is_latest,
        can_decide=can_decide,
        case=approvals.case_row(session, engagement.id),
        profile=profile_of(engagement),
        due=decision_clock(
            engagement_deadlines(session, engagement, today=today), submission.id, submission.cycle
        ),
        outstanding=outstanding_at_approval(session, library, engagement, today=today)
        if can_decide and library is not None
        else [],
        acknowledged=approvals.outstanding_of(decision) if decision else [],
    )
