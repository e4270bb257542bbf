"""Deadlines of the approval workflow, computed from what happened, never typed in.

Each deadline carries the rule and the clause that produced it. Its state is:

- "met": the thing was done (`done_on`); `late` says whether after `due_on`;
- "due": not done yet and `due_on` is today or later;
- "overdue": not done and `due_on` has passed.

Rules (periods come from the engagement's workflow profile, see app.domain.workflow):

- plan_due: first plan within N Working Days of the effective date (Schedule 2.4 para 4.4;
  Call Off Schedule 7 para 4.3.1); met by the first submission.
- decision_due: Schedule 2.4 para 4.5, within 20 Working Days of receipt of each
  submission; Call Off Schedule 7 para 4.3.2, the whole approval within 15 Working Days
  of the first submission of the cycle. Met by the decision on that submission.
- revision_due: within 10 Working Days of each rejection (para 4.6 / para 4.3.2); met by
  the next submission.
- annual_review_due: the plan reviewed and provided at least once each Contract Year
  (para 5.1 / para 4.4.1): due on the last day of each contract year, met by any
  submission during that year.
- change_notice_due: notice within 2 Working Days after becoming aware (para 5.2, 6.6).
- register_update_due: the Required Changes Register updated and submitted within 10
  Working Days of the notice (para 5.3); met by the next submission.
- register_entry_due: each change implemented by the date agreed (para 5.5); an overdue
  one means the supplier must cease processing buyer data.

Dates are added with app.domain.dates, which saturates at 31 December 9999: a date stored
outside the entry window gives a deadline on that day, never an error.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from app.domain.calendar import WorkingCalendar
from app.domain.dates import add_days, shift_years
from app.domain.workflow import Profile

State = Literal["met", "due", "overdue"]


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
    party: Literal["supplier", "buyer"] = "supplier"  # who must act

    def to_dict(self) -> dict[str, Any]:
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
        }


def state_of(due_on: date, done_on: date | None, today: date) -> State:
    if done_on is not None:
        return "met"
    return "overdue" if today > due_on else "due"


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
    aware_on: date
    filed_on: date


@dataclass(frozen=True, slots=True)
class EntryFact:
    id: str
    title: str
    agreed_on: date | None
    implemented_on: date | None


@dataclass(frozen=True, slots=True)
class History:
    """Everything that happened in one engagement that deadlines depend on."""

    engagement_id: str
    effective_on: date
    submissions: tuple[SubmissionFact, ...] = ()
    decisions: tuple[DecisionFact, ...] = ()
    notices: tuple[NoticeFact, ...] = ()
    entries: tuple[EntryFact, ...] = ()


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


def compute(history: History, profile: Profile, calendar: WorkingCalendar, *, today: date) -> list[Deadline]:
    """Every deadline of the engagement, oldest first."""
    out: list[Deadline] = []
    eid = history.engagement_id

    def add(kind: str, subject: str, due: date, rule: str, clause: str, done: date | None, **kw: Any) -> None:
        out.append(
            Deadline(
                kind=kind,
                subject=subject,
                due_on=due,
                rule=rule,
                clause=clause,
                state=state_of(due, done, today),
                done_on=done,
                late=done is not None and done > due,
                engagement_id=eid,
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
        f"Within {fp.working_days} Working Days of {fp.counted_from}",
        fp.clause,
        subs[0].submitted_on if subs else None,
    )
    for index, sub in enumerate(subs):
        first_of_cycle = next(s for s in subs if s.cycle == sub.cycle)
        dp = profile.decision
        start = first_of_cycle.submitted_on if profile.decision_from_first_submission else sub.submitted_on
        decision = decisions.get(sub.id)
        add(
            "decision_due",
            f"Decision on plan version {sub.version}",
            calendar.add(start, dp.working_days),
            f"Within {dp.working_days} Working Days of {dp.counted_from}",
            dp.clause,
            decision.decided_on if decision else None,
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
                f"Within {rp.working_days} Working Days of {rp.counted_from}",
                rp.clause,
                following.submitted_on if following else None,
                object_type="submission",
                object_id=sub.id,
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
    for notice in sorted(history.notices, key=lambda n: n.filed_on):
        if profile.change_notice is not None:
            cp = profile.change_notice
            add(
                "change_notice_due",
                f"Change notice: {notice.label}",
                calendar.add(notice.aware_on, cp.working_days),
                f"Within {cp.working_days} Working Days of {cp.counted_from}",
                cp.clause,
                notice.filed_on,
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
                f"Within {up.working_days} Working Days of {up.counted_from}, submitted for review",
                up.clause,
                updated,
                object_type="change_notice",
                object_id=notice.id,
            )
    for entry in history.entries:
        if entry.agreed_on is not None and profile.register_update is not None:
            add(
                "register_entry_due",
                f"Required change: {entry.title}",
                entry.agreed_on,
                "Implemented by the date agreed with the buyer; otherwise cease processing buyer data",
                "Schedule 2.4 para 5.5",
                entry.implemented_on,
                object_type="register_entry",
                object_id=entry.id,
            )
    out.sort(key=lambda d: (d.due_on, d.kind))
    return out
