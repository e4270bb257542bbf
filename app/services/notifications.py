"""In-app notifications, email preferences, the "due soon" panel and the secret calendar feed.

The person's own use cases (`read_one`, `read_everything`, `choose_email`, `create_feed`,
`turn_off_feed`, `page_of`) take a `Caller` and act only on the caller's own rows: another
person's notification is refused as "not found" (audited). Reading a notification is not
itself audited; choosing preferences and creating or revoking the calendar address are."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import ColumnElement, and_, func, or_, update
from sqlmodel import Session, col, select

from app.adapters.crypto import new_token, sha256_hex
from app.domain import reminders as rules
from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import InvalidInput, NotFound, Refused
from app.models import (
    CalendarFeed,
    Engagement,
    EngagementDue,
    EngagementStamp,
    EngagementSummary,
    Notification,
    NotificationPreference,
    User,
    utcnow,
)
from app.services import ics
from app.services.caller import Caller
from app.services.certificates.glance import Store, fresh, refresh
from app.services.engagements import visible_to
from app.services.reminders import certificate_items, engagement_items, evidence_items

FEED_PREFIX = "cal"


def unread_count(session: Session, user_id: str) -> int:
    query = (
        select(func.count())
        .select_from(Notification)
        .where(Notification.user_id == user_id, col(Notification.read_at).is_(None))
    )
    return int(session.exec(query).one())


def listing(
    session: Session, user_id: str, *, unread_only: bool = False, limit: int = 200
) -> list[Notification]:
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    return list(
        session.exec(query.order_by(col(Notification.created_at).desc(), col(Notification.id)).limit(limit))
    )


def mark_read(session: Session, user_id: str, notification_id: str) -> Notification:
    row = session.get(Notification, notification_id)
    if row is None:
        raise NotFound("No such notification.")
    if row.user_id != user_id:
        raise Refused(
            "No such notification.", action="notification_read", object_type="notification", object_id=row.id
        )
    if row.read_at is None:
        row.read_at = utcnow()
        session.add(row)
        session.flush()
    return row


def mark_all_read(session: Session, user_id: str) -> int:
    result = session.execute(
        update(Notification)
        .where(col(Notification.user_id) == user_id, col(Notification.read_at).is_(None))
        .values(read_at=utcnow())
    )
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page of the listing ends: the last row's time and id (newest first, then by id)."""

    created_at: datetime
    id: str


@dataclass(frozen=True, slots=True)
class NotificationPage:
    items: list[Notification]
    unread: int
    next: Position | None  # None: this is the last page


def page_of(
    session: Session, caller: Caller, *, unread_only: bool, limit: int, after: Position | None
) -> NotificationPage:
    """One page of the caller's notifications, newest first, after `after` (keyset: stable when
    new ones arrive meanwhile)."""
    user_id = caller.actor.user_id
    query = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        query = query.where(col(Notification.read_at).is_(None))
    if after is not None:
        moment = after.created_at.astimezone(UTC) if after.created_at.tzinfo else after.created_at
        query = query.where(
            or_(
                col(Notification.created_at) < moment,
                and_(col(Notification.created_at) == moment, col(Notification.id) > after.id),
            )
        )
    rows = list(
        session.exec(
            query.order_by(col(Notification.created_at).desc(), col(Notification.id)).limit(limit + 1)
        )
    )
    more = len(rows) > limit
    items = rows[:limit]
    last = items[-1] if more and items else None
    return NotificationPage(
        items, unread_count(session, user_id), Position(last.created_at, last.id) if last else None
    )


def read_one(session: Session, caller: Caller, notification_id: str) -> Notification:
    """Mark one of the caller's notifications read; any other id is refused as "not found"."""
    try:
        return mark_read(session, caller.actor.user_id, notification_id)
    except NotFound as problem:
        if isinstance(problem, Refused):
            raise
        raise Refused(
            "No such notification.",
            action=AuditAction.NOTIFICATION_READ,
            object_type="notification",
            object_id=notification_id,
        ) from None


def read_everything(session: Session, caller: Caller) -> int:
    """Mark every notification of the caller read; returns how many were unread."""
    return mark_all_read(session, caller.actor.user_id)


def choose_email(session: Session, caller: Caller, email_on: set[str]) -> dict[str, bool]:
    """Email on for exactly the categories in `email_on` (off for the rest), audited."""
    chosen = set_preferences(session, caller.actor.user_id, email_on)
    caller.record(session, AuditAction.NOTIFICATION_PREFERENCES, details={"email": sorted(email_on)})
    session.flush()
    return chosen


