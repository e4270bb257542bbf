"""Sending reminders exactly once: gather dated items, record what is due, notify, then mail.

One run (`run`):

1. takes the sender lease: a conditional UPDATE of the single `reminder_run` row that succeeds
   only when no other process holds an unexpired lease, so one process sends even when several
   run `attest remind` (works the same on SQLite and PostgreSQL);
2. plans the sweep (a read: the window since the last run, the engagements, the suppliers
   holding certificates), then for each engagement, and each supplier's certificates, computes
   the reminders due (app.domain.reminders) outside any write transaction and records each
   (key, recipient) in `reminder_sent` with its in-app notification in one short write
   transaction of that unit alone (no transaction spans two engagements, so answer saves never
   wait on a sweep); a unit is idempotent (the pair is also a unique constraint), so a unit
   run twice or retried records nothing twice; only when every unit is recorded does the
   last-run day move forward (a sweep that dies part-way is simply evaluated again);
3. mails the recorded rows not yet sent, each claimed by a conditional UPDATE (attempt count and
   claim time, committed) before the SMTP call and marked sent after it: a crash between record
   and send leaves an unclaimed row that the next run sends; a crash during the SMTP call leaves
   a claim that expires after CLAIM_TIMEOUT, then the row is retried; a row being sent by one
   process is never picked up by another, and nothing marked sent is sent again;
4. gives the lease back.

`attest remind` runs these steps in process; `attest worker` runs the same functions as
queue jobs (app.jobs: one job per unit, one per mail), with the same guarantees.

Event notifications (app.services.events) are rows of the same ledger, recorded by the use case
that made the change (key `event:<kind>:<object id>`); step 3 mails them like reminders, with
their own template, so an event whose mail job never ran is sent by the next run.
"""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import insert, or_, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.adapters.mail import Mailer, Message, absolute, render
from app.config import Settings
from app.db import session_scope
from app.domain import reminders as rules
from app.domain import reminders_events as kinds
from app.domain.access import Role
from app.domain.certificates import SCHEME_LABELS, Scheme
from app.domain.dates import add_days
from app.domain.deadlines import Deadline
from app.models import (
    Certificate,
    Engagement,
    Evidence,
    Notification,
    NotificationPreference,
    ReminderRun,
    ReminderSent,
    Subcontractor,
    User,
    new_id,
    utcnow,
)
from app.services.engagements import organisation_names
from app.services.timelines import timelines

log = logging.getLogger("attest.reminders")
# Engagements whose due reminders one read computes (each is still written in its own transaction).
READ_BATCH = 25
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
    "(Schedule 2.4 para 5.1; Call Off Schedule 7 short form para 4.4.1, long form para 5.1).",
    "workflow_deadline": "This deadline (or target) comes from the approval workflow of the contract; "
    "its page names the clause.",
    "escalation": "This item is overdue, so the buyer's security advisors are told too.",
    "evidence_expiry": "Evidence the plan relies on should stay current (Schedule 2.4 para 5.1: the plan "
    "is kept up to date): upload a new version before this one expires.",
}


# --- what is dated ----------------------------------------------------------------------------


def certificate_items(
    session: Session,
    supplier_ids: Iterable[str] | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
) -> list[rules.Item]:
    """Each certificate's expiry (only those in [start, end] when given); one superseded by a
    later certificate (same holder and scheme) counts as done, so renewing stops the reminders
    of the old one. Read as plain rows, and names only of the holders listed."""
    query = sa.select(
        col(Certificate.id),
        col(Certificate.supplier_org_id),
        col(Certificate.subcontractor_id),
        col(Certificate.scheme),
        col(Certificate.expires_on),
    ).where(col(Certificate.withdrawn_at).is_(None))
    if supplier_ids is not None:
        query = query.where(col(Certificate.supplier_org_id).in_(list(supplier_ids)))
    certificates = list(session.execute(query))
    latest: dict[tuple[str, str, str], date] = {}
    for c in certificates:
        key = (c.supplier_org_id, c.subcontractor_id or "", Scheme(c.scheme).value)
        latest[key] = max(latest.get(key, date.min), c.expires_on or date.max)
    listed = [
        c
        for c in certificates
        if c.expires_on is not None
        and (start is None or c.expires_on >= start)
        and (end is None or c.expires_on <= end)
    ]
    names = organisation_names(session, sorted({c.supplier_org_id for c in listed}))
    sub_ids = sorted({c.subcontractor_id for c in listed if c.subcontractor_id})
    named = select(Subcontractor.id, Subcontractor.name).where(col(Subcontractor.id).in_(sub_ids))
    subs = {sub_id: name for sub_id, name in session.exec(named)}
    items = []
    for c in listed:
        holder = subs.get(c.subcontractor_id or "", "") or names.get(c.supplier_org_id, "the supplier")
        scheme = Scheme(c.scheme)
        items.append(
            rules.Item(
                kind=rules.CERTIFICATE_EXPIRY,
                object_id=c.id,
                due_on=c.expires_on,
                subject=f"The {SCHEME_LABELS[scheme]} certificate of {holder}",
                link=f"/certificates/{c.id}",
                supplier_org_id=c.supplier_org_id,
                done=latest[(c.supplier_org_id, c.subcontractor_id or "", scheme.value)] > c.expires_on,
            )
        )
    return items


