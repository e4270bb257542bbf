"""Organisations, people, engagements, sessions, audit, assessments and evidence."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlmodel import Field, SQLModel

from app.domain.access import Role
from app.domain.audit import INSTALLATION_CHAIN, HashRule
from app.domain.evidence import Kind, Marking
from app.domain.readiness import Status
from app.domain.variations import CallOffForm
from app.models.base import EnumText, new_id, utc_column, utcnow


class OrgKind(StrEnum):
    BUYER = "buyer"
    SUPPLIER = "supplier"
    OPERATOR = "operator"


class Organisation(SQLModel, table=True):
    __tablename__ = "organisation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    name: str = Field(sa_column=Column(String(200), nullable=False, unique=True))
    kind: OrgKind = Field(sa_column=Column(EnumText(OrgKind, 16), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    email: str = Field(sa_column=Column(String(254), nullable=False, unique=True))
    name: str = Field(max_length=200)
    organisation_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    role: Role = Field(sa_column=Column(EnumText(Role, 32), nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    password_hash: str | None = Field(default=None, max_length=256)
    totp_secret_encrypted: str | None = Field(default=None, max_length=256)
    totp_last_step: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, default=0))
    mfa_enrolled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    disabled_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))

    @property
    def is_active(self) -> bool:
        return (
            self.disabled_at is None and self.password_hash is not None and (self.mfa_enrolled_at is not None)
        )


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
    # Call Off Schedule 7 engagements only: which form of the schedule the contract uses.
    call_off_form: CallOffForm = Field(
        default=CallOffForm.LONG,
        sa_column=Column(
            EnumText(CallOffForm, 10), nullable=False, default=CallOffForm.LONG, server_default="long"
        ),
    )
    # Call Off Schedule 7 long form para 3.1: the day the supplier submitted its ISMS (recorded
    # by its lead); it meets the ISMS deadline. None: not recorded.
    isms_submitted_on: date | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class EngagementCatalogue(SQLModel, table=True):
    __tablename__ = "engagement_catalogue"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    catalogue_id: str = Field(primary_key=True, max_length=64)


class RecoveryCode(SQLModel, table=True):
    __tablename__ = "recovery_code"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    code_hash: str = Field(max_length=64)
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class Invitation(SQLModel, table=True):
    __tablename__ = "invitation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_by_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    # 'invite' (an account never enrolled) or 'reset' (new password and key for an enrolled one)
    purpose: str = Field(
        default="invite", sa_column=Column(String(16), nullable=False, server_default="invite")
    )
    # The chosen password and new key wait here until a code confirms the key; only then do
    # they replace the account's, so an unfinished reset locks no one out.
    pending_password_hash: str | None = Field(default=None, max_length=256)
    pending_totp_secret_encrypted: str | None = Field(default=None, max_length=256)


class WebSession(SQLModel, table=True):
    """A server-side sign-in session. Only the SHA-256 of the cookie value is stored."""

    __tablename__ = "web_session"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    mfa_passed: bool = Field(default=False, sa_column=Column(Boolean, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    last_seen_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime = Field(sa_column=utc_column())
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    address: str = Field(default="", max_length=64)
    user_agent: str = Field(default="", max_length=300)


class ApiToken(SQLModel, table=True):
    """A personal access token. Only its SHA-256 is stored; the prefix helps people tell them apart."""

    __tablename__ = "api_token"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    user_id: str = Field(foreign_key="user_account.id", index=True, max_length=32)
    name: str = Field(max_length=100)
    prefix: str = Field(max_length=16)
    token_hash: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    expires_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    last_used_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))


class LoginAttempt(SQLModel, table=True):
    """Failed sign-in steps, counted per account and per address for throttling."""

    __tablename__ = "login_attempt"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    key: str = Field(sa_column=Column(String(300), nullable=False, index=True))
    at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AuditEvent(SQLModel, table=True):
    """Append-only, HMAC-chained record of who did what. Triggers refuse UPDATE and DELETE.

    `seq` numbers every record of the installation (the audit page's "#"); `chain` and
    `chain_seq` place it in its tenant's chain (app.domain.audit.chain_for), and
    `hash_version` says which fields its hash covers (app.domain.audit.HashRule)."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_chain_position", "chain", "chain_seq", unique=True),)

    seq: int | None = Field(
        default=None,
        sa_column=Column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    )
    chain: str = Field(
        default=INSTALLATION_CHAIN,
        sa_column=Column(String(64), nullable=False, server_default=INSTALLATION_CHAIN),
    )
    chain_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    hash_version: int = Field(
        default=HashRule.SINGLE, sa_column=Column(Integer, nullable=False, server_default="1")
    )
    at: datetime = Field(sa_column=utc_column())
    actor_user_id: str | None = Field(default=None, max_length=32, index=True)
    actor_org_id: str | None = Field(default=None, max_length=32, index=True)
    action: str = Field(max_length=64, index=True)
    object_type: str = Field(default="", max_length=64)
    object_id: str = Field(default="", max_length=64)
    engagement_id: str | None = Field(default=None, max_length=32, index=True)
    outcome: str = Field(max_length=16)
    address: str = Field(default="", max_length=64)
    request_id: str = Field(default="", max_length=64)
    details: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)


