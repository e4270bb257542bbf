"""The Security Management Plan and its approval: risks, the Required Changes Register, the
incident process, security roles, submissions, decisions, change notices, closure days."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Column, Integer, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.domain.register import EntrySource, EntryStatus
from app.domain.variations import VariationKind
from app.domain.workflow import Consequence, Move, State
from app.models.base import EnumText, new_id, utc_column, utcnow


class Risk(SQLModel, table=True):
    """One entry of the risk register in the Information Assurance Assessment."""

    __tablename__ = "risk"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    control_ids: str = Field(default="", max_length=2000)  # space-separated control ids
    likelihood: int
    impact: int
    treatment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    owner: str = Field(default="", max_length=200)
    residual_likelihood: int
    residual_impact: int
    version: int = Field(default=1)  # optimistic concurrency (app.services.versioning)
    updated_by_id: str = Field(max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class RegisterEntry(SQLModel, table=True):
    """A change the supplier will make (Required Changes Register, Schedule 2.4 definitions)."""

    __tablename__ = "register_entry"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    title: str = Field(max_length=200)
    description: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    source: EntrySource = Field(sa_column=Column(EnumText(EntrySource, 20), nullable=False))
    control_id: str | None = Field(default=None, max_length=64)
    change_notice_id: str | None = Field(default=None, foreign_key="change_notice.id", max_length=32)
    agreed_on: date | None = None
    implemented_on: date | None = None
    status: EntryStatus = Field(
        default=EntryStatus.PLANNED,
        sa_column=Column(EnumText(EntryStatus, 20), nullable=False, default=EntryStatus.PLANNED),
    )
    version: int = Field(default=1)  # optimistic concurrency (app.services.versioning)
    updated_by_id: str = Field(max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class IncidentProcess(SQLModel, table=True):
    """The Incident Management Process (Schedule 2.4 para 4.4(c)), one per engagement."""

    __tablename__ = "incident_process"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    document: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    contacts: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))  # JSON list
    # Hours the process commits to; None when it states none. CPS Security Policy 4.9 caps them
    # (24 / 48) only when that catalogue is in the engagement (app.services.plan.incident_limits).
    report_loss_hours: int | None = Field(default=None)
    trace_loss_hours: int | None = Field(default=None)
    version: int = Field(default=1)  # optimistic concurrency (app.services.versioning)
    updated_by_id: str = Field(max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class SecurityRole(SQLModel, table=True):
    """A named person in a security role (Schedule 2.4 paras 3.4, 3.5)."""

    __tablename__ = "security_role"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    kind: str = Field(max_length=40)
    name: str = Field(max_length=200)
    email: str = Field(default="", max_length=254)
    phone: str = Field(default="", max_length=40)
    board_level: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))


class SecurityRoleSet(SQLModel, table=True):
    """The list of security roles of one engagement as one versioned object: the list is replaced
    as a whole, so its version lives here rather than on each person's row."""

    __tablename__ = "security_role_set"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    version: int = Field(default=1)
    updated_by_id: str = Field(max_length=32)
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class PlanCase(SQLModel, table=True):
    """Where the engagement's plan stands in the workflow (app.domain.workflow.Case)."""

    __tablename__ = "plan_case"

    engagement_id: str = Field(foreign_key="engagement.id", primary_key=True, max_length=32)
    state: State = Field(
        default=State.DRAFT, sa_column=Column(EnumText(State, 20), nullable=False, default=State.DRAFT)
    )
    cycle: int = Field(default=0)
    rejections: int = Field(default=0)
    material_default: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    updated_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Transition(SQLModel, table=True):
    """Every move of the workflow, who made it and when (also in the audit log)."""

    __tablename__ = "plan_transition"

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    move: Move = Field(sa_column=Column(EnumText(Move, 20), nullable=False))
    from_state: State = Field(sa_column=Column(EnumText(State, 20), nullable=False))
    to_state: State = Field(sa_column=Column(EnumText(State, 20), nullable=False))
    submission_id: str | None = Field(default=None, max_length=32)
    actor_id: str = Field(max_length=32)
    at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Submission(SQLModel, table=True):
    """An immutable snapshot of the plan as submitted, with the SHA-256 of its canonical JSON."""

    __tablename__ = "submission"
    __table_args__ = (UniqueConstraint("engagement_id", "version"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    version: int
    cycle: int
    snapshot: str = Field(sa_column=Column(Text, nullable=False))
    sha256: str = Field(max_length=64)
    officer_name: str = Field(max_length=200)
    officer_role: str = Field(max_length=200)
    submitted_by_id: str = Field(max_length=32)
    submitted_on: date
    submitted_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class Decision(SQLModel, table=True):
    """The buyer's decision on one submission: an ISAS or a rejection notice."""

    __tablename__ = "decision"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    submission_id: str = Field(foreign_key="submission.id", unique=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    number: str = Field(sa_column=Column(String(64), nullable=False, unique=True))
    approved: bool = Field(sa_column=Column(Boolean, nullable=False))
    reasons: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    conditions: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    control_reasons: str = Field(default="{}", sa_column=Column(Text, nullable=False, default="{}"))
    consequence: Consequence = Field(
        default=Consequence.NONE,
        sa_column=Column(EnumText(Consequence, 40), nullable=False, default=Consequence.NONE),
    )
    advisor_id: str = Field(max_length=32)
    advisor_name: str = Field(max_length=200)
    advisor_role: str = Field(max_length=200)
    decided_on: date
    decided_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    # JSON list of the blockers and gates still open when the advisor approved anyway, having
    # acknowledged them; the ISAS lists them as outstanding conditions ("[]": none).
    outstanding: str = Field(default="[]", sa_column=Column(Text, nullable=False, default="[]"))


class ReviewComment(SQLModel, table=True):
    """A reviewer's note on one control of one submission."""

    __tablename__ = "review_comment"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    submission_id: str = Field(foreign_key="submission.id", index=True, max_length=32)
    control_id: str = Field(max_length=64)
    body: str = Field(sa_column=Column(Text, nullable=False))
    author_id: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ChangeNotice(SQLModel, table=True):
    """A notice of a para 5.2 event (or loss of certification, para 6.6)."""

    __tablename__ = "change_notice"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    number: int
    event: str = Field(max_length=20)
    description: str = Field(sa_column=Column(Text, nullable=False))
    aware_on: date
    filed_on: date
    late: bool = Field(default=False, sa_column=Column(Boolean, nullable=False, default=False))
    filed_by_id: str = Field(max_length=32)
    filed_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())


class ClosureDay(SQLModel, table=True):
    """A day the buyer's organisation is closed: not a Working Day in its engagements."""

    __tablename__ = "closure_day"
    __table_args__ = (UniqueConstraint("buyer_org_id", "day"),)

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    buyer_org_id: str = Field(foreign_key="organisation.id", index=True, max_length=32)
    day: date
    reason: str = Field(max_length=200)


class AgreedVariation(SQLModel, table=True):
    """Something the parties agreed in writing instead of a contract's default rule
    (app.domain.variations): an agreed date for one deadline, a written direction, a calendar."""

    __tablename__ = "agreed_variation"

    id: str = Field(default_factory=new_id, primary_key=True, max_length=32)
    engagement_id: str = Field(foreign_key="engagement.id", index=True, max_length=32)
    kind: VariationKind = Field(sa_column=Column(EnumText(VariationKind, 20), nullable=False))
    deadline_kind: str = Field(default="", max_length=40)  # kind=deadline: e.g. "plan_due"
    object_id: str = Field(
        default="", max_length=32
    )  # the submission, notice or entry; "" for the engagement
    due_on: date | None = None  # kind=deadline: the agreed date
    reference: str = Field(max_length=200)  # the letter, minute or contract change that records it
    agreed_on: date  # when the agreement was made
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    recorded_by_id: str = Field(max_length=32)
    recorded_by_name: str = Field(max_length=200)
    recorded_at: datetime = Field(default_factory=utcnow, sa_column=utc_column())
    removed_at: datetime | None = Field(default=None, sa_column=utc_column(nullable=True))
