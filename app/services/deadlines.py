"""Deadlines of an engagement (pure rules in app.domain.deadlines) and the buyer advisors'
review queue, ordered by the date each decision is due (Schedule 2.4) or the approval target
of its cycle (Call Off Schedule 7, where the 15 Working Days are a shared target).

What the rules are computed from, each read with one query: submissions, decisions, change
notices, Required Changes Register entries, the agreed variations in force, the buyer's closure
days and (Schedule 2.4 only, for para 6.6) the supplier's certificate register."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.audit import AuditAction
from app.domain.calendar import ClosureFact
from app.domain.deadlines import (
    CertificateFact,
    Deadline,
    DecisionFact,
    EntryFact,
    History,
    NoticeFact,
    SubmissionFact,
    compute,
    lapses,
)
from app.domain.errors import InvalidInput
from app.domain.variations import Variation, agreed_calendar
from app.domain.workflow import Profile, profile
from app.models import (
    AgreedVariation,
    ChangeNotice,
    Decision,
    Engagement,
    Organisation,
    RegisterEntry,
    Submission,
)
from app.services.calendars import calendar_for, closure_facts
from app.services.caller import Caller

CERTIFICATION_EVENT = "certification"  # app.services.changes.EVENTS: loss of certification (6.6)


def profile_of(engagement: Engagement) -> Profile:
    """The engagement's workflow profile in the form of Call Off Schedule 7 it records."""
    return profile(engagement.workflow_profile, str(engagement.call_off_form))


def variation_fact(row: AgreedVariation) -> Variation:
    return Variation(
        id=row.id,
        kind=row.kind,
        reference=row.reference,
        agreed_on=row.agreed_on,
        recorded_by=row.recorded_by_name,
        recorded_at=row.recorded_at,
        deadline_kind=row.deadline_kind,
        object_id=row.object_id,
        due_on=row.due_on,
        note=row.note,
    )


def variations_in_force(session: Session, engagement_id: str) -> list[AgreedVariation]:
    """The engagement's agreed variations not taken back, oldest first."""
    query = (
        select(AgreedVariation)
        .where(AgreedVariation.engagement_id == engagement_id, col(AgreedVariation.removed_at).is_(None))
        .order_by(col(AgreedVariation.recorded_at), col(AgreedVariation.id))
    )
    return list(session.exec(query))


def certificate_facts(session: Session, supplier_org_id: str) -> list[CertificateFact]:
    """The supplier's certificate register in one query, as the para 6.6 rule reads it (see
    app.services.timelines.certificate_facts_of, which reads many suppliers' at once)."""
    from app.services.timelines import certificate_facts_of  # timelines builds on this module

    return certificate_facts_of(session, {supplier_org_id}).get(supplier_org_id, [])


def history(session: Session, engagement: Engagement, *, today: date, prof: Profile | None = None) -> History:
    prof = prof or profile_of(engagement)
    subs = session.exec(select(Submission).where(Submission.engagement_id == engagement.id))
    decs = session.exec(select(Decision).where(Decision.engagement_id == engagement.id))
    notes = session.exec(select(ChangeNotice).where(ChangeNotice.engagement_id == engagement.id))
    entries = session.exec(select(RegisterEntry).where(RegisterEntry.engagement_id == engagement.id))
    lost = (
        lapses(
            certificate_facts(session, engagement.supplier_org_id), since=engagement.effective_on, today=today
        )
        if prof.certification_notice is not None
        else []
    )
    return History(
        engagement_id=engagement.id,
        effective_on=engagement.effective_on,
        submissions=tuple(SubmissionFact(s.id, s.version, s.cycle, s.submitted_on) for s in subs),
        decisions=tuple(DecisionFact(d.submission_id, d.decided_on, d.approved) for d in decs),
        notices=tuple(
            NoticeFact(
                n.id,
                f"notice {n.number} ({n.event})",
                n.aware_on,
                n.filed_on,
                certification=n.event == CERTIFICATION_EVENT,
            )
            for n in notes
        ),
        entries=tuple(EntryFact(e.id, e.title, e.agreed_on, e.implemented_on) for e in entries),
        lapses=tuple(lost),
        isms_submitted_on=engagement.isms_submitted_on,
    )


class Timeline(list[Deadline]):
    """One engagement's deadlines, oldest first (a list), with what they were computed from
    besides the history: the agreed variations in force and the buyer's closure days. The
    pages list (and remove) variations from here."""

    def __init__(
        self, deadlines: Iterable[Deadline], *, variations: list[Variation], closures: list[ClosureFact]
    ) -> None:
        super().__init__(deadlines)
        self.variations = variations
        self.closures = closures

    @property
    def calendar(self) -> Variation | None:
        """The agreed calendar in force (closure days are then not Working Days), if any."""
        return agreed_calendar(self.variations)

    @property
    def variable(self) -> list[Deadline]:
        """The deadlines whose clause allows an agreed other timescale."""
        return [d for d in self if d.may_vary]