class AuditHead(SQLModel, table=True):
    """One row per chain: its newest position and hash, locked by each appender to that chain
    (and only that chain) so the chain stays linear."""

    __tablename__ = "audit_head"

    chain: str = Field(sa_column=Column(String(64), primary_key=True))
    seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))
    hash: str = Field(default="", max_length=64)


class AuditSegment(SQLModel, table=True):
    """A pruned stretch of one chain: where it ended (positions in the chain, and the last
    record's installation-wide `seq`), so verification can resume after it."""

    __tablename__ = "audit_segment"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    chain: str = Field(
        default=INSTALLATION_CHAIN,
        sa_column=Column(String(64), nullable=False, index=True, server_default=INSTALLATION_CHAIN),
    )
    first_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_seq: int = Field(sa_column=Column(BigInteger, nullable=False))
    last_hash: str = Field(max_length=64)
    last_event_seq: int = Field(default=0, sa_column=Column(BigInteger, nullable=False, server_default="0"))
    pruned_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class AuditPrunePermit(SQLModel, table=True):
    """Exists only inside a pruning transaction; SQLite's delete trigger checks for it."""

    __tablename__ = "audit_prune_permit"

    id: int = Field(default=1, primary_key=True)


class ScopingAnswer(SQLModel, table=True):
    """The supplier's yes/no answer to one scoping question for one engagement."""

    __tablename__ = "scoping_answer"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    question_id: str = Field(primary_key=True, max_length=64)
    answer: bool = Field(sa_column=Column(Boolean, nullable=False))
    answered_by_id: str = Field(max_length=32)
    answered_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ControlResponse(SQLModel, table=True):
    """The supplier's answer to one control in one engagement."""

    __tablename__ = "control_response"
    __table_args__ = (UniqueConstraint("engagement_id", "control_id"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    control_id: str = Field(max_length=64)
    status: Status = Field(sa_column=Column(EnumText(Status, 20), nullable=False))
    statement: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    justification: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    owner_id: str | None = Field(default=None, foreign_key="user_account.id", max_length=32)
    planned_change: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    target_on: date | None = None
    version: int = Field(default=1)
    updated_by_id: str = Field(max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ResponseChange(SQLModel, table=True):
    """History: every change to a response, who made it, when, and the values before and after."""

    __tablename__ = "response_change"
    # The control page reads one control's latest history rows: without this, every row of every
    # engagement was scanned (migration 0018).
    __table_args__ = (Index("ix_response_change_engagement_control", "engagement_id", "control_id", "id"),)

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    engagement_id: str = Field(foreign_key="engagement.id", max_length=32)
    control_id: str = Field(max_length=64)
    changed_by_id: str = Field(max_length=32)
    changed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    before: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    after: str = Field(sa_column=Column(Text, nullable=False))


class Evidence(SQLModel, table=True):
    """A file in a supplier's evidence library. New versions supersede; nothing is overwritten."""

    __tablename__ = "evidence"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    supplier_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    family_id: str = Field(index=True, max_length=32)  # the first version's id
    version: int = Field(default=1)
    superseded_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
    title: str = Field(max_length=200)
    kind: Kind = Field(sa_column=Column(EnumText(Kind, 20), nullable=False))
    marking: Marking = Field(
        default=Marking.OFFICIAL,
        sa_column=Column(EnumText(Marking, 20), nullable=False, default=Marking.OFFICIAL),
    )
    file_name: str = Field(max_length=200)
    media_type: str = Field(max_length=100)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64, index=True)
    effective_on: date | None = None
    expires_on: date | None = None
    uploaded_by_id: str = Field(max_length=32)
    uploaded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class EvidenceLink(SQLModel, table=True):
    """Evidence linked to a control in an engagement: what shares it with that engagement's buyer."""

    __tablename__ = "evidence_link"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    control_id: str = Field(primary_key=True, max_length=64)
    evidence_id: str = Field(foreign_key="evidence.id", primary_key=True, max_length=32, index=True)
    linked_by_id: str = Field(max_length=32)
    linked_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
