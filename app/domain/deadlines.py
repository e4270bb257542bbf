"""Deadlines of the approval workflow, computed from what happened, never typed in.

Each deadline carries the rule and the clause that produced it. Its state is:

- "met": the thing was done (`done_on`); `late` says whether after `due_on`;
- "due": not done yet and `due_on` is today or later;
- "overdue": not done and `due_on` has passed;
- "passed": a target (not a deadline) whose date has passed without it being reached. Only
  `approval_target` is a target; nobody is late or in breach because it passed.

Rules (periods come from the engagement's workflow profile and form, see app.domain.workflow;
Working Days from app.domain.calendar; "within N Working Days of X": X is not counted):

- plan_due: first plan within N Working Days of the effective date (Schedule 2.4 para 4.4;
  Call Off Schedule 7 short form para 4.3.1, long form para 4.1); met by the first submission.
- isms_due (Call Off Schedule 7 long form only): the ISMS within 20 Working Days after the
  Call Off Commencement Date or another agreed date (para 3.1), then para 3.6's revision rule.
  Met by the submission day the supplier's lead records (`History.isms_submitted_on`); until
  then a note says how to record it.
- decision_due (Schedule 2.4 only): within 20 Working Days of receipt of each submission
  (para 4.5), a deadline of the buyer; met by the decision on that submission.
- approval_target (Call Off Schedule 7 only): "The Parties shall use all reasonable endeavours
  to ensure that the approval process takes ... no longer than fifteen (15) Working Days ...
  from the date of its first submission" (short form 4.3.2, long form 4.3): one target per
  approval cycle, counted from the cycle's first submission, party "joint"; met by the
  approval in that cycle; never "overdue" (it is "passed" once its date has gone). A
  resubmission made within the supplier's 10 Working Days is therefore never late on arrival.
- revision_due: within 10 Working Days of each rejection (Schedule 2.4 para 4.6; Call Off
  Schedule 7 short form 4.3.2, long form 4.3); met by the next submission.
- annual_review_due: the plan reviewed and provided at least once each Contract Year
  (Schedule 2.4 para 5.1; Call Off Schedule 7 short form 4.4.1, long form 5.1): due on the last
  day of each contract year, met by any submission during that year.
- change_notice_due: a para 5.2 event notified within 2 Working Days after becoming aware.
- register_update_due: the Required Changes Register updated and submitted within 10 Working
  Days of a para 5.2 notice (para 5.3); met by the next submission. A notice of lost
  certification alone opens none (para 6.6 imposes no register update).
- certification_notice_due (Schedule 2.4 only): the Authority told within 2 Working Days if the
  supplier or a sub-contractor "ceases to be compliant with any of the Certification
  Requirements" (para 6.6; the Certification Requirements are those of para 6). Counted from
  the day compliance ceased: a certificate of the register that expires or is withdrawn with no
  other current certificate meeting the same requirement for the same holder (`lapses`), or,
  for a certification notice the register knows nothing about, the date the notice gives.
  Met by a certification notice filed on or after that day.
- register_entry_due: each change implemented by the date agreed (para 5.5); an overdue one
  means the supplier must cease processing buyer data, unless the Authority directed otherwise
  in writing (a `direction` variation: the entry stays overdue, the consequence is lifted).

Agreed variations (app.domain.variations): where the clause allows another timescale
(`Period.may_vary`), a `deadline` variation replaces the computed date; the deadline keeps
its rule and clause and shows the date the rule gave (`rule_due_on`). Office closure days are
shown as `notes` on the deadlines whose count they fall in (or whose date they fall on).

Dates are added with app.domain.dates, which saturates at 31 December 9999: a date stored
outside the entry window gives a deadline on that day, never an error.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.domain.calendar import ClosureFact, WorkingCalendar
from app.domain.certificates import REQUIREMENTS, SCHEME_LABELS, Scheme, Tier
from app.domain.dates import add_days, long_form, shift_years
from app.domain.variations import Variation, VariationKind, agreed_calendar, direction_for, for_deadline
from app.domain.workflow import Period, Profile

State = Literal["met", "due", "overdue", "passed"]
Party = Literal["supplier", "buyer", "joint"]
STATES: tuple[State, ...] = ("met", "due", "overdue", "passed")
PARTIES: tuple[Party, ...] = ("supplier", "buyer", "joint")
KINDS = (
    "plan_due",
    "isms_due",
    "decision_due",
    "approval_target",
    "revision_due",
    "annual_review_due",
    "change_notice_due",
    "register_update_due",
    "certification_notice_due",
    "register_entry_due",
)
TARGETS = ("approval_target",)
ISMS_NOT_RECORDED = (
    "Met when the supplier's lead records the day the ISMS was submitted (on the plan page, or"
    " PUT /api/engagements/{id}/isms-submission)."
)


@dataclass(frozen=True, slots=True)
class Deadline:
    kind: str
    subject: str
    due_on: date
    rule: str
    clause: str
    state: State
    done_on: date | None = None
    late: bool = False
    object_type: str = "engagement"
    object_id: str = ""
    engagement_id: str = ""
    party: Party = "supplier"  # who must act ("joint": a target both parties work to)
    target: bool = False  # a target, not a deadline: never overdue
    may_vary: bool = False  # the clause allows an agreed other timescale
    variation: Variation | None = None  # the agreed date, or the written direction, in force
    rule_due_on: date | None = None  # the date the rule gives, when an agreed date replaced it
    notes: tuple[str, ...] = ()  # information: closure days, what Attest cannot record
    cycle: int | None = None  # approval_target: the approval cycle

    @property
    def direction(self) -> bool:
        """A register entry the Authority directed in writing may stay unimplemented for now
        (Schedule 2.4 para 5.5(a)): no "cease processing" consequence."""
        return self.variation is not None and self.variation.kind is VariationKind.DIRECTION

    def to_dict(self) -> dict[str, Any]:
        variation: dict[str, Any] | None = None
        if self.variation is not None:
            variation = {
                **self.variation.to_dict(),
                "original_due_on": self.rule_due_on.isoformat() if self.rule_due_on else None,
            }
        return {
            "kind": self.kind,
            "subject": self.subject,
            "due_on": self.due_on.isoformat(),
            "rule": self.rule,
            "clause": self.clause,
            "state": self.state,
            "done_on": self.done_on.isoformat() if self.done_on else None,
            "late": self.late,
            "object_type": self.object_type,
            "object_id": self.object_id,
            "party": self.party,
            "target": self.target,
            "may_vary": self.may_vary,
            "variation": variation,
            "notes": list(self.notes),
            "cycle": self.cycle,
        }


def state_of(due_on: date, done_on: date | None, today: date, *, target: bool = False) -> State:
    if done_on is not None:
        return "met"
    if today > due_on:
        return "passed" if target else "overdue"
    return "due"


@dataclass(frozen=True, slots=True)
class SubmissionFact:
    id: str
    version: int
    cycle: int
    submitted_on: date


@dataclass(frozen=True, slots=True)
class DecisionFact:
    submission_id: str
    decided_on: date
    approved: bool


@dataclass(frozen=True, slots=True)
class NoticeFact:
    id: str
    label: str
    aware_on: date  # a certification notice: the day compliance ceased, as the supplier gave it
    filed_on: date
    certification: bool = False  # loss of certification (para 6.6), not a para 5.2 event


@dataclass(frozen=True, slots=True)
class EntryFact:
    id: str
    title: str
    agreed_on: date | None
    implemented_on: date | None


@dataclass(frozen=True, slots=True)
class CertificateFact:
    """A certificate of the register as the para 6.6 rule reads it."""

    id: str
    holder_key: str  # "" for the supplier, else the sub-contractor id
    holder: str
    tier: Tier
    scheme: Scheme
    issued_on: date
    expires_on: date | None
    withdrawn_on: date | None = None  # the London date it was withdrawn


@dataclass(frozen=True, slots=True)
class LapseFact:
    """The day a holder ceased to meet a Certification Requirement (Schedule 2.4 para 6)."""

    certificate_id: str
    holder: str
    scheme: Scheme
    how: Literal["expired", "withdrawn"]
    ceased_on: date
    requirement: str  # the clause of the requirement no longer met, e.g. "Schedule 2.4 para 6.1(b)"


@dataclass(frozen=True, slots=True)
class History:
    """Everything that happened in one engagement that deadlines depend on."""

    engagement_id: str
    effective_on: date
    submissions: tuple[SubmissionFact, ...] = ()
    decisions: tuple[DecisionFact, ...] = ()
    notices: tuple[NoticeFact, ...] = ()
    entries: tuple[EntryFact, ...] = ()
    lapses: tuple[LapseFact, ...] = ()
    isms_submitted_on: date | None = None  # recorded by the supplier's lead (Engagement.isms_submitted_on)


def _end_of(certificate: CertificateFact) -> date | None:
    """The first day the certificate no longer counts (expiry or withdrawal), None if never."""
    ends = [d for d in (certificate.expires_on, certificate.withdrawn_on) if d is not None]
    return min(ends) if ends else None


def lapses(certificates: Iterable[CertificateFact], *, since: date, today: date) -> list[LapseFact]:
    """Each day, from `since` (the effective date) up to `today`, on which a holder ceased to
    meet a Certification Requirement of Schedule 2.4 para 6 (6.1 for the supplier, 6.2 and 6.3 for
    sub-contractors by tier): a certificate of a scheme the requirement accepts expired (its
    expiry date, app.domain.certificates.state_on) or was withdrawn, and no other certificate
    of the same holder meeting the same requirement was current on that day. The IT Health Check
    (paras 4.2(a), 7.1) is no Certification Requirement. One lapse per holder, requirement and day."""
    held = list(certificates)
    found: dict[tuple[str, str, date], LapseFact] = {}
    for cert in held:
        end = _end_of(cert)
        if end is None or end > today or end < since or end <= cert.issued_on:
            continue
        for requirement in REQUIREMENTS.get(cert.tier, ()):
            if cert.scheme not in requirement.schemes or Scheme.IT_HEALTH_CHECK in requirement.schemes:
                continue
            successor = any(
                other.id != cert.id
                and other.holder_key == cert.holder_key
                and other.scheme in requirement.schemes
                and other.issued_on <= end
                and ((other_end := _end_of(other)) is None or other_end > end)
                for other in held
            )
            key = (cert.holder_key, requirement.clause, end)
            if successor or key in found:
                continue
            withdrawn = cert.withdrawn_on is not None and cert.withdrawn_on == end
            found[key] = LapseFact(
                cert.id,
                cert.holder,
                cert.scheme,
                "withdrawn" if withdrawn else "expired",
                end,
                requirement.clause.split(";")[0].strip(),
            )
    return sorted(found.values(), key=lambda lapse: (lapse.ceased_on, lapse.holder, lapse.certificate_id))


def contract_years(effective_on: date, today: date) -> list[tuple[int, date, date]]:
    """(number, first day, last day) of each contract year that has started by `today`.

    A year whose anniversary would fall after 31 December 9999 ends on that day, and the count
    stops there (app.domain.dates)."""
    years = []
    number = 1
    start = effective_on
    while start <= today:
        following = shift_years(effective_on, number)  # the next year's first day
        years.append((number, start, date.max if following is None else add_days(following, -1)))
        if following is None:
            break
        number += 1
        start = following
    return years


def _day(day: date) -> str:
    return f"{day:%A} {long_form(day)}"


def closure_notes(
    closures: Iterable[ClosureFact], start: date | None, due: date, agreed: Variation | None
) -> tuple[str, ...]:
    """What to say about the buyer's closure days that fall in the count (after `start`, up to
    and including `due`), or on `due` itself when the date is not counted from anything."""
    notes = []
    for closure in sorted(closures, key=lambda c: c.day):
        inside = start < closure.day <= due if start is not None else closure.day == due
        if not inside:
            continue
        if agreed is not None:
            notes.append(
                f"The buyer's office is closed on {_day(closure.day)} ({closure.reason}): not a"
                f" Working Day in this engagement, as the parties agreed ({agreed.reference})."
            )
        else:
            notes.append(
                f"The buyer's office is closed on {_day(closure.day)} ({closure.reason}). For"
                " information only: a closure day declared by one party does not move this date."
            )
    return tuple(notes)


def _within(period: Period) -> str:
    return f"Within {period.working_days} Working Days of {period.counted_from}"


def compute(
    history: History,
    profile: Profile,
    calendar: WorkingCalendar,
    *,
    today: date,
    variations: Iterable[Variation] = (),
    closures: Iterable[ClosureFact] = (),
) -> list[Deadline]:
    """Every deadline (and target) of the engagement, oldest first. `calendar` is the
    engagement's own (app.domain.calendar.contract_calendar); `variations` are those in force."""
    out: list[Deadline] = []
    eid = history.engagement_id
    agreed = tuple(variations)
    closed = tuple(closures)
    agreed_days = agreed_calendar(agreed)

    def add(
        kind: str,
        subject: str,
        due: date,
        rule: str,
        clause: str,
        done: date | None,
        *,
        start: date | None = None,
        period: Period | None = None,
        target: bool = False,
        direction: Variation | None = None,
        notes: tuple[str, ...] = (),
        **kw: Any,
    ) -> None:
        may_vary = period is not None and period.may_vary
        variation = for_deadline(agreed, kind, kw.get("object_id", "")) if may_vary else None
        rule_due = None
        if variation is not None and variation.due_on is not None:
            rule_due, due = due, variation.due_on
        out.append(
            Deadline(
                kind=kind,
                subject=subject,
                due_on=due,
                rule=rule,
                clause=clause,
                state=state_of(due, done, today, target=target),
                done_on=done,
                late=done is not None and done > due,
                engagement_id=eid,
                target=target,
                may_vary=may_vary,
                variation=variation or direction,
                rule_due_on=rule_due,
                notes=closure_notes(closed, start, due, agreed_days) + notes,
                **kw,
            )
        )

    subs = sorted(history.submissions, key=lambda s: s.version)
    decisions = {d.submission_id: d for d in history.decisions}
    fp = profile.first_plan
    add(
        "plan_due",
        "First Security Management Plan",
        calendar.add(history.effective_on, fp.working_days),
        _within(fp),
        fp.clause,
        subs[0].submitted_on if subs else None,
        start=history.effective_on,
        period=fp,
    )
    if profile.isms is not None:
        ip = profile.isms
        add(
            "isms_due",
            "Information security management system (ISMS) submitted for Approval",
            calendar.add(history.effective_on, ip.working_days),
            f"{_within(ip)}, or another date the Parties agree; {profile.isms_revision}",
            ip.clause,
            history.isms_submitted_on,
            start=history.effective_on,
            period=ip,
            notes=() if history.isms_submitted_on else (ISMS_NOT_RECORDED,),
        )
    for index, sub in enumerate(subs):
        decision = decisions.get(sub.id)
        if profile.decision is not None:
            dp = profile.decision
            add(
                "decision_due",
                f"Decision on plan version {sub.version}",
                calendar.add(sub.submitted_on, dp.working_days),
                _within(dp),
                dp.clause,
                decision.decided_on if decision else None,
                start=sub.submitted_on,
                period=dp,
                object_type="submission",
                object_id=sub.id,
                party="buyer",
            )
        if decision is not None and not decision.approved:
            rp = profile.revision
            following = subs[index + 1] if index + 1 < len(subs) else None
            add(
                "revision_due",
                f"Revised plan after the rejection of version {sub.version}",
                calendar.add(decision.decided_on, rp.working_days),
                _within(rp),
                rp.clause,
                following.submitted_on if following else None,
                start=decision.decided_on,
                period=rp,
                object_type="submission",
                object_id=sub.id,
            )
    if profile.approval_target is not None:
        tp = profile.approval_target
        for cycle in sorted({s.cycle for s in subs}):
            in_cycle = [s for s in subs if s.cycle == cycle]
            first = in_cycle[0]
            approved = next(
                (d.decided_on for s in in_cycle if (d := decisions.get(s.id)) is not None and d.approved),
                None,
            )
            add(
                "approval_target",
                f"Plan approved in approval cycle {cycle} (target)",
                calendar.add(first.submitted_on, tp.working_days),
                f"Target, not a deadline: the Parties use all reasonable endeavours to complete the"
                f" approval within {tp.working_days} Working Days of {tp.counted_from} of the cycle"
                f" (version {first.version}, {first.submitted_on.isoformat()})",
                tp.clause,
                approved,
                start=first.submitted_on,
                period=tp,
                target=True,
                object_type="submission",
                object_id=first.id,
                party="joint",
                cycle=cycle,
            )
    for number, start, end in contract_years(history.effective_on, today):
        reviewed = next((s.submitted_on for s in subs if start <= s.submitted_on <= end), None)
        add(
            "annual_review_due",
            f"Plan reviewed in contract year {number}",
            end,
            f"Plan reviewed and provided {profile.review}",
            profile.review_clause,
            reviewed,
        )
    notices = sorted(history.notices, key=lambda n: n.filed_on)
    for notice in notices:
        if notice.certification:
            continue
        if profile.change_notice is not None:
            cp = profile.change_notice
            add(
                "change_notice_due",
                f"Change notice: {notice.label}",
                calendar.add(notice.aware_on, cp.working_days),
                _within(cp),
                cp.clause,
                notice.filed_on,
                start=notice.aware_on,
                period=cp,
                object_type="change_notice",
                object_id=notice.id,
            )
        if profile.register_update is not None:
            up = profile.register_update
            updated = next((s.submitted_on for s in subs if s.submitted_on >= notice.filed_on), None)
            add(
                "register_update_due",
                f"Required Changes Register updated for: {notice.label}",
                calendar.add(notice.filed_on, up.working_days),
                f"{_within(up)}, submitted for review",
                up.clause,
                updated,
                start=notice.filed_on,
                period=up,
                object_type="change_notice",
                object_id=notice.id,
            )
    if profile.certification_notice is not None:
        _certification(history, profile.certification_notice, calendar, notices, add)
    for entry in history.entries:
        if entry.agreed_on is not None and profile.register_update is not None:
            add(
                "register_entry_due",
                f"Required change: {entry.title}",
                entry.agreed_on,
                "Implemented by the date agreed with the buyer; otherwise cease processing buyer data"
                " unless the buyer directs otherwise in writing",
                "Schedule 2.4 para 5.5",
                entry.implemented_on,
                direction=direction_for(agreed, entry.id),
                object_type="register_entry",
                object_id=entry.id,
            )
    out.sort(key=lambda d: (d.due_on, d.kind))
    return out


