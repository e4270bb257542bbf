"""The buyer advisors' side of a plan, as views composed once for the pages and the API: the review
queue (with the office closure days) and one submission under review (its snapshot, what changed
since the previous version, comments, the decision, and the blockers an approval would leave
open, which the advisor must acknowledge to approve: app.services.approvals.decide).

The review opens with a summary built for the decision (issue 16): coverage of the applicable
controls, readiness today, the open blockers and gates, counts of each kind of change since the
previous (decided) version, and each reason the advisor gave on that version with what the
supplier did about it (Schedule 2.4 para 4.6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.domain.access import Action, can
from app.domain.catalogue import Library
from app.domain.deadlines import Deadline
from app.domain.errors import Denied
from app.domain.readiness import Blocker, BlockerKind
from app.domain.submissions import Change, ReasonFollowUp, Review, diff, follow_ups, review
from app.domain.workflow import Profile
from app.models import (
    ClosureDay,
    Decision,
    Engagement,
    Evidence,
    Organisation,
    PlanCase,
    ReviewComment,
    Submission,
)
from app.services import approvals, calendars
from app.services.caller import Caller
from app.services.deadlines import QueueItem, decision_clock, engagement_deadlines, profile_of, review_queue
from app.services.engagements import applicability, catalogue_ids, engagement_controls, parties
from app.services.readiness import engagement_readiness

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
    summary: Summary | None  # with a library
    review: Review  # the readable comparison with the previous version
    previous_decision: Decision | None
    follow_ups: list[ReasonFollowUp]  # the previous version's per-control reasons, and what was done
    media_types: dict[str, str]  # evidence id -> media type, for the inline preview of PDFs and images


@dataclass(frozen=True, slots=True)
class Coverage:
    applicable: int  # applicable controls of the engagement under the snapshot's scoping
    answered: int
    met: int
    with_current_evidence: int  # answers with at least one piece of evidence not expired today


@dataclass(frozen=True, slots=True)
class Summary:
    coverage: Coverage
    readiness: float  # the engagement's readiness today, per cent
    blockers: list[Blocker]  # every blocker and gate open today but the ISAS an approval issues


def coverage_of(
    library: Library, session: Session, engagement: Engagement, data: dict[str, Any], today: date
) -> Coverage:
    """How much of the applicable catalogue the snapshot answers, meets and evidences."""
    scoping = {str(k): bool(v) for k, v in (data.get("scoping") or {}).items()}
    applicable = sum(
        1
        for control in engagement_controls(library, catalogue_ids(session, engagement.id))
        if applicability(control, scoping, library)[0]
    )
    rows = data.get("responses", [])
    current = sum(
        1
        for r in rows
        if any(
            not e.get("expires_on") or date.fromisoformat(e["expires_on"]) >= today
            for e in r.get("evidence", [])
        )
    )
    return Coverage(
        applicable=applicable,
        answered=len(rows),
        met=sum(1 for r in rows if r.get("status") == "met"),
        with_current_evidence=current,
    )


def media_types(session: Session, *snapshots: dict[str, Any] | None) -> dict[str, str]:
    ids = {
        str(e["id"])
        for data in snapshots
        if data
        for r in data.get("responses", [])
        for e in r.get("evidence", [])
        if e.get("id")
    }
    if not ids:
        return {}
    query = select(Evidence.id, Evidence.media_type).where(col(Evidence.id).in_(sorted(ids)))
    return {row[0]: row[1] for row in session.exec(query)}


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
    old = approvals.data_of(before) if before else None
    earlier = approvals.decision_for(session, before.id) if before else None
    readable = review(old, data)
    decision = approvals.decision_for(session, submission.id)
    is_latest = approvals.submissions(session, engagement.id)[-1].id == submission.id
    supplier = session.get(Organisation, engagement.supplier_org_id)
    can_decide = (
        decision is None and is_latest and can(caller.actor, Action.DECIDE_SUBMISSION, parties(engagement))
    )
    summary = None
    if library is not None:
        readiness = engagement_readiness(session, library, engagement, today=today)
        summary = Summary(
            coverage=coverage_of(library, session, engagement, data, today),
            readiness=readiness.score,
            blockers=[b for b in readiness.blockers if b.kind is not BlockerKind.ISAS],
        )
    return ReviewView(
        engagement=engagement,
        supplier=supplier.name if supplier else "",
        submission=submission,
        data=data,
        previous=before,
        changes=diff(old, data) if old is not None else [],
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
        outstanding=summary.blockers if can_decide and summary is not None else [],
        acknowledged=approvals.outstanding_of(decision) if decision else [],
        media_types=media_types(session, data, old),
        summary=summary,
        review=readable,
        previous_decision=earlier,
        follow_ups=follow_ups(approvals.control_reasons_of(earlier), old, data, readable.controls)
        if earlier is not None and old is not None
        else [],
    )