def create_feed(session: Session, caller: Caller) -> str:
    """A new secret calendar address for the caller (the old one stops working), audited."""
    token = new_feed(session, caller.actor.user_id)
    caller.record(
        session,
        AuditAction.CALENDAR_FEED_CREATED,
        object_type="calendar_feed",
        object_id=caller.actor.user_id,
    )
    session.flush()
    return token


def turn_off_feed(session: Session, caller: Caller) -> None:
    """Revoke the caller's calendar address, audited (NotFound when there is none)."""
    revoke_feed(session, caller.actor.user_id)
    caller.record(
        session,
        AuditAction.CALENDAR_FEED_REVOKED,
        object_type="calendar_feed",
        object_id=caller.actor.user_id,
    )
    session.flush()


def preferences(session: Session, user_id: str) -> dict[str, bool]:
    """Email on or off per category (on unless switched off)."""
    stored = {
        p.category: p.email
        for p in session.exec(select(NotificationPreference).where(NotificationPreference.user_id == user_id))
    }
    return {category: stored.get(category, True) for category in rules.CATEGORIES}


def set_preferences(session: Session, user_id: str, email_on: set[str]) -> dict[str, bool]:
    unknown = email_on - set(rules.CATEGORIES)
    if unknown:
        raise InvalidInput(f"Unknown kinds of notification: {', '.join(sorted(unknown))}.")
    for category in rules.CATEGORIES:
        row = session.get(NotificationPreference, (user_id, category))
        if row is None:
            row = NotificationPreference(user_id=user_id, category=category, email=True)
        row.email = category in email_on
        session.add(row)
    session.flush()
    return preferences(session, user_id)


# --- what the person is concerned with ---------------------------------------------------------


def scope(session: Session, actor: Actor) -> tuple[set[str], list[Engagement]]:
    """Supplier organisations and engagements whose dates the actor follows."""
    if actor.role in SUPPLIER_ROLES:
        engagements = list(session.exec(select(Engagement).where(Engagement.supplier_org_id == actor.org_id)))
        return {actor.org_id}, engagements
    if actor.role is Role.BUYER_ADVISOR:
        engagements = list(session.exec(select(Engagement).where(Engagement.buyer_org_id == actor.org_id)))
        return {e.supplier_org_id for e in engagements}, engagements
    return set(), []


def dated_items(session: Session, actor: Actor, *, start: date, end: date, today: date) -> list[rules.Item]:
    """What the actor follows that falls in [start, end]: certificate expiries, annual
    submissions, workflow deadlines and, for a supplier, its evidence expiries."""
    suppliers, engagements = scope(session, actor)
    if not suppliers:
        return []
    items = certificate_items(session, suppliers) + engagement_items(
        session, engagements, start=start, end=end, today=today
    )
    if actor.role in SUPPLIER_ROLES:  # a supplier's evidence library is its own
        items += evidence_items(session, suppliers)
    return sorted((i for i in items if start <= i.due_on <= end), key=lambda i: (i.due_on, i.subject))


@dataclass(frozen=True, slots=True)
class DueSoon:
    item: rules.Item
    days: int  # negative: overdue (a target: passed)

    @property
    def when(self) -> str:
        """How far off it is. A target (Call Off Schedule 7's approval period) is never overdue,
        and an ISMS deadline Attest cannot see met is never called overdue either."""
        plural = "s" if abs(self.days) != 1 else ""
        if self.item.kind in rules.JOINT_TARGETS:
            if self.days < 0:
                return f"{-self.days} day{plural} ago (a target, not a deadline)"
            return ("today" if self.days == 0 else f"in {self.days} day{plural}") + " (a target)"
        if self.days < 0 and self.item.kind in rules.UNRECORDED_DEADLINES:
            return f"{-self.days} day{plural} ago (Attest does not record the submission)"
        if self.days < 0:
            return f"{-self.days} day{plural} overdue"
        if self.days == 0:
            return "today"
        return f"in {self.days} day{plural}"


def _followed(actor: Actor) -> ColumnElement[bool] | None:
    """The engagements whose dates the actor follows, as a condition (None: an administrator
    follows none): those a supplier's people or a buyer's advisor see."""
    if actor.role in SUPPLIER_ROLES or actor.role is Role.BUYER_ADVISOR:
        return visible_to(actor)
    return None


