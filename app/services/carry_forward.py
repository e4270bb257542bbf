"""Carry a contract year forward (issue 17 item 3): start the annual review from last year's
answers, with the evidence to renew marked and the changes since shown.

Where the model puts the second year: an engagement is one contract, and its contract years
run from the effective date (app.domain.deadlines.contract_years). The plan is reviewed at least
once each Contract Year (Schedule 2.4 para 5.1; Call Off Schedule 7 short form 4.4.1, long form
5.1), and the review is the next submission in the same engagement: after an approval, the lead
may submit again, which starts a new approval cycle (app.domain.workflow). So the review is not
a copy into a new engagement: the answers, risks, register, incident process and roles the
buyer approved stay where they are and are the review's starting point, and the contract
clock, deadlines and history carry on unbroken.

"Last year's answers" are the latest approved submission's snapshot. Starting the review:
- needs an approved plan (otherwise there is no previous year: 409) and is the supplier lead's
  (MANAGE_PLAN, as every change to the plan);
- marks for renewal each piece of evidence linked to an applicable control that is past its
  expiry (expired before today; it is still current on its expiry day, as readiness reads it)
  or older than 12 months (its effective date, or else its upload day, before the same day last
  year);
- is recorded once per contract year in the audit log (`annual_review_started`: the contract
  year, the baseline version and SHA-256, and each control marked with the evidence), which is
  where the page reads when the review started and what was marked then.
The review page lists what is still to renew now (a new version of the file, or a current file
linked instead, takes a control off the list) and every change since the approved version, by
the diff the buyer's review page uses (app.domain.submissions.diff).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from app.domain.access import Action, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.dates import shift_years
from app.domain.deadlines import contract_years
from app.domain.errors import Conflict, Denied
from app.domain.submissions import Change, diff
from app.models import AuditEvent, Decision, Engagement, Evidence, Submission, User
from app.services import approvals
from app.services.caller import Caller
from app.services.engagements import (
    applicability,
    catalogue_ids,
    engagement_controls,
    parties,
    scoping_answers,
)
from app.services.evidence import links_by_control

NO_BASELINE = (
    "The plan has no approved version yet, so there is no previous year to carry forward:"
    " submit the plan for approval first."
)


@dataclass(frozen=True, slots=True)
class Renewal:
    """One piece of evidence a control relies on that must be renewed, and why."""

    control_id: str
    control_title: str
    evidence_id: str
    title: str
    version: int
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "control_id": self.control_id,
            "control_title": self.control_title,
            "evidence_id": self.evidence_id,
            "title": self.title,
            "version": self.version,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True)
class Started:
    """When the review of a contract year was started, by whom, and what it marked then."""

    at: datetime
    by: str
    marked: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class AnnualReview:
    contract_year: int
    year_starts: date
    year_ends: date
    baseline: Submission | None
    decision: Decision | None
    renewals: list[Renewal]
    changes: list[Change]
    started: Started | None

    @property
    def marked_controls(self) -> list[str]:
        return sorted({r.control_id for r in self.renewals})

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract_year": self.contract_year,
            "year_starts": self.year_starts.isoformat(),
            "year_ends": self.year_ends.isoformat(),
            "baseline": None
            if self.baseline is None
            else {
                "submission_id": self.baseline.id,
                "version": self.baseline.version,
                "sha256": self.baseline.sha256,
                "isas": self.decision.number if self.decision else None,
            },
            "started": None
            if self.started is None
            else {"at": self.started.at.isoformat(), "by": self.started.by, "marked": self.started.marked},
            "marked_controls": self.marked_controls,
            "renewals": [r.to_dict() for r in self.renewals],
            "changes": [
                {"area": c.area, "key": c.key, "what": c.what, "before": c.before, "after": c.after}
                for c in self.changes
            ],
        }


def renewal_reason(item: Evidence, today: date) -> str | None:
    """Why `item` must be renewed at a review held on `today`, or None when it need not be."""
    if item.expires_on is not None and item.expires_on < today:
        return f"expired on {item.expires_on.strftime('%d %B %Y')}"
    dated = item.effective_on or item.uploaded_at.date()
    year_ago = shift_years(today, -1) or date.min
    if dated < year_ago:
        kind = "effective" if item.effective_on else "uploaded"
        return f"older than 12 months ({kind} {dated.strftime('%d %B %Y')})"
    return None


def renewals(session: Session, library: Library, engagement: Engagement, *, today: date) -> list[Renewal]:
    """The evidence of applicable controls to renew, by control then title."""
    scoping = scoping_answers(session, engagement.id)
    evidence = links_by_control(session, engagement.id)
    out = []
    for control in engagement_controls(library, catalogue_ids(session, engagement.id)):
        if not applicability(control, scoping, library)[0]:
            continue
        for item in sorted(evidence.get(control.id, ()), key=lambda e: e.title.lower()):
            reason = renewal_reason(item, today)
            if reason:
                out.append(Renewal(control.id, control.title, item.id, item.title, item.version, reason))
    return out


def baseline(session: Session, engagement_id: str) -> tuple[Submission, Decision] | None:
    """The latest approved submission and its ISAS: the plan as the buyer last approved it."""
    row = session.exec(
        select(Submission, Decision)
        .join(Decision, col(Decision.submission_id) == Submission.id)
        .where(Submission.engagement_id == engagement_id, col(Decision.approved).is_(True))
        .order_by(col(Submission.version).desc())
    ).first()
    return (row[0], row[1]) if row else None


def _year(engagement: Engagement, today: date) -> tuple[int, date, date]:
    years = contract_years(engagement.effective_on, today)
    return years[-1] if years else (0, engagement.effective_on, engagement.effective_on)


def _started(session: Session, engagement_id: str, year: int) -> Started | None:
    events = session.exec(
        select(AuditEvent)
        .where(
            AuditEvent.engagement_id == engagement_id,
            AuditEvent.action == AuditAction.ANNUAL_REVIEW_STARTED.value,
            AuditEvent.outcome == "allowed",
        )
        .order_by(col(AuditEvent.at).desc())
    )
    for event in events:
        details = json.loads(event.details)
        if details.get("contract_year") == year:
            user = session.get(User, event.actor_user_id) if event.actor_user_id else None
            return Started(event.at, user.name if user else "", list(details.get("marked", [])))
    return None


def annual_review(session: Session, library: Library, engagement: Engagement, *, today: date) -> AnnualReview:
    """The review of the current contract year as it stands (reads only; page and API)."""
    number, starts, ends = _year(engagement, today)
    base = baseline(session, engagement.id)
    changes: list[Change] = []
    if base is not None:
        live, _gaps = approvals.snapshot(session, library, engagement)
        changes = diff(approvals.data_of(base[0]), live)
    return AnnualReview(
        contract_year=number,
        year_starts=starts,
        year_ends=ends,
        baseline=base[0] if base else None,
        decision=base[1] if base else None,
        renewals=renewals(session, library, engagement, today=today),
        changes=changes,
        started=_started(session, engagement.id, number),
    )


def start_review(
    session: Session, library: Library, engagement: Engagement, caller: Caller, *, today: date
) -> AnnualReview:
    """Start this contract year's review from the approved plan, marking the evidence to renew;
    audited. Refused: not the lead (403), no approved plan or already started this year (409)."""
    if not can(caller.actor, Action.MANAGE_PLAN, parties(engagement)):
        raise Denied(
            "Only the supplier's security lead starts the annual review.",
            action=Action.MANAGE_PLAN,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    review = annual_review(session, library, engagement, today=today)
    if review.baseline is None:
        raise Conflict(NO_BASELINE)
    if review.started is not None:
        raise Conflict(
            f"The review of contract year {review.contract_year} was started on"
            f" {review.started.at.strftime('%d %B %Y')} by {review.started.by}."
        )
    marked = [
        {"control_id": r.control_id, "evidence_id": r.evidence_id, "reason": r.reason}
        for r in review.renewals
    ]
    event = caller.record(
        session,
        AuditAction.ANNUAL_REVIEW_STARTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={
            "contract_year": review.contract_year,
            "baseline_version": review.baseline.version,
            "baseline_sha256": review.baseline.sha256,
            "changes": len(review.changes),
            "marked": marked,
        },
    )
    user = session.get(User, caller.actor.user_id)
    return replace(review, started=Started(event.at, user.name if user else "", marked))