def evidence_items(session: Session, supplier_ids: Iterable[str] | None = None) -> list[rules.Item]:
    """The expiry of each current evidence item that has one; a certificate's own file is left
    out (its certificate is reminded instead) and a superseded version is not current."""
    query = select(Evidence).where(
        col(Evidence.superseded_at).is_(None), col(Evidence.expires_on).is_not(None)
    )
    if supplier_ids is not None:
        query = query.where(col(Evidence.supplier_org_id).in_(list(supplier_ids)))
    files = set(
        session.exec(select(Certificate.evidence_id).where(col(Certificate.evidence_id).is_not(None)))
    )
    return [
        rules.Item(
            kind=rules.EVIDENCE_EXPIRY,
            object_id=e.id,
            due_on=e.expires_on,
            subject=f"The evidence \u201c{e.title}\u201d",
            link=f"/evidence/{e.id}",
            supplier_org_id=e.supplier_org_id,
        )
        for e in session.exec(query.order_by(col(Evidence.id)))
        if e.expires_on is not None and e.id not in files
    ]


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
    engagements = list(engagements)
    buyers = organisation_names(session, sorted({e.buyer_org_id for e in engagements}))
    failed: list[str] = []
    deadlines = timelines(session, engagements, today=today, skipped=failed)
    items = []
    for e in engagements:
        if e.id not in deadlines:  # logged and named in `failed` already
            continue
        try:
            items += items_of(e, buyers.get(e.buyer_org_id, "the buyer"), start, end, deadlines[e.id])
        except Exception:  # isolate one engagement's failure from the rest
            log.exception("dated items of engagement %s (%s) skipped", e.id, e.reference)
            failed.append(f"engagement {e.reference} ({e.id})")
    if skipped is not None:
        skipped += failed
    return items


def items_of(
    e: Engagement, buyer: str, start: date, end: date, deadlines: list[Deadline]
) -> list[rules.Item]:
    """One engagement's dated items: its contract-year anniversaries in [start, end] (the annual
    submission of certificates to `buyer`) and its workflow deadlines."""
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
    for deadline in deadlines:
        items.append(rules.from_deadline(deadline, supplier_org_id=e.supplier_org_id, link=link))
    return items


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


@dataclass(frozen=True)
class Sweep:
    """What one sweep evaluates: the send days in (last, as_of], and the units that record them
    one at a time (each in its own short write transaction)."""

    last: date | None
    as_of: date
    window: tuple[date, date]
    engagement_ids: list[str]
    supplier_ids: list[str]  # suppliers holding certificates or dated evidence (their expiry reminders)


def plan(engine: Engine, *, as_of: date) -> Sweep | None:
    """The sweep due as of `as_of` (a read, no lock), or None when that day was already swept."""
    with session_scope(engine) as session:
        run_row = session.get(ReminderRun, 1)
        last = run_row.last_run_on if run_row is not None else None
        if last is not None and as_of <= last:
            return None
        engagement_ids = list(session.exec(select(Engagement.id).order_by(col(Engagement.id))))
        supplier_ids = sorted(
            set(
                session.exec(
                    select(Certificate.supplier_org_id).where(col(Certificate.withdrawn_at).is_(None))
                )
            )
            | set(
                session.exec(
                    select(Evidence.supplier_org_id).where(
                        col(Evidence.superseded_at).is_(None), col(Evidence.expires_on).is_not(None)
                    )
                )
            )
        )
    return Sweep(last, as_of, rules.window(last, as_of), engagement_ids, supplier_ids)


def _recipients_for(session: Session, *, supplier_org_id: str, buyer_org_ids: set[str]) -> Audiences:
    """The audiences of one unit only: the supplier's leads and the named buyers' advisors."""
    out = _audiences(session, {supplier_org_id}, buyer_org_ids)
    out.buyers_of[supplier_org_id] = set(buyer_org_ids)
    return out


def _audiences(session: Session, supplier_ids: set[str], buyer_ids: set[str]) -> Audiences:
    """The suppliers' leads and the buyers' advisors, in one statement."""
    out = Audiences()
    query = (
        select(User)
        .where(
            col(User.disabled_at).is_(None), col(User.organisation_id).in_(sorted(supplier_ids | buyer_ids))
        )
        .order_by(col(User.email))
    )
    for user in session.exec(query):
        if user.role is Role.SUPPLIER_LEAD and user.organisation_id in supplier_ids:
            out.leads[user.organisation_id].append(user)
        elif user.role is Role.BUYER_ADVISOR and user.organisation_id in buyer_ids:
            out.advisors[user.organisation_id].append(user)
    return out


