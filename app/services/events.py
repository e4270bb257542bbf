"""Event notifications: told in the notification centre and by email, exactly once, never
mailed inside the request (the kinds and who hears of each: app.domain.reminders_events).

`notify(session, event)` is called by the use case itself (submit, decide, add_comment,
file_notice, certificate create), after its rule passed and in its transaction, so an event
is recorded if and only if the change commits, and a refused or invalid action records
nothing. It writes one `ReminderSent` row per recipient (key `event:<kind>:<object id>`, unique
with the recipient, so a retried request adds nothing) with its in-app `Notification`, and
`email_wanted` from the person's choice for that kind.

Mail goes out through the reminders' claim-before-send (app.services.reminders.deliver_one):
when the session commits, the ids of the rows to mail are handed to the dispatcher installed
with `dispatch_with` (app.jobs enqueues one `attest.reminders.mail` job each). With no
dispatcher, or when the queue cannot be reached, the rows simply stay pending: the worker's
periodic sweep (every 15 minutes) and `attest remind` mail whatever is pending.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from app.domain import reminders_events as kinds
from app.domain.access import Role
from app.domain.dates import london_date
from app.models import (
    Certificate,
    ChangeNotice,
    Decision,
    Engagement,
    Notification,
    NotificationPreference,
    Organisation,
    ReminderSent,
    ReviewComment,
    Submission,
    User,
    utcnow,
)

log = logging.getLogger("attest.events")
PENDING_MAIL = "attest.events.pending_mail"  # session.info: row ids to mail once it commits
Dispatcher = Callable[[list[str]], None]
_dispatcher: Dispatcher | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """Something that happened, and to whom it is told: the advisors of `buyer_org_ids` or the
    leads of `supplier_org_id`; `actor_id` (who did it) is never told of their own act."""

    kind: str  # one of app.domain.reminders_events.EVENT_CATEGORIES
    object_id: str
    subject: str  # one line, the sentence of the notification and the email
    link: str  # path of the page concerned
    audience: kinds.EventAudience
    supplier_org_id: str
    buyer_org_ids: tuple[str, ...] = ()
    actor_id: str = ""
    on: date | None = None  # the day it happened (London); None: today

    @property
    def key(self) -> str:
        return kinds.event_key(self.kind, self.object_id)


def dispatch_with(dispatcher: Dispatcher | None) -> None:
    """Install what hands committed rows to the mail queue (None: leave them for the sweep)."""
    global _dispatcher
    _dispatcher = dispatcher


def recipients(session: Session, event: Event) -> list[User]:
    """The active advisors of the buyers, or leads of the supplier, the event is told to."""
    if event.audience == "buyer":
        role, orgs = Role.BUYER_ADVISOR, sorted(set(event.buyer_org_ids))
    else:
        role, orgs = Role.SUPPLIER_LEAD, [event.supplier_org_id]
    if not orgs:
        return []
    query = (
        select(User)
        .where(
            col(User.organisation_id).in_(orgs),
            col(User.role) == role,
            col(User.disabled_at).is_(None),
            col(User.id) != event.actor_id,
        )
        .order_by(col(User.email))
    )
    return list(session.exec(query))


def notify(session: Session, event: Event) -> list[str]:
    """Record the event for each recipient (ledger row and in-app notification) in the
    caller's transaction; returns the ids of the rows to mail, which are queued once it commits.
    A recipient who has the event already (the same key) gets nothing more."""
    people = recipients(session, event)
    if not people:
        return []
    ids = [u.id for u in people]
    existing = set(
        session.exec(
            select(ReminderSent.recipient_id).where(
                ReminderSent.key == event.key, col(ReminderSent.recipient_id).in_(ids)
            )
        )
    )
    email = {
        p.user_id: p.email
        for p in session.exec(
            select(NotificationPreference).where(
                col(NotificationPreference.user_id).in_(ids), NotificationPreference.category == event.kind
            )
        )
    }
    day = event.on or london_date(utcnow())
    subject, to_mail = event.subject[:300], []
    for user in people:
        if user.id in existing:
            continue
        row = ReminderSent(
            key=event.key,
            recipient_id=user.id,
            category=event.kind,
            subject=subject,
            link=event.link,
            due_on=day,
            send_on=day,
            email_wanted=email.get(user.id, True),
        )
        session.add(row)
        session.add(
            Notification(
                user_id=user.id, category=event.kind, subject=subject, link=event.link, reminder_key=event.key
            )
        )
        if row.email_wanted:
            to_mail.append(row.id)
    session.flush()
    session.info.setdefault(PENDING_MAIL, []).extend(to_mail)
    return to_mail


# --- after the transaction ----------------------------------------------------------------------


@sa_event.listens_for(OrmSession, "after_commit")
def _committed(session: OrmSession) -> None:
    """Hand the committed rows to the mail queue; a queue that fails leaves them for the sweep
    (the change itself is committed, so the request must not fail for it)."""
    ids: list[str] = session.info.pop(PENDING_MAIL, [])
    dispatcher = _dispatcher
    if not ids or dispatcher is None:
        return
    try:
        dispatcher(ids)
    except Exception:  # any queue failure: the rows stay pending for the periodic sweep
        log.exception("%d event mail(s) not queued; the next sweep sends them", len(ids))


@sa_event.listens_for(OrmSession, "after_rollback")
def _rolled_back(session: OrmSession) -> None:
    """Rows rolled back were never recorded: nothing to mail."""
    session.info.pop(PENDING_MAIL, None)


# --- the events of each use case --------------------------------------------------------------


def _names(session: Session, *org_ids: str) -> list[str]:
    return [(o.name if (o := session.get(Organisation, i)) else "") for i in org_ids]


def plan_submitted(session: Session, engagement: Engagement, submission: Submission, actor_id: str) -> Event:
    (supplier,) = _names(session, engagement.supplier_org_id)
    return Event(
        kind=kinds.PLAN_SUBMITTED,
        object_id=submission.id,
        subject=f"{supplier or 'The supplier'} submitted version {submission.version} of the security "
        f"management plan for {engagement.reference} for your decision",
        link=f"/submissions/{submission.id}",
        audience="buyer",
        supplier_org_id=engagement.supplier_org_id,
        buyer_org_ids=(engagement.buyer_org_id,),
        actor_id=actor_id,
        on=submission.submitted_on,
    )


def plan_decided(
    session: Session, engagement: Engagement, submission: Submission, decision: Decision, actor_id: str
) -> Event:
    (buyer,) = _names(session, engagement.buyer_org_id)
    verb, outcome = (
        ("approved", f"Information Security Approval Statement {decision.number}")
        if decision.approved
        else ("rejected", f"rejection notice {decision.number} gives the reasons")
    )
    return Event(
        kind=kinds.PLAN_DECIDED,
        object_id=decision.id,
        subject=f"{buyer or 'The buyer'} {verb} version {submission.version} of the plan for "
        f"{engagement.reference}: {outcome}",
        link=f"/submissions/{submission.id}/statement",
        audience="supplier",
        supplier_org_id=engagement.supplier_org_id,
        buyer_org_ids=(engagement.buyer_org_id,),
        actor_id=actor_id,
        on=decision.decided_on,
    )


def comment_added(
    session: Session, engagement: Engagement, submission: Submission, comment: ReviewComment, author: Role
) -> Event:
    """Told to the other side: an advisor's comment to the supplier's leads, and the reverse."""
    buyer_side = author is Role.BUYER_ADVISOR
    (org,) = _names(session, engagement.buyer_org_id if buyer_side else engagement.supplier_org_id)
    return Event(
        kind=kinds.REVIEW_COMMENT,
        object_id=comment.id,
        subject=f"{org or 'The other party'} commented on {comment.control_id} in version "
        f"{submission.version} of the plan for {engagement.reference}",
        link=f"/submissions/{submission.id}#c-{comment.control_id}",
        audience="supplier" if buyer_side else "buyer",
        supplier_org_id=engagement.supplier_org_id,
        buyer_org_ids=(engagement.buyer_org_id,),
        actor_id=comment.author_id,
    )


def notice_filed(session: Session, engagement: Engagement, notice: ChangeNotice) -> Event:
    (supplier,) = _names(session, engagement.supplier_org_id)
    late = " (filed late)" if notice.late else ""
    return Event(
        kind=kinds.CHANGE_NOTICE,
        object_id=notice.id,
        subject=f"{supplier or 'The supplier'} filed change notice {notice.number} for "
        f"{engagement.reference}{late}",
        link=f"/engagements/{engagement.id}/plan#changes",
        audience="buyer",
        supplier_org_id=engagement.supplier_org_id,
        buyer_org_ids=(engagement.buyer_org_id,),
        actor_id=notice.filed_by_id,
        on=notice.filed_on,
    )


def certificate_added(session: Session, certificate: Certificate, label: str) -> Event:
    """Told to the advisors of every buyer the supplier has an engagement with."""
    (supplier,) = _names(session, certificate.supplier_org_id)
    buyers = session.exec(
        select(Engagement.buyer_org_id).where(Engagement.supplier_org_id == certificate.supplier_org_id)
    )
    expiry = f", valid until {certificate.expires_on.isoformat()}" if certificate.expires_on else ""
    return Event(
        kind=kinds.CERTIFICATE_ADDED,
        object_id=certificate.id,
        subject=f"{supplier or 'A supplier'} added a certificate: {label}{expiry}",
        link=f"/certificates/{certificate.id}",
        audience="buyer",
        supplier_org_id=certificate.supplier_org_id,
        buyer_org_ids=tuple(sorted(set(buyers))),
        actor_id=certificate.created_by_id,
    )
