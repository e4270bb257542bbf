"""Notifications API: the caller's own notifications (list, mark one read, mark all read) and
their email preferences. The same service functions, rules, refusals and audit events as the
pages (app.web.routes.notifications): another person's notification answers 404, audited."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from app.api.schema import ApiRoute
from app.domain import reminders as rules
from app.domain.errors import InvalidInput
from app.http import auth
from app.http.deps import SessionDep
from app.models import Notification
from app.services import notifications as service

router = APIRouter(
    prefix="/api",
    tags=["notifications"],
    dependencies=[Depends(auth.require_principal)],
    route_class=ApiRoute,
)

Limit = Annotated[int, Query(ge=1, le=500, description="at most this many items (1-500)")]
Cursor = Annotated[
    str, Query(max_length=400, description="`next_cursor` of the previous page; empty for the first")
]


class NotificationOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: str
    category: str = Field(description="the kind of reminder (see /api/notifications/preferences)")
    subject: str
    link: str = Field(description="the page it is about (a path on this site)")
    created_at: datetime
    read_at: datetime | None = Field(description="null while unread")


class NotificationListOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    notifications: list[NotificationOut] = Field(description="newest first")
    unread: int = Field(description="how many of the caller's notifications are unread (all pages)")
    next_cursor: str | None = Field(description="pass as `cursor` for the next page; null on the last")


class ReadAllOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    marked: int = Field(description="how many were unread and are now read")
    unread: int = Field(description="always 0")


class PreferencesOut(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: dict[str, bool] = Field(description="per category: true when it is also sent by email")


class PreferencesIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: list[str] = Field(
        max_length=len(rules.CATEGORIES),
        description=f"the categories to email (the rest are in-app only): {', '.join(rules.CATEGORIES)}",
    )


def notification_out(row: Notification) -> NotificationOut:
    return NotificationOut(
        id=row.id,
        category=row.category,
        subject=row.subject,
        link=row.link,
        created_at=row.created_at,
        read_at=row.read_at,
    )


def _encode(at: service.Position) -> str:
    raw = json.dumps([at.created_at.isoformat(), at.id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode(cursor: str) -> service.Position:
    """The position a cursor carries; InvalidInput (422) when it is not one of ours."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(raw, list) and len(raw) == 2 and all(isinstance(part, str) for part in raw):
            return service.Position(datetime.fromisoformat(raw[0]), raw[1])
    except (binascii.Error, ValueError, UnicodeDecodeError):
        pass
    raise InvalidInput(
        "The cursor is not valid: pass the `next_cursor` of the previous page.", details={"cursor": cursor}
    )


@router.get("/notifications", name="api:notifications", response_model=NotificationListOut)
def list_notifications(
    db: SessionDep,
    caller: auth.CurrentCaller,
    unread: bool = Query(False, description="only the unread ones"),
    limit: Limit = 100,
    cursor: Cursor = "",
) -> NotificationListOut:
    """The caller's notifications, newest first."""
    page = service.page_of(
        db, caller, unread_only=unread, limit=limit, after=_decode(cursor) if cursor else None
    )
    return NotificationListOut(
        notifications=[notification_out(row) for row in page.items],
        unread=page.unread,
        next_cursor=_encode(page.next) if page.next else None,
    )


@router.post(
    "/notifications/{notification_id}/read", name="api:notification-read", response_model=NotificationOut
)
def read_notification(notification_id: str, db: SessionDep, caller: auth.CurrentCaller) -> NotificationOut:
    """Mark one notification read (again: no change). Someone else's answers 404, audited."""
    row = service.read_one(db, caller, notification_id)
    db.commit()
    return notification_out(row)


@router.post("/notifications/read-all", name="api:notifications-read-all", response_model=ReadAllOut)
def read_all(db: SessionDep, caller: auth.CurrentCaller) -> ReadAllOut:
    """Mark every notification of the caller read."""
    marked = service.read_everything(db, caller)
    db.commit()
    return ReadAllOut(marked=marked, unread=0)


@router.get("/notifications/preferences", name="api:notification-preferences", response_model=PreferencesOut)
def get_preferences(db: SessionDep, caller: auth.CurrentCaller) -> PreferencesOut:
    """Which kinds of notification are also sent by email."""
    return PreferencesOut(email=service.preferences(db, caller.actor.user_id))


@router.put(
    "/notifications/preferences", name="api:notification-preferences-set", response_model=PreferencesOut
)
def set_preferences(body: PreferencesIn, db: SessionDep, caller: auth.CurrentCaller) -> PreferencesOut:
    """Email exactly these kinds of notification (audited); an unknown kind answers 422."""
    chosen = service.choose_email(db, caller, set(body.email))
    db.commit()
    return PreferencesOut(email=chosen)
