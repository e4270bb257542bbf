"""Sending reminders exactly once: gather dated items, record what is due, notify, then mail.

One run (`run`):

1. takes the sender lease: a conditional UPDATE of the single `reminder_run` row that succeeds
   only when no other process holds an unexpired lease, so one process sends even when several
   run `attest remind` (works the same on SQLite and PostgreSQL);
2. in one transaction, computes the reminders due since the last run (app.domain.reminders),
   records each (key, recipient) in `reminder_sent` with its in-app notification, moves the
   last-run day forward, and commits: from here on a reminder can never be recorded twice
   (the pair is also a unique constraint);
3. mails the recorded rows not yet sent, each claimed by a conditional UPDATE (attempt count and
   claim time, committed) before the SMTP call and marked sent after it: a crash between record
   and send leaves an unclaimed row that the next run sends; a crash during the SMTP call leaves
   a claim that expires after CLAIM_TIMEOUT, then the row is retried; a row being sent by one
   process is never picked up by another, and nothing marked sent is sent again;
4. gives the lease back.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.config import Settings
from app.db import session_scope
from app.domain import reminders as rules
from app.domain.access import Role
from app.domain.certificates import SCHEME_LABELS, Scheme
from app.domain.dates import add_days
from app.domain.deadlines import Deadline
from app.mail import Mailer, absolute, render
from app.models import (
    Certificate,
    Engagement,
    Notification,
    NotificationPreference,
    Organisation,
    ReminderRun,
    ReminderSent,
    Subcontractor,
    User,
    utcnow,
)
from app.services.deadlines import engagement_deadlines

log = logging.getLogger("attest.reminders")
LEASE = timedelta(minutes=15)
MAX_ATTEMPTS = 5
CLAIM_TIMEOUT = timedelta(minutes=10)  # a claim older than this belongs to a sender that died mid-send
WHY = {
    "certificate_expiry": "Certificates must be held for the whole contract (CPS Security Policy 1.6; "
    "Schedule 2.4 para 6): renew before expiry, and tell the buyer within 2 Working Days if one lapses "
    "(para 6.6).",
    "certificate_submission": "Certificates must be submitted to the buyer every year "
    "(CPS Security Policy 1.6).",
    "annual_review": "The Security Management Plan is reviewed at least once each contract year "
    "(Schedule 2.4 para 5.1).",
    "workflow_deadline": "This deadline comes from the approval workflow of the contract.",
    "escalation": "This item is overdue, so the buyer's security advisors are told too.",
}


# --- what is dated ----------------------------------------------------------------------------


def workflow_deadlines(session: Session, engagement: Engagement, *, today: date) -> list[Deadline]:
    """The approval workflow's deadlines, as app.services.deadlines computes them."""
    return engagement_deadlines(session, engagement, today=today)


def certificate_items(session: Session, supplier_ids: Iterable[str] | None = None) -> list[rules.Item]:
    """Each certificate's expiry; one superseded by a later certificate (same holder and scheme)
    counts as done, so renewing stops the reminders of the old one."""
    query = select(Certificate).where(col(Certificate.withdrawn_at).is_(None))
    if supplier_ids is not None:
        query = query.where(col(Certificate.supplier_org_id).in_(list(supplier_ids)))
    certificates = list(session.exec(query))
    names = {o.id: o.name for o in session.exec(select(Organisation))}
    subs = {s.id: s.name for s in session.exec(select(Subcontractor))}
    latest: dict[tuple[str, str, str], date] = {}
    for c in certificates:
        key = (c.supplier_org_id, c.subcontractor_id or "", c.scheme.value)
        latest[key] = max(latest.get(key, date.min), c.expires_on or date.max)
    items = []
    for c in certificates:
        if c.expires_on is None:
            continue
        holder = subs.get(c.subcontractor_id or "", "") or names.get(c.supplier_org_id, "the supplier")
        key = (c.supplier_org_id, c.subcontractor_id or "", c.scheme.value)
        items.append(
            rules.Item(
                kind=rules.CERTIFICATE_EXPIRY,
                object_id=c.id,
                due_on=c.expires_on,
                subject=f"The {SCHEME_LABELS[Scheme(c.scheme)]} certificate of {holder}",
                link=f"/certificates/{c.id}",
                supplier_org_id=c.supplier_org_id,
                done=latest[key] > c.expires_on,
            )
        )
    return items


