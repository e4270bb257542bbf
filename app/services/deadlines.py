"""Deadlines of an engagement (pure rules in app.domain.deadlines) and the buyer advisors'
review queue, ordered by the date each decision is due."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from app.domain.deadlines import (
    Deadline,
    DecisionFact,
    EntryFact,
    History,
    NoticeFact,
    SubmissionFact,
    compute,
)
from app.domain.workflow import profile
from app.models import ChangeNotice, Decision, Engagement, Organisation, RegisterEntry, Submission
from app.services.calendars import calendar_for


def history(session: Session, engagement: Engagement) -> History:
    subs = session.exec(select(Submission).where(Submission.engagement_id == engagement.id))
    decs = session.exec(select(Decision).where(Decision.engagement_id == engagement.id))
    notes = session.exec(select(ChangeNotice).where(ChangeNotice.engagement_id == engagement.id))
    entries = session.exec(select(RegisterEntry).where(RegisterEntry.engagement_id == engagement.id))
    return History(
        engagement_id=engagement.id,
        effective_on=engagement.effective_on,
        submissions=tuple(SubmissionFact(s.id, s.version, s.cycle, s.submitted_on) for s in subs),
        decisions=tuple(DecisionFact(d.submission_id, d.decided_on, d.approved) for d in decs),
        notices=tuple(
            NoticeFact(n.id, f"notice {n.number} ({n.event})", n.aware_on, n.filed_on) for n in notes
        ),
        entries=tuple(EntryFact(e.id, e.title, e.agreed_on, e.implemented_on) for e in entries),
    )


def engagement_deadlines(session: Session, engagement: Engagement, *, today: date) -> list[Deadline]:
    return compute(
        history(session, engagement),
        profile(engagement.workflow_profile),
        calendar_for(session, engagement),
        today=today,
    )


def overdue_entries(deadlines: list[Deadline]) -> list[Deadline]:
    """Register entries past their agreed date: the supplier must cease processing (para 5.5)."""
    return [d for d in deadlines if d.kind == "register_entry_due" and d.state == "overdue"]


@dataclass(frozen=True, slots=True)
class QueueItem:
    engagement: Engagement
    supplier: str
    submission: Submission
    due: Deadline


def review_queue(session: Session, buyer_org_id: str, *, today: date) -> list[QueueItem]:
    """Every submission awaiting a decision in the buyer's engagements, most urgent first."""
    decided = select(Decision.submission_id)
    rows = session.exec(
        select(Submission, Engagement, Organisation)
        .join(Engagement, col(Engagement.id) == Submission.engagement_id)
        .join(Organisation, col(Organisation.id) == Engagement.supplier_org_id)
        .where(Engagement.buyer_org_id == buyer_org_id, col(Submission.id).not_in(decided))
    ).all()
    items = []
    for submission, engagement, supplier in rows:
        due = next(
            d
            for d in engagement_deadlines(session, engagement, today=today)
            if d.kind == "decision_due" and d.object_id == submission.id
        )
        items.append(QueueItem(engagement, supplier.name, submission, due))
    return sorted(items, key=lambda i: (i.due.due_on, i.engagement.reference))
