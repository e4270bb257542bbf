"""Files made in the background for one person (big exports), listed on their Downloads page."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Integer, Text
from sqlmodel import Field, SQLModel

from app.models.base import new_id, utc_column, utcnow

__all__ = ["Download"]


class Download(SQLModel, table=True):
    """One requested file: what to make (`kind` and `params`, JSON), its state (queued, running,
    ready, failed, expired), progress in per cent, and, once ready, the evidence store's named
    object that holds it until `expires_at`. Only `user_id` may see or fetch it."""

    __tablename__ = "download"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    engagement_id: str | None = Field(default=None, foreign_key="engagement.id", index=True, max_length=32)
    kind: str = Field(max_length=40)
    params: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    title: str = Field(max_length=300)
    state: str = Field(default="queued", index=True, max_length=20)
    progress: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    message: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    filename: str = Field(default="", max_length=300)
    media_type: str = Field(default="", max_length=120)
    object_name: str = Field(default="", max_length=300)
    size: int | None = None
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False, default=0))
    requested_from: str = Field(default="", max_length=100)  # the client address, for the audit log
    requested_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    started_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