def due_soon(
    session: Session, library: Library, actor: Actor, *, today: date, store: Store | None = None
) -> list[DueSoon]:
    """Open items due within the "due soon" window (app.domain.reminders.due_soon_window: the
    next 30 days, and overdue ones from the last 30), soonest first, in a fixed number of
    statements whatever the number of engagements: each engagement's own items (annual
    submissions, workflow deadlines) are read from its stored summary, the stale ones recomputed
    first in one batch and handed to `store` (app.services.certificates.glance.refresh); the
    certificates' expiries and, for a supplier, its evidence library's are read for the window.
    The same items as `dated_items` over the window, less those done."""
    followed = _followed(actor)
    if followed is None:
        return []
    start, end = rules.due_soon_window(today)
    computed = refresh(session, library, followed, today=today, store=store)
    stored = (
        select(EngagementDue, Engagement.supplier_org_id)
        .join(Engagement, col(Engagement.id) == EngagementDue.engagement_id)
        .join(EngagementSummary, col(EngagementSummary.engagement_id) == Engagement.id)
        .outerjoin(EngagementStamp, col(EngagementStamp.engagement_id) == Engagement.id)
        .where(followed, fresh(library, today))
    )
    dues = [(d, supplier) for d, supplier in session.exec(stored) if d.engagement_id not in computed.rows]
    if computed.dues:
        ids = sorted({d.engagement_id for d in computed.dues})
        query = select(Engagement.id, Engagement.supplier_org_id).where(col(Engagement.id).in_(ids))
        organisations = {engagement_id: supplier for engagement_id, supplier in session.exec(query)}
        dues += [(d, organisations[d.engagement_id]) for d in computed.dues]
    items = [
        rules.Item(
            kind=d.kind,
            object_id=d.object_id,
            due_on=d.due_on,
            subject=d.subject,
            link=d.link,
            supplier_org_id=supplier,
            engagement_id=d.engagement_id,
        )
        for d, supplier in dues
    ]
    if actor.role in SUPPLIER_ROLES:
        suppliers = [actor.org_id]
        items += evidence_items(session, suppliers)  # a supplier's evidence library is its own
    else:
        suppliers = list(session.exec(select(Engagement.supplier_org_id).where(followed).distinct()))
    items += certificate_items(session, suppliers, start=start, end=end)
    shown = sorted(
        (i for i in items if start <= i.due_on <= end and not i.done), key=lambda i: (i.due_on, i.subject)
    )
    return [DueSoon(i, (i.due_on - today).days) for i in shown]


# --- calendar feed ----------------------------------------------------------------------------


def feed_of(session: Session, user_id: str) -> CalendarFeed | None:
    return session.get(CalendarFeed, user_id)


def new_feed(session: Session, user_id: str) -> str:
    """Create or replace the person's feed; the old address stops working. Returns the new token
    (only its hash is kept, so it is shown once)."""
    token = new_token(FEED_PREFIX)
    row = session.get(CalendarFeed, user_id) or CalendarFeed(user_id=user_id, token_hash="")
    row.token_hash, row.created_at, row.last_used_at = sha256_hex(token), utcnow(), None
    session.add(row)
    session.flush()
    return token


def revoke_feed(session: Session, user_id: str) -> None:
    row = session.get(CalendarFeed, user_id)
    if row is None:
        raise NotFound("You have no calendar address to turn off.")
    session.delete(row)
    session.flush()


def feed_user(session: Session, token: str) -> User:
    row = session.exec(select(CalendarFeed).where(CalendarFeed.token_hash == sha256_hex(token))).first()
    user = session.get(User, row.user_id) if row else None
    if row is None or user is None or user.disabled_at is not None:
        raise NotFound("There is nothing at this address.")
    row.last_used_at = utcnow()
    session.add(row)
    session.flush()
    return user


def feed_body(session: Session, user: User, *, today: date, base_url: str) -> str:
    """Every deadline and expiry the person follows, a year back and three years ahead."""
    actor = Actor(user.id, user.organisation_id, user.role)
    items = dated_items(
        session, actor, start=today - timedelta(days=366), end=today + timedelta(days=3 * 366), today=today
    )
    return ics.calendar(items, base_url=base_url, name=f"Attest: {user.name}")
