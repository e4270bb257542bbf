"""Reminders: which are due, as data, computed for any day, catching up on missed days.

Rules (each is a row of RULES: the kind of dated item it applies to, how many days before
(negative) or after (positive) the due date it is sent, and to whom):

- certificate expiry: 60, 30 and 7 days before, on the day, and 7 days after (IASME's own
  30/7/+7 reminders, CE-CERT-09, plus an early 60-day notice so renewal can be booked);
  the one after expiry also goes to the buyer's advisors. Certificates must be maintained
  for the whole contract (CPS Security Policy 1.6; Schedule 2.4 para 6.1-6.3, 6.6).
- evidence expiry (an evidence item given an expiry date, other than a certificate's own file,
  which the certificate's reminders cover): 30 and 7 days before and on the day, to the
  supplier, so what the plan relies on is renewed before it lapses (Schedule 2.4 para 5.1:
  the plan is kept up to date).
- annual certificate submission to the buyer on each contract-year anniversary (CPS Security
  Policy 1.6 "submitted to the CPS annually"): 30 and 7 days before and on the day.
- the Security Management Plan annual review (Schedule 2.4 para 5.1; Call Off Schedule 7
  short form para 4.4.1, long form para 5.1): 30 and 7 days before and on the day.
- every approval workflow deadline (app.domain.deadlines): plan due, revision due, register
  entries and updates due, change notices (to the supplier); decision due (Schedule 2.4 para
  4.5, to the buyer's advisors): 5 and 1 days before and on the day. A notice of lost
  certification (Schedule 2.4 para 6.6) exists only from the day compliance ceased, 2 Working
  Days before it falls: the supplier hears of it the day before and on the day.
- escalation: a workflow deadline still not met the day after it falls is escalated to the
  buyer's advisors; an overdue decision is escalated to them again.
- the approval target of Call Off Schedule 7 (short form 4.3.2, long form 4.3) binds the parties
  jointly: both the supplier's leads and the buyer's advisors hear of it 5 and 1 days before
  and on the day; a target is never escalated (passing it is nobody's default).
- the ISMS (Call Off Schedule 7 long form para 3.1): the supplier hears of it 5 and 1 days
  before and on the day, never after, because Attest does not record ISMS submissions and so
  cannot tell whether it is late.

The calculation: given the dated items, the rules, the day of the last run (None on a first
run) and the day to evaluate, every (rule, item) whose send day is in (last_run, as_of] is
due, so a run after missed days catches up on all of them. A first run looks back
FIRST_RUN_LOOKBACK_DAYS only, so a new installation does not mail years of history. Items
already done are never reminded. Each reminder has a unique key `rule:object:due_date`;
the sender records that key (per recipient) before sending, which makes each reminder go
out once however often it runs. A send day that would fall outside Python's calendar (a due
date stored at 0001-01-01 or 9999-12-31) does not exist, so that reminder is never due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Literal

from app.domain.dates import add_days, shift
from app.domain.deadlines import Deadline
from app.domain.reminders_events import EVENT_CATEGORIES

Audience = Literal["supplier", "buyer"]
FIRST_RUN_LOOKBACK_DAYS = 7
# The "due soon" panel of the home page (a product choice, not a contract clause): what falls due
# within the next DUE_SOON_DAYS, and what fell overdue within the last DUE_SOON_PAST_DAYS.
DUE_SOON_DAYS = 30
DUE_SOON_PAST_DAYS = 30


def due_soon_window(today: date) -> tuple[date, date]:
    """The days the "due soon" panel shows items for, first and last included."""
    return add_days(today, -DUE_SOON_PAST_DAYS), add_days(today, DUE_SOON_DAYS)


CERTIFICATE_EXPIRY = "certificate_expiry"
EVIDENCE_EXPIRY = "evidence_expiry"
CERTIFICATE_SUBMISSION = "certificate_submission"
ANNUAL_REVIEW = "annual_review_due"
SUPPLIER_DEADLINES = (
    "plan_due",
    "revision_due",
    "register_update_due",
    "register_entry_due",
    "change_notice_due",
    "certification_notice_due",
)
# Deadlines that exist only from the event they count from, 2 Working Days before they fall: a
# reminder 5 days ahead would predate the event, so only the day before and the day itself.
SHORT_NOTICE_DEADLINES = ("certification_notice_due",)
BUYER_DEADLINES = ("decision_due",)
JOINT_TARGETS = ("approval_target",)
UNRECORDED_DEADLINES = ("isms_due",)  # reminded before, never escalated (nothing can meet them)


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    item_kind: str
    offset_days: int  # send day = due day + offset
    audience: Audience
    category: str  # what people switch email on or off for
    phrase: str  # how the message words it, e.g. "expires in 30 days"


def _certificate_rules() -> list[Rule]:
    rows = [
        (-60, "expires in 60 days"),
        (-30, "expires in 30 days"),
        (-7, "expires in 7 days"),
        (0, "expires today"),
    ]
    rules = [
        Rule(f"cert-expiry{d:+d}", CERTIFICATE_EXPIRY, d, "supplier", "certificate_expiry", p)
        for d, p in rows
    ]
    for audience in ("supplier", "buyer"):
        rules.append(
            Rule(
                f"cert-expired+7-{audience}",
                CERTIFICATE_EXPIRY,
                7,
                audience,
                "certificate_expiry",
                "expired 7 days ago",
            )
        )
    return rules


def _evidence_rules() -> list[Rule]:
    rows = [(-30, "expires in 30 days"), (-7, "expires in 7 days"), (0, "expires today")]
    return [
        Rule(f"evidence-expiry{d:+d}", EVIDENCE_EXPIRY, d, "supplier", "evidence_expiry", p) for d, p in rows
    ]


def _yearly_rules(kind: str, prefix: str, category: str) -> list[Rule]:
    rows = [(-30, "is due in 30 days"), (-7, "is due in 7 days"), (0, "is due today")]
    return [Rule(f"{prefix}{d:+d}", kind, d, "supplier", category, p) for d, p in rows]


def _deadline_rules() -> list[Rule]:
    rows = [(-5, "is due in 5 days"), (-1, "is due tomorrow"), (0, "is due today")]
    rules: list[Rule] = []
    for kind in SUPPLIER_DEADLINES:
        offsets = rows[1:] if kind in SHORT_NOTICE_DEADLINES else rows
        rules += [Rule(f"{kind}{d:+d}", kind, d, "supplier", "workflow_deadline", p) for d, p in offsets]
        rules.append(Rule(f"{kind}-escalated", kind, 1, "buyer", "escalation", "is overdue (escalated)"))
    for kind in BUYER_DEADLINES:
        rules += [Rule(f"{kind}{d:+d}", kind, d, "buyer", "workflow_deadline", p) for d, p in rows]
        rules.append(Rule(f"{kind}-escalated", kind, 1, "buyer", "escalation", "is overdue"))
    targets = [
        (-5, "reaches its target date in 5 days"),
        (-1, "reaches its target date tomorrow"),
        (0, "reaches its target date today"),
    ]
    both: tuple[Audience, ...] = ("supplier", "buyer")
    for kind in JOINT_TARGETS:
        for audience in both:
            rules += [
                Rule(f"{kind}{d:+d}-{audience}", kind, d, audience, "workflow_deadline", p)
                for d, p in targets
            ]
    for kind in UNRECORDED_DEADLINES:
        rules += [Rule(f"{kind}{d:+d}", kind, d, "supplier", "workflow_deadline", p) for d, p in rows]
    return rules


RULES: tuple[Rule, ...] = (
    *_certificate_rules(),
    *_evidence_rules(),
    *_yearly_rules(CERTIFICATE_SUBMISSION, "cert-submission", "certificate_submission"),
    *_yearly_rules(ANNUAL_REVIEW, "annual-review", "annual_review"),
    *_deadline_rules(),
)
CATEGORIES = {
    "certificate_expiry": "Certificate expiry",
    "certificate_submission": "Annual certificate submission",
    "annual_review": "Security Management Plan annual review",
    "workflow_deadline": "Approval workflow deadlines",
    "escalation": "Overdue items escalated",
    "evidence_expiry": "Evidence expiry",
    **EVENT_CATEGORIES,
}


@dataclass(frozen=True, slots=True)
class Item:
    """Something with a due date that people are reminded of."""

    kind: str
    object_id: str
    due_on: date
    subject: str  # e.g. "Cyber Essentials Plus certificate of Northwind Ltd"
    link: str  # path of the page concerned, e.g. "/certificates/abc"
    supplier_org_id: str
    engagement_id: str = ""
    done: bool = False


@dataclass(frozen=True, slots=True)
class Reminder:
    rule: Rule
    item: Item
    send_on: date

    @property
    def key(self) -> str:
        return f"{self.rule.id}:{self.item.object_id}:{self.item.due_on.isoformat()}"

    @property
    def text(self) -> str:
        return f"{self.item.subject} {self.rule.phrase} ({self.item.due_on.isoformat()})"


def from_deadline(deadline: Deadline, *, supplier_org_id: str, link: str) -> Item:
    """A workflow deadline as a remindable item (its object id keeps kinds apart)."""
    return Item(
        kind=deadline.kind,
        object_id=f"{deadline.kind}.{deadline.object_id or deadline.engagement_id}",
        due_on=deadline.due_on,
        subject=deadline.subject,
        link=link,
        supplier_org_id=supplier_org_id,
        engagement_id=deadline.engagement_id,
        done=deadline.state == "met",
    )


def window(last_run: date | None, as_of: date) -> tuple[date, date]:
    """The send days a run covers: after `last_run` up to and including `as_of`."""
    start = add_days(last_run, 1) if last_run else add_days(as_of, -FIRST_RUN_LOOKBACK_DAYS)
    return start, as_of


def due(items: Iterable[Item], rules: Iterable[Rule], last_run: date | None, as_of: date) -> list[Reminder]:
    """Every reminder whose send day falls in (last_run, as_of], oldest first."""
    start, end = window(last_run, as_of)
    by_kind: dict[str, list[Rule]] = {}
    for rule in rules:
        by_kind.setdefault(rule.item_kind, []).append(rule)
    out: list[Reminder] = []
    for item in items:
        if item.done:
            continue
        for rule in by_kind.get(item.kind, []):
            send_on = shift(item.due_on, rule.offset_days)
            if send_on is not None and start <= send_on <= end:  # None: past the calendar's end
                out.append(Reminder(rule, item, send_on))
    out.sort(key=lambda r: (r.send_on, r.key))
    return out


def anniversaries(effective_on: date, start: date, end: date) -> list[date]:
    """Contract-year anniversaries of `effective_on` within [start, end] (29 Feb -> 28 Feb)."""
    out: list[date] = []
    year = max(effective_on.year + 1, start.year)
    while year <= date.max.year:  # no anniversary after the calendar's last year
        try:
            day = effective_on.replace(year=year)
        except ValueError:
            day = date(year, 2, 28)
        if day > end:
            break
        if day >= start:
            out.append(day)
        year += 1
    return out