@dataclass(frozen=True)
class _Row:
    reminder: rules.Reminder
    user_id: str
    email_wanted: bool


def _due_rows(
    session: Session, items: list[rules.Item], people: Audiences, last: date | None, as_of: date
) -> list[_Row]:
    due = rules.due(items, rules.RULES, last, as_of)
    if not due:
        return []
    user_ids = sorted({u.id for r in due for u in people.recipients(r)})
    prefs = {
        (p.user_id, p.category): p.email
        for p in session.exec(
            select(NotificationPreference).where(col(NotificationPreference.user_id).in_(user_ids))
        )
    }
    return [
        _Row(reminder, user.id, prefs.get((user.id, reminder.rule.category), True))
        for reminder in due
        for user in people.recipients(reminder)
    ]


def _write(engine: Engine, rows: list[_Row]) -> int:
    """Record the rows not recorded yet, with their in-app notifications: one short write
    transaction (inserts only; what they are was computed before it began). When another
    sender recorded some of them meanwhile (the unique constraint refuses the pair), once more
    with what is there now."""
    if not rows:
        return 0
    try:
        return _insert(engine, rows)
    except IntegrityError:
        return _insert(engine, rows)


def _insert(engine: Engine, rows: list[_Row]) -> int:
    """The rows not recorded yet, as two multi-row INSERTs (no ORM objects: a sweep writes
    thousands, and building each one cost more than writing it)."""
    with session_scope(engine, write=True) as session:
        keys = sorted({r.reminder.key for r in rows})
        existing = set(
            session.exec(
                select(ReminderSent.key, ReminderSent.recipient_id).where(col(ReminderSent.key).in_(keys))
            ).all()
        )
        now = utcnow()
        sent: list[dict[str, object]] = []
        notes: list[dict[str, object]] = []
        for row in rows:
            reminder = row.reminder
            if (reminder.key, row.user_id) in existing:
                continue
            existing.add((reminder.key, row.user_id))
            shared = {
                "category": reminder.rule.category,
                "subject": reminder.text[:300],
                "link": reminder.item.link,
            }
            sent.append(
                shared
                | {
                    "id": new_id(),
                    "key": reminder.key,
                    "recipient_id": row.user_id,
                    "due_on": reminder.item.due_on,
                    "send_on": reminder.send_on,
                    "email_wanted": row.email_wanted,
                    "recorded_at": now,
                    "sent_at": None,
                    "attempts": 0,
                    "claimed_at": None,
                    "last_error": "",
                }
            )
            notes.append(
                shared
                | {
                    "id": new_id(),
                    "user_id": row.user_id,
                    "reminder_key": reminder.key,
                    "created_at": now,
                    "read_at": None,
                }
            )
        if sent:
            session.execute(insert(ReminderSent), sent)
            session.execute(insert(Notification), notes)
        session.commit()
        return len(sent)


def record_engagement(
    engine: Engine, engagement_id: str, *, last: date | None, as_of: date, skipped: list[str] | None = None
) -> int:
    """Record the due reminders of one engagement (annual submissions, workflow deadlines);
    idempotent. One whose items cannot be computed is logged and named in `skipped`."""
    return record_engagements(engine, [engagement_id], last=last, as_of=as_of, skipped=skipped)


def record_engagements(
    engine: Engine,
    engagement_ids: Sequence[str],
    *,
    last: date | None,
    as_of: date,
    skipped: list[str] | None = None,
) -> int:
    """Record the due reminders of several engagements: what is due is read for all of them at
    once (a fixed number of statements, outside any write transaction), then each engagement's
    reminders are written in a short transaction of their own. Idempotent; engagements deleted
    since the sweep was planned are passed over."""
    start, end = rules.window(last, as_of)
    with session_scope(engine) as session:
        engagements = list(
            session.exec(
                select(Engagement)
                .where(col(Engagement.id).in_(list(engagement_ids)))
                .order_by(col(Engagement.id))
            )
        )
        # Anniversaries are looked for far enough ahead for the earliest rule (30 days before).
        items = engagement_items(
            session, engagements, start=start, end=add_days(end, 61), today=as_of, skipped=skipped
        )
        people = _audiences(
            session, {e.supplier_org_id for e in engagements}, {e.buyer_org_id for e in engagements}
        )
        people.buyer_of_engagement.update((e.id, e.buyer_org_id) for e in engagements)
        rows = _due_rows(session, items, people, last, as_of)
    by_engagement: dict[str, list[_Row]] = defaultdict(list)
    for row in rows:
        by_engagement[row.reminder.item.engagement_id or ""].append(row)
    return sum(_write(engine, by_engagement[e.id]) for e in engagements)