def _certification(
    history: History,
    period: Period,
    calendar: WorkingCalendar,
    notices: list[NoticeFact],
    add: Callable[..., None],
) -> None:
    """The para 6.6 notices: one for each lapse the register shows, met by the first
    certification notice filed on or after the day compliance ceased; and one for each
    certification notice that met none of them, counted from the date it gives."""
    filed = [n for n in notices if n.certification]
    used: set[str] = set()
    for lapse in history.lapses:
        notice = next((n for n in filed if n.filed_on >= lapse.ceased_on), None)
        if notice is not None:
            used.add(notice.id)
        add(
            "certification_notice_due",
            f"Notice of lost certification: {SCHEME_LABELS[lapse.scheme]} of {lapse.holder}"
            f" {lapse.how} on {lapse.ceased_on.isoformat()}",
            calendar.add(lapse.ceased_on, period.working_days),
            f"{_within(period)} ({lapse.requirement} no longer met); no Required Changes Register"
            " update unless a para 5.2 event is notified too",
            period.clause,
            notice.filed_on if notice else None,
            start=lapse.ceased_on,
            period=period,
            object_type="certificate",
            object_id=lapse.certificate_id,
        )
    for notice in filed:
        if notice.id in used:
            continue
        add(
            "certification_notice_due",
            f"Notice of lost certification: {notice.label}",
            calendar.add(notice.aware_on, period.working_days),
            f"{_within(period)} (the date given in the notice); no Required Changes Register update"
            " unless a para 5.2 event is notified too",
            period.clause,
            notice.filed_on,
            start=notice.aware_on,
            period=period,
            object_type="change_notice",
            object_id=notice.id,
        )
