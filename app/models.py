"""Database tables. Every table names itself; constraints are named by convention."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from enum import StrEnum

from sqlalchemy import Column, DateTime, MetaData, String, UniqueConstraint
from sqlmodel import Field, SQLModel

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
SQLModel.metadata.naming_convention = NAMING_CONVENTION
metadata: MetaData = SQLModel.metadata


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return uuid.uuid4().hex


def utc_column(nullable: bool = False) -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=nullable)


class OrgKind(StrEnum):
    BUYER = "buyer"
    SUPPLIER = "supplier"
    OPERATOR = "operator"


class Role(StrEnum):
    SUPPLIER_LEAD = "supplier_lead"
    SUPPLIER_CONTRIBUTOR = "supplier_contributor"
    BUYER_ADVISOR = "buyer_advisor"
    ADMINISTRATOR = "administrator"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    kind: OrgKind = Field(sa_column=Column(String(16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    name: str = Field(max_length=200)
    organisation_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    role: Role = Field(sa_column=Column(String(32), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Engagement(SQLModel, table=True):
    __tablename__ = "engagement"
    __table_args__ = (UniqueConstraint("buyer_org_id", "reference"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    reference: str = Field(max_length=64)
    title: str = Field(max_length=300)
    buyer_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    supplier_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    effective_on: date
    workflow_profile: str = Field(max_length=32)
    jurisdiction: str = Field(default="england-and-wales", max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class EngagementCatalogue(SQLModel, table=True):
    __tablename__ = "engagement_catalogue"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    catalogue_id: str = Field(primary_key=True, max_length=64)
