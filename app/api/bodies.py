"""Response bodies of /api and the closed sets their fields take, so the schema lists them.

The closed sets are the domain's enums where they exist (Role, Scheme, State, ...);
where the set is a tuple in a service, it is a Literal here, and
tests/api/test_openapi.py checks each Literal against its tuple. Models allow extra
keys: a field added to a response reaches the client before it is described here.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializerFunctionWrapHandler, field_serializer

from app.domain.access import Role
from app.domain.catalogue import Criticality, Recurrence, Relation
from app.domain.certificates import Scheme, Tier
from app.domain.readiness import Status
from app.domain.workflow import Move, State
from app.models import OrgKind

# Closed sets kept as tuples in services (the test compares each with its tuple).
WorkflowProfile = Literal["schedule-2-4", "call-off-schedule-7"]
Jurisdiction = Literal["england-and-wales", "scotland", "northern-ireland"]
EvidenceKind = Literal["policy", "procedure", "certificate", "report", "screenshot", "other"]
Marking = Literal["OFFICIAL", "OFFICIAL-SENSITIVE"]
EntryStatus = Literal["planned", "in_progress", "implemented"]
EntrySource = Literal["gap", "change_notice", "manual"]
RoleKind = Literal["designated_security_contact", "day_to_day_contact", "information_assurance"]
ChangeEvent = Literal["a", "b", "c", "d", "e", "f", "g", "h", "i", "certification"]
CertificateState = Literal["current", "expiring", "expired", "withdrawn"]
Provider = Literal["CHECK", "CREST"]
CatalogueKind = Literal["contract", "framework"]
DeadlineState = Literal["met", "due", "overdue", "passed"]  # app.domain.deadlines.STATES
Party = Literal["supplier", "buyer", "joint"]  # app.domain.deadlines.PARTIES
Outcome = Literal["approve", "reject"]
Consequence = Literal["dispute", "material_default"]
GapTarget = Literal["control", "risks", "incident", "roles"]
RiskLevel = Annotated[int, Field(ge=1, le=5, description="1 (lowest) to 5 (highest)")]


class Out(BaseModel):
    model_config = ConfigDict(extra="allow")

    # No return annotation on purpose: pydantic then keeps each field's own schema (enums too).
    @field_serializer("*", mode="wrap", when_used="json")
    def _times_carry_their_zone(self, value: Any, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        """A stored time read back without its zone (SQLite keeps none; every stored time is
        UTC) is sent as UTC, so each `date-time` is RFC 3339 as the schema says (found by
        tests/hardening/test_generative_api.py)."""
        if isinstance(value, datetime) and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return handler(value)


class OrganisationOut(Out):
    id: str
    name: str
    kind: OrgKind


class MeOut(Out):
    id: str
    email: str
    name: str
    role: Role
    organisation: OrganisationOut


class EngagementOut(Out):
    id: str
    reference: str
    title: str
    buyer_org_id: str
    supplier_org_id: str
    effective_date: date
    workflow_profile: WorkflowProfile
    jurisdiction: Jurisdiction
    call_off_form: Literal["short", "long"]
    catalogue_ids: list[str]


class ResponseOut(Out):
    control_id: str
    version: int
    status: Status
    statement: str
    justification: str
    owner_id: str | None
    planned_change: str
    target_date: date | None


class EvidenceOut(Out):
    id: str
    sha256: str
    size: int
    media_type: str
    title: str
    kind: EvidenceKind
    marking: Marking
    file_name: str
    version: int
    effective_on: date | None
    expires_on: date | None


class EvidenceForm(BaseModel):
    """The multipart/form-data fields of an upload (documentation: the body is streamed)."""

    file: bytes = Field(json_schema_extra={"format": "binary"})
    title: str = Field(default="", description="Defaults to the file name")
    kind: EvidenceKind = "other"
    marking: Marking = "OFFICIAL"
    effective_on: date | None = None
    expires_on: date | None = None
    control_ids: list[str] = Field(default_factory=list, description="Repeat the field for each control")


class RiskOut(Out):
    id: str
    title: str
    description: str
    control_ids: list[str]
    likelihood: RiskLevel
    impact: RiskLevel
    score: int
    treatment: str
    owner: str
    residual_likelihood: RiskLevel
    residual_impact: RiskLevel
    residual_score: int
    version: int = Field(description="Send it back as `expected_version` to edit without losing updates")


class EntryOut(Out):
    id: str
    title: str
    description: str
    source: EntrySource
    control_id: str | None
    change_notice_id: str | None
    agreed_date: date | None
    implemented_date: date | None
    status: EntryStatus
    version: int = Field(description="Send it back as `expected_version` to edit without losing updates")


class DecisionOut(Out):
    id: str
    number: str
    decision: Outcome
    kind: Literal["isas", "rejection_notice"]
    reasons: str
    control_reasons: dict[str, str]
    conditions: str
    consequence: Consequence | None
    advisor_name: str
    advisor_role: str
    decided_on: date
    outstanding: list[str] = Field(
        description="The blockers the advisor acknowledged as outstanding conditions when approving"
    )


class SubmissionOut(Out):
    id: str
    engagement_id: str
    version: int
    cycle: int
    sha256: str
    submitted_on: date
    officer_name: str
    officer_role: str
    state: Literal["awaiting_decision", "decided"]
    plan_state: State
    decision: DecisionOut | None


class SubmittedOut(SubmissionOut):
    state: State = Field(description="The plan's state after submission (as `plan_state`)")  # type: ignore[assignment]


class SubmissionsOut(Out):
    submissions: list[SubmissionOut]


class GapOut(Out):
    code: str
    message: str
    target: GapTarget
    control_id: str


class PlanOut(Out):
    state: State
    cycle: int
    rejections: int
    material_default: bool
    workflow_profile: WorkflowProfile
    moves: list[Move]
    missing: list[GapOut]
    risks: list[RiskOut]
    register_: list[EntryOut] = Field(alias="register")  # `register` would shadow BaseModel.register
    submissions: list[SubmissionOut]


class StateOut(Out):
    state: State


class PersonOut(Out):
    kind: RoleKind
    name: str
    email: str
    phone: str
    board_level: bool


class SecurityRolesOut(Out):
    people: list[PersonOut]
    version: int = Field(description="Send it back as `expected_version` to edit without losing updates")


class NoticeOut(Out):
    id: str
    number: int
    event: ChangeEvent
    description: str
    aware_date: date
    filed_date: date
    late: bool


class NoticesOut(Out):
    change_notices: list[NoticeOut]


class FiledNoticeOut(Out):
    id: str
    number: int
    event: ChangeEvent
    late: bool
    aware_date: date
    filed_date: date


class DeadlineOut(Out):
    kind: str
    subject: str
    due_on: date
    rule: str
    clause: str
    state: DeadlineState
    done_on: date | None
    late: bool
    object_type: str
    object_id: str
    party: Party


class DeadlinesOut(Out):
    deadlines: list[DeadlineOut]


class ReviewOut(Out):
    submission_id: str
    engagement_id: str
    reference: str
    supplier: str
    version: int
    submitted_on: date
    decision_due: date
    state: DeadlineState


class ReviewsOut(Out):
    reviews: list[ReviewOut]


class HolderOut(Out):
    id: str | None
    name: str
    tier: Tier
    tier_label: str


class CertificateOut(Out):
    id: str
    supplier_org_id: str
    scheme: Scheme
    scheme_label: str
    holder: HolderOut
    body: str
    number: str
    scope: str
    issued_on: date | None
    expires_on: date | None
    next_surveillance_on: date | None
    recertification_on: date | None
    provider: Provider | None
    evidence_id: str | None
    state: CertificateState
    withdrawn_at: str | None = Field(description="UTC date and time, ISO 8601")


class CertificatesOut(Out):
    certificates: list[CertificateOut]


class CatalogueSummaryOut(Out):
    id: str
    title: str
    version: str
    source: str
    kind: CatalogueKind
    control_count: int


class MappingOut(Out):
    control_id: str
    catalogue_id: str
    relation: Relation
    label: str
    direction: Literal["declared", "derived"]


class ControlOut(Out):
    id: str
    catalogue_id: str
    section_id: str
    title: str
    requirement: str
    guidance: str
    source: str
    clauses: list[str]
    short_form_clauses: list[str] = Field(
        default_factory=list,
        description="Call Off Schedule 7 only: the short form's paragraphs for the same duty (empty: none)",
    )
    evidence: str
    evidence_required: bool
    criticality: Criticality
    applies_if: str | None
    recurrence: Recurrence | None
    aliases: list[str]
    keywords: list[str]
    mappings: list[MappingOut]


class SectionOut(Out):
    id: str
    title: str
    controls: list[ControlOut]


class CatalogueOut(CatalogueSummaryOut):
    description: str
    source_clauses: list[str]
    sections: list[SectionOut]


class SearchOut(Out):
    query: str
    count: int
    controls: list[ControlOut]