def engagement_deadlines(session: Session, engagement: Engagement, *, today: date) -> Timeline:
    prof = profile_of(engagement)
    agreed = [variation_fact(v) for v in variations_in_force(session, engagement.id)]
    closures = closure_facts(session, engagement.buyer_org_id)
    calendar = calendar_for(
        session, engagement, closures=closures, agreed=agreed_calendar(agreed) is not None
    )
    deadlines = compute(
        history(session, engagement, today=today, prof=prof),
        prof,
        calendar,
        today=today,
        variations=agreed,
        closures=closures,
    )
    return Timeline(deadlines, variations=agreed, closures=closures)


def overdue_entries(deadlines: list[Deadline]) -> list[Deadline]:
    """Register entries past their agreed date: the supplier must cease processing (para 5.5(a)),
    unless the Authority directed otherwise in writing (a `direction` variation on the entry)."""
    return [
        d for d in deadlines if d.kind == "register_entry_due" and d.state == "overdue" and not d.direction
    ]


def decision_clock(deadlines: Iterable[Deadline], submission_id: str, cycle: int) -> Deadline | None:
    """When the decision on one submission is due: its own decision deadline (Schedule 2.4
    para 4.5), or else the approval target of its cycle (Call Off Schedule 7, a target)."""
    found = list(deadlines)
    own = next((d for d in found if d.kind == "decision_due" and d.object_id == submission_id), None)
    if own is not None:
        return own
    return next((d for d in found if d.kind == "approval_target" and d.cycle == cycle), None)


@dataclass(frozen=True, slots=True)
class QueueItem:
    engagement: Engagement
    supplier: str
    submission: Submission
    due: Deadline  # the decision deadline, or (Call Off Schedule 7) the cycle's approval target

    @property
    def target(self) -> bool:
        return self.due.target


def review_queue(session: Session, buyer_org_id: str, *, today: date) -> list[QueueItem]:
    """Every submission awaiting a decision in the buyer's engagements, most urgent first (by the
    decision's due date, or the approval target's date under Call Off Schedule 7)."""
    decided = select(Decision.submission_id)
    rows = session.exec(
        select(Submission, Engagement, Organisation)
        .join(Engagement, col(Engagement.id) == Submission.engagement_id)
        .join(Organisation, col(Organisation.id) == Engagement.supplier_org_id)
        .where(Engagement.buyer_org_id == buyer_org_id, col(Submission.id).not_in(decided))
    ).all()
    from app.services.timelines import timelines  # here: timelines builds on this module

    waiting = list({engagement.id: engagement for _s, engagement, _o in rows}.values())
    computed = timelines(session, waiting, today=today)  # a fixed number of statements for all
    items = []
    for submission, engagement, supplier in rows:
        due = decision_clock(computed[engagement.id], submission.id, submission.cycle)
        if due is not None:  # always found: a submission has a decision deadline or a cycle target
            items.append(QueueItem(engagement, supplier.name, submission, due))
    return sorted(items, key=lambda i: (i.due.due_on, i.engagement.reference))


ISMS_ONLY = "Only a Call Off Schedule 7 long form engagement has an ISMS to submit (long form para 3.1)."


def record_isms_submission(
    session: Session, caller: Caller, engagement: Engagement, *, submitted_on: date | str, today: date
) -> Engagement:
    """The supplier's lead records the day the ISMS was submitted for Approval (Call Off
    Schedule 7 long form para 3.1), which meets the `isms_due` deadline; audited as
    `isms_submitted` with the day before and after. The caller may already act in the engagement
    (the route loaded it for Action.SUBMIT_PLAN). 422 under another profile or form, for a day
    that is not a date, is outside the date window, or is after today."""
    if profile_of(engagement).isms is None:
        raise InvalidInput(ISMS_ONLY, details={"submitted_on": ISMS_ONLY})
    if isinstance(submitted_on, str):
        parsed = dates.parse(submitted_on, "submitted_on", "The ISMS submission day")
        assert parsed is not None  # required
        submitted_on = parsed
    else:
        dates.check(submitted_on, "submitted_on", "The ISMS submission day")
    if submitted_on > today:
        message = "The ISMS submission day cannot be after today."
        raise InvalidInput(message, details={"submitted_on": message})
    before = engagement.isms_submitted_on
    engagement.isms_submitted_on = submitted_on
    session.add(engagement)
    session.flush()
    caller.record(
        session,
        AuditAction.ISMS_SUBMITTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={
            "submitted_on": submitted_on.isoformat(),
            "before": before.isoformat() if before else None,
            "clause": "Call Off Schedule 7 long form para 3.1",
        },
    )
    return engagement