def engagement_items(
    session: Session,
    engagements: Iterable[Engagement],
    *,
    start: date,
    end: date,
    today: date,
    skipped: list[str] | None = None,
) -> list[rules.Item]:
    """Annual certificate submissions (contract-year anniversaries) and workflow deadlines.

    One engagement whose items cannot be computed is logged, named in `skipped` and left out,
    so it never stops the reminders (or the pages) of every other engagement and tenant."""
    buyers = {o.id: o.name for o in session.exec(select(Organisation))}
    items = []
    for e in engagements:
        try:
            items += _items_of(session, e, buyers.get(e.buyer_org_id, "the buyer"), start, end, today)
        except Exception:  # isolate one engagement's failure from the rest
            log.exception("dated items of engagement %s (%s) skipped", e.id, e.reference)
            if skipped is not None:
                skipped.append(f"engagement {e.reference} ({e.id})")
    return items


def _items_of(
    session: Session, e: Engagement, buyer: str, start: date, end: date, today: date
) -> list[rules.Item]:
    link = f"/engagements/{e.id}"
    items = [
        rules.Item(
            kind=rules.CERTIFICATE_SUBMISSION,
            object_id=e.id,
            due_on=day,
            subject=f"The annual submission of certificates to {buyer} for {e.reference}",
            link=link,
            supplier_org_id=e.supplier_org_id,
            engagement_id=e.id,
        )
        for day in rules.anniversaries(e.effective_on, start, end)
    ]
    for deadline in workflow_deadlines(session, e, today=today):
        items.append(rules.from_deadline(deadline, supplier_org_id=e.supplier_org_id, link=link))
    return items


def all_items(
    session: Session, *, start: date, end: date, today: date, skipped: list[str] | None = None
) -> list[rules.Item]:
    engagements = list(session.exec(select(Engagement)))
    # Anniversaries are looked for far enough ahead for the earliest rule (30 days before).
    return certificate_items(session) + engagement_items(
        session, engagements, start=start, end=add_days(end, 61), today=today, skipped=skipped
    )


# --- who hears about it -----------------------------------------------------------------------


@dataclass
class Audiences:
    leads: dict[str, list[User]] = field(default_factory=lambda: defaultdict(list))  # supplier org -> leads
    advisors: dict[str, list[User]] = field(
        default_factory=lambda: defaultdict(list)
    )  # buyer org -> advisors
    buyers_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))  # supplier -> buyer orgs
    buyer_of_engagement: dict[str, str] = field(default_factory=dict)

    def recipients(self, reminder: rules.Reminder) -> list[User]:
        item = reminder.item
        if reminder.rule.audience == "supplier":
            return list(self.leads.get(item.supplier_org_id, []))
        buyer_orgs = (
            {self.buyer_of_engagement[item.engagement_id]}
            if item.engagement_id in self.buyer_of_engagement
            else self.buyers_of.get(item.supplier_org_id, set())
        )
        return [u for org in sorted(buyer_orgs) for u in self.advisors.get(org, [])]


def audiences(session: Session) -> Audiences:
    out = Audiences()
    for user in session.exec(select(User).where(col(User.disabled_at).is_(None)).order_by(col(User.email))):
        if user.role is Role.SUPPLIER_LEAD:
            out.leads[user.organisation_id].append(user)
        elif user.role is Role.BUYER_ADVISOR:
            out.advisors[user.organisation_id].append(user)
    for e in session.exec(select(Engagement)):
        out.buyers_of[e.supplier_org_id].add(e.buyer_org_id)
        out.buyer_of_engagement[e.id] = e.buyer_org_id
    return out


