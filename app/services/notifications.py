"""In-app notifications, email preferences, the "due soon" panel and the secret calendar feed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import func, update
from sqlmodel import Session, col, select

from app.domain import reminders as rules
from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.errors import InvalidInput, NotFound, Refused
from app.models import CalendarFeed, Engagement, Notification, NotificationPreference, User, utcnow
from app.security import new_token, sha256_hex
from app.services import ics
from app.services.reminders import certificate_items, engagement_items

DUE_SOON_DAYS = 30
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
    suppliers, engagements = scope(session, actor)
    if not suppliers:
        return []
    items = certificate_items(session, suppliers) + engagement_items(
        session, engagements, start=start, end=end, today=today
    )
    return sorted((i for i in items if start <= i.due_on <= end), key=lambda i: (i.due_on, i.subject))


@dataclass(frozen=True, slots=True)
class DueSoon:
    item: rules.Item
    days: int  # negative: overdue

    @property
    def when(self) -> str:
        if self.days < 0:
            return f"{-self.days} day{'s' if self.days != -1 else ''} overdue"
        if self.days == 0:
            return "today"
        return f"in {self.days} day{'s' if self.days != 1 else ''}"


def due_soon(session: Session, actor: Actor, *, today: date, days: int = DUE_SOON_DAYS) -> list[DueSoon]:
    """Open items due within `days` (and overdue ones from the last 30 days), soonest first."""
    items = dated_items(
        session, actor, start=today - timedelta(days=30), end=today + timedelta(days=days), today=today
    )
    return [DueSoon(i, (i.due_on - today).days) for i in items if not i.done]


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
