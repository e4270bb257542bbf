"""The certificate register: sub-contractors of a supplier and the certificates held."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Column, String, Text
from sqlmodel import Field, SQLModel

from app.domain.certificates import Scheme, Tier
from app.models.base import EnumText, new_id, utc_column, utcnow

__all__ = ["Certificate", "Subcontractor"]


class Subcontractor(SQLModel, table=True):
    """A sub-contractor that processes buyer data, with its Schedule 2.4 risk tier."""

    __tablename__ = "subcontractor"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    supplier_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    name: str = Field(max_length=200)
    tier: Tier = Field(sa_column=Column(EnumText(Tier, 20), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    removed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Certificate(SQLModel, table=True):
    """A certificate held by the supplier (subcontractor_id empty) or one of its sub-contractors."""

    __tablename__ = "certificate"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    supplier_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    subcontractor_id: str | None = Field(default=None, foreign_key="subcontractor.id", max_length=32)
    scheme: Scheme = Field(sa_column=Column(EnumText(Scheme, 32), nullable=False))
    body: str = Field(default="", max_length=200)
    number: str = Field(default="", max_length=100)
    scope: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    issued_on: date
    expires_on: date | None = None
    next_surveillance_on: date | None = None
    recertification_on: date | None = None
    provider: str = Field(default="", sa_column=Column(String(10), nullable=False, default=""))
    evidence_id: str | None = Field(default=None, foreign_key="evidence.id", max_length=32)
    created_by_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    withdrawn_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