def email_wanted(session: Session) -> dict[tuple[str, str], bool]:
    return {(p.user_id, p.category): p.email for p in session.exec(select(NotificationPreference))}


# --- the run ----------------------------------------------------------------------------------


@dataclass
class RunResult:
    as_of: date
    ran: bool = True
    window: tuple[date, date] | None = None
    recorded: int = 0
    emailed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # engagements whose items could not be computed

    def to_dict(self) -> dict[str, object]:
        return {
            "as_of": self.as_of.isoformat(),
            "ran": self.ran,
            "window": [d.isoformat() for d in self.window] if self.window else None,
            "recorded": self.recorded,
            "emailed": self.emailed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
        }


def new_owner() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _ensure_run_row(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        if session.get(ReminderRun, 1) is not None:
            return
        session.add(ReminderRun(id=1))
        try:
            session.commit()
        except IntegrityError:  # another process made it first
            session.rollback()


def acquire_lease(engine: Engine, owner: str, *, now: datetime | None = None) -> bool:
    """Take the sender lease if nobody holds a live one; True when this owner now holds it."""
    _ensure_run_row(engine)
    now = now or utcnow()
    with session_scope(engine, write=True) as session:
        result = session.execute(
            update(ReminderRun)
            .where(
                col(ReminderRun.id) == 1,
                or_(
                    col(ReminderRun.lease_until).is_(None),
                    col(ReminderRun.lease_until) < now,
                    col(ReminderRun.lease_owner) == owner,
                ),
            )
            .values(lease_owner=owner, lease_until=now + LEASE)
        )
        session.commit()
        return bool(getattr(result, "rowcount", 0) == 1)


def release_lease(engine: Engine, owner: str) -> None:
    with session_scope(engine, write=True) as session:
        session.execute(
            update(ReminderRun)
            .where(col(ReminderRun.id) == 1, col(ReminderRun.lease_owner) == owner)
            .values(lease_owner="", lease_until=None, finished_at=utcnow())
        )
        session.commit()


def record_due(
    engine: Engine, *, as_of: date, skipped: list[str] | None = None
) -> tuple[tuple[date, date] | None, int]:
    """Record (and notify in-app) every reminder due since the last run, in one transaction.
    Engagements whose items could not be computed are named in `skipped`."""
    with session_scope(engine, write=True) as session:
        run = session.get(ReminderRun, 1) or ReminderRun(id=1)
        last = run.last_run_on
        if last is not None and as_of <= last:
            return None, 0
        start, end = rules.window(last, as_of)
        items = all_items(session, start=start, end=end, today=as_of, skipped=skipped)
        due = rules.due(items, rules.RULES, last, as_of)
        people = audiences(session)
        prefs = email_wanted(session)
        keys = {r.key for r in due}
        existing = (
            set(
                session.exec(
                    select(ReminderSent.key, ReminderSent.recipient_id).where(col(ReminderSent.key).in_(keys))
                ).all()
            )
            if keys
            else set()
        )
        recorded = 0
        for reminder in due:
            for user in people.recipients(reminder):
                if (reminder.key, user.id) in existing:
                    continue
                existing.add((reminder.key, user.id))
                category = reminder.rule.category
                session.add(
                    ReminderSent(
                        key=reminder.key,
                        recipient_id=user.id,
                        category=category,
                        subject=reminder.text[:300],
                        link=reminder.item.link,
                        due_on=reminder.item.due_on,
                        send_on=reminder.send_on,
                        email_wanted=prefs.get((user.id, category), True),
                    )
                )
                session.add(
                    Notification(
                        user_id=user.id,
                        category=category,
                        subject=reminder.text[:300],
                        link=reminder.item.link,
                        reminder_key=reminder.key,
                    )
                )
                recorded += 1
        run.last_run_on = as_of
        session.add(run)
        session.commit()
        return (start, end), recorded


def pending_ids(engine: Engine) -> list[str]:
    with session_scope(engine) as session:
        query = (
            select(ReminderSent.id)
            .where(
                col(ReminderSent.email_wanted).is_(True),
                col(ReminderSent.sent_at).is_(None),
                col(ReminderSent.attempts) < MAX_ATTEMPTS,
            )
            .order_by(col(ReminderSent.recorded_at), col(ReminderSent.id))
        )
        return list(session.exec(query))


def _claim(engine: Engine, row_id: str) -> ReminderSent | None:
    """Claim a pending row for sending (committed before the mail goes): count the attempt and
    stamp the claim, unless another sender holds a fresh claim on it. None when it is taken."""
    now = utcnow()
    with session_scope(engine, write=True) as session:
        result = session.execute(
            update(ReminderSent)
            .where(
                col(ReminderSent.id) == row_id,
                col(ReminderSent.sent_at).is_(None),
                col(ReminderSent.attempts) < MAX_ATTEMPTS,
                or_(
                    col(ReminderSent.claimed_at).is_(None), col(ReminderSent.claimed_at) < now - CLAIM_TIMEOUT
                ),
            )
            .values(attempts=ReminderSent.attempts + 1, claimed_at=now)
        )
        session.commit()
        if getattr(result, "rowcount", 0) != 1:
            return None
        return session.get(ReminderSent, row_id)


def _finish(engine: Engine, row_id: str, *, error: str = "") -> None:
    """Mark the row sent, or release the claim with the error so a later run tries again."""
    values: dict[str, object] = (
        {"last_error": error[:1000], "claimed_at": None} if error else {"sent_at": utcnow(), "last_error": ""}
    )
    with session_scope(engine, write=True) as session:
        session.execute(update(ReminderSent).where(col(ReminderSent.id) == row_id).values(**values))
        session.commit()


def deliver_pending(engine: Engine, mailer: Mailer, settings: Settings, result: RunResult) -> None:
    """Mail every recorded reminder not yet accepted by the mail server."""
    with session_scope(engine) as session:
        users = {u.id: u for u in session.exec(select(User))}
    for row_id in pending_ids(engine):
        row = _claim(engine, row_id)
        if row is None:
            continue
        user = users.get(row.recipient_id)
        if user is None or user.disabled_at is not None:
            _finish(engine, row.id, error="recipient disabled")
            continue
        message = render(
            "reminder",
            settings,
            to=user.email,
            subject=f"Attest reminder: {row.subject}",
            message_id=f"<reminder-{row.id}@attest.invalid>",
            name=user.name,
            text=row.subject,
            link=absolute(settings, row.link),
            why=WHY.get(row.category, ""),
            category=rules.CATEGORIES.get(row.category, row.category),
        )
        try:
            mailer.send(message)
        except Exception as error:  # any mail failure: keep the row pending for the next run
            log.warning("reminder %s to %s not sent: %s", row.key, user.email, error)
            _finish(engine, row.id, error=str(error) or type(error).__name__)
            result.failed += 1
            result.errors.append(f"{user.email}: {error}")
            continue
        _finish(engine, row.id)
        result.emailed += 1


def run(
    engine: Engine, mailer: Mailer, settings: Settings, *, as_of: date, owner: str | None = None
) -> RunResult:
    """One reminder run as of `as_of` (see the module docstring)."""
    owner = owner or new_owner()
    result = RunResult(as_of=as_of)
    if not acquire_lease(engine, owner):
        result.ran = False
        return result
    try:
        result.window, result.recorded = record_due(engine, as_of=as_of, skipped=result.skipped)
        deliver_pending(engine, mailer, settings, result)
    finally:
        release_lease(engine, owner)
    return result