def record_certificates(engine: Engine, supplier_org_id: str, *, last: date | None, as_of: date) -> int:
    """Record the due certificate-expiry reminders of one supplier (its own certificates and
    its sub-contractors') and its evidence-expiry reminders; idempotent."""
    with session_scope(engine) as session:
        items = certificate_items(session, [supplier_org_id]) + evidence_items(session, [supplier_org_id])
        buyers = set(
            session.exec(
                select(Engagement.buyer_org_id).where(col(Engagement.supplier_org_id) == supplier_org_id)
            )
        )
        people = _recipients_for(session, supplier_org_id=supplier_org_id, buyer_org_ids=buyers)
        rows = _due_rows(session, items, people, last, as_of)
    return _write(engine, rows)


def finish_sweep(engine: Engine, *, as_of: date) -> bool:
    """Move the last-run day forward to `as_of` once every unit of its sweep is recorded (never
    backwards); True when it moved."""
    _ensure_run_row(engine)
    with session_scope(engine, write=True) as session:
        result = session.execute(
            update(ReminderRun)
            .where(
                col(ReminderRun.id) == 1,
                or_(col(ReminderRun.last_run_on).is_(None), col(ReminderRun.last_run_on) < as_of),
            )
            .values(last_run_on=as_of)
        )
        session.commit()
        return bool(getattr(result, "rowcount", 0) == 1)


def record_due(
    engine: Engine, *, as_of: date, skipped: list[str] | None = None
) -> tuple[tuple[date, date] | None, int]:
    """Record (and notify in-app) every reminder due since the last run, one engagement (or one
    supplier's certificates) per short transaction, then move the last-run day forward.
    Engagements whose items could not be computed are named in `skipped`."""
    sweep = plan(engine, as_of=as_of)
    if sweep is None:
        return None, 0
    recorded = 0
    for supplier_id in sweep.supplier_ids:
        recorded += record_certificates(engine, supplier_id, last=sweep.last, as_of=as_of)
    for at in range(0, len(sweep.engagement_ids), READ_BATCH):
        batch = sweep.engagement_ids[at : at + READ_BATCH]
        recorded += record_engagements(engine, batch, last=sweep.last, as_of=as_of, skipped=skipped)
    finish_sweep(engine, as_of=as_of)
    return sweep.window, recorded


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


def deliver_one(engine: Engine, mailer: Mailer, settings: Settings, row_id: str) -> str:
    """Claim one recorded reminder, mail it and mark it sent. Returns "sent", "failed" (the
    claim is released with the error, so a retry or a later run sends it), or "taken" (sent
    already, claimed by another sender, or out of attempts: nothing to do here)."""
    row = _claim(engine, row_id)
    if row is None:
        return "taken"
    with session_scope(engine) as session:
        user = session.get(User, row.recipient_id)
    if user is None or user.disabled_at is not None:
        _finish(engine, row.id, error="recipient disabled")
        return "taken"
    message = message_for(row, user, settings)
    try:
        mailer.send(message)
    except Exception as error:  # any mail failure: keep the row pending for a retry
        log.warning("reminder %s to %s not sent: %s", row.key, user.email, error)
        _finish(engine, row.id, error=str(error) or type(error).__name__)
        raise MailNotSent(f"{user.email}: {error}") from error
    _finish(engine, row.id)
    return "sent"


def message_for(row: ReminderSent, user: User, settings: Settings) -> Message:
    """The email of one ledger row: a reminder, or an event notification (app.services.events),
    whose key says which; links are absolute under the configured base URL."""
    event = kinds.is_event_key(row.key)
    return render(
        "event" if event else "reminder",
        settings,
        to=user.email,
        subject=f"Attest: {row.subject}" if event else f"Attest reminder: {row.subject}",
        message_id=f"<{'event' if event else 'reminder'}-{row.id}@attest.invalid>",
        name=user.name,
        text=row.subject,
        link=absolute(settings, row.link),
        why=(kinds.EVENT_WHY if event else WHY).get(row.category, ""),
        category=rules.CATEGORIES.get(row.category, row.category),
    )


class MailNotSent(Exception):
    """A reminder's mail failed; its row stays pending (the message names the recipient)."""


def deliver_pending(engine: Engine, mailer: Mailer, settings: Settings, result: RunResult) -> None:
    """Mail every recorded reminder not yet accepted by the mail server."""
    for row_id in pending_ids(engine):
        try:
            outcome = deliver_one(engine, mailer, settings, row_id)
        except MailNotSent as error:
            result.failed += 1
            result.errors.append(str(error))
            continue
        if outcome == "sent":
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
