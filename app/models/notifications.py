"""Reminders sent (the exactly-once ledger), runs, in-app notifications, preferences, calendar feeds."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Column, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column, utcnow

__all__ = ["CalendarFeed", "Notification", "NotificationPreference", "ReminderRun", "ReminderSent"]


class ReminderSent(SQLModel, table=True):
    """One reminder to one person, recorded (and committed) before any mail is sent.

    The unique (key, recipient) pair is what makes each reminder go out once; `sent_at` stays
    empty until the mail server has accepted the message, so a crash in between is retried."""

    __tablename__ = "reminder_sent"
    __table_args__ = (UniqueConstraint("key", "recipient_id", name="uq_reminder_sent_key_recipient"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    key: str = Field(max_length=200)
    recipient_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    category: str = Field(max_length=40)
    subject: str = Field(max_length=300)
    link: str = Field(max_length=300)
    due_on: date
    send_on: date
    email_wanted: bool = Field(default=True, sa_column=Column(Boolean, nullable=False))
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    sent_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    claimed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))


class ReminderRun(SQLModel, table=True):
    """One row: the last day evaluated, and the lease that makes one process the only sender."""

    __tablename__ = "reminder_run"

    id: int = Field(default=1, primary_key=True)
    last_run_on: date | None = None
    lease_owner: str = Field(default="", sa_column=Column(String(64), nullable=False, default=""))
    lease_until: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Notification(SQLModel, table=True):
    """An in-app notification for one person."""

    __tablename__ = "notification"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    category: str = Field(max_length=40)
    subject: str = Field(max_length=300)
    link: str = Field(max_length=300)
    reminder_key: str = Field(default="", max_length=200)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    read_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class NotificationPreference(SQLModel, table=True):
    """Email on or off for one category of reminder (no row: on)."""

    __tablename__ = "notification_preference"

    user_id: str = Field(foreign_key="user_account.id", primary_key=True, max_length=32)
    category: str = Field(primary_key=True, max_length=40)
    email: bool = Field(sa_column=Column(Boolean, nullable=False))


class CalendarFeed(SQLModel, table=True):
    """A person's secret calendar address; only the SHA-256 of its token is kept."""

    __tablename__ = "calendar_feed"

    user_id: str = Field(foreign_key="user_account.id", primary_key=True, max_length=32)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
