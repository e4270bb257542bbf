"""Every closed set the database stores is a StrEnum whose values are exactly the strings stored
before the enums existed (migration 0009 checks the rows against the same lists), and the
columns give the enum back."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum

import pytest
from sqlalchemy import Column

from app.domain.audit import AuditAction
from app.domain.certificates import STATES, CertificateState, Coverage, coverage, state_on
from app.domain.evidence import Kind, Marking
from app.domain.readiness import Status
from app.domain.register import EntrySource, EntryStatus
from app.domain.workflow import Case, Consequence, Move, State, consequence_of
from app.models import ControlResponse, Decision, Evidence, PlanCase, RegisterEntry, Transition
from app.models.base import EnumText

STORED: list[tuple[type[StrEnum], set[str]]] = [
    (State, {"draft", "submitted", "approved", "rejected", "dispute", "terminated"}),
    (Move, {"submit", "approve", "reject", "resolve_dispute", "terminate"}),
    (Consequence, {"", "dispute", "material_default"}),
    (EntrySource, {"gap", "change_notice", "manual"}),
    (EntryStatus, {"planned", "in_progress", "implemented"}),
    (Status, {"met", "partially_met", "not_met", "not_applicable"}),
    (Kind, {"policy", "procedure", "certificate", "report", "screenshot", "other"}),
    (Marking, {"OFFICIAL", "OFFICIAL-SENSITIVE"}),
    (CertificateState, {"current", "expiring", "expired", "withdrawn"}),
    (Coverage, {"current", "expiring", "expired", "missing"}),
]


@pytest.mark.parametrize(("enum", "values"), STORED, ids=[e.__name__ for e, _ in STORED])
def test_each_closed_set_keeps_the_strings_stored_today(enum: type[StrEnum], values: set[str]) -> None:
    assert {member.value for member in enum} == values
    for member in enum:
        assert member == member.value and str(member) == member.value  # templates compare strings


COLUMNS = [
    (PlanCase, "state", State, 20),
    (Transition, "move", Move, 20),
    (Transition, "from_state", State, 20),
    (Transition, "to_state", State, 20),
    (RegisterEntry, "source", EntrySource, 20),
    (RegisterEntry, "status", EntryStatus, 20),
    (Decision, "consequence", Consequence, 40),
    (ControlResponse, "status", Status, 20),
    (Evidence, "kind", Kind, 20),
    (Evidence, "marking", Marking, 20),
]


@pytest.mark.parametrize(
    ("model", "name", "enum", "length"), COLUMNS, ids=[f"{m.__tablename__}.{n}" for m, n, _, _ in COLUMNS]
)
def test_each_stored_closed_set_is_an_enum_text_column(
    model: type, name: str, enum: type[StrEnum], length: int
) -> None:
    column: Column[object] = model.__table__.c[name]  # type: ignore[attr-defined]
    assert isinstance(column.type, EnumText)
    assert column.type.enum is enum
    assert column.type.length == length  # the column itself is unchanged: a string of that length
    assert not column.nullable


def test_enum_text_gives_back_the_member_and_refuses_anything_else() -> None:
    kind = EnumText(Status, 20)
    assert kind.process_bind_param("met", None) == "met"
    assert kind.process_bind_param(Status.NOT_MET, None) == "not_met"
    assert kind.process_result_value("partially_met", None) is Status.PARTIALLY_MET
    assert kind.process_bind_param(None, None) is None
    with pytest.raises(ValueError):
        kind.process_bind_param("done", None)
    with pytest.raises(ValueError):
        kind.process_result_value("Met", None)  # migration 0009 normalised stored values


def test_the_defaults_are_members() -> None:
    assert PlanCase(engagement_id="e").state is State.DRAFT
    assert Evidence.model_fields["marking"].default is Marking.OFFICIAL
    assert RegisterEntry.model_fields["status"].default is EntryStatus.PLANNED
    assert Decision.model_fields["consequence"].default is Consequence.NONE
    assert not Consequence.NONE  # "no consequence" is falsy, as the empty string was


def test_a_decision_records_dispute_material_default_or_nothing() -> None:
    assert consequence_of(Case(State.DISPUTE, 1, 2)) is Consequence.DISPUTE
    assert consequence_of(Case(State.REJECTED, 1, 2, material_default=True)) is Consequence.MATERIAL_DEFAULT
    assert consequence_of(Case(State.REJECTED, 1, 1)) is Consequence.NONE
    assert consequence_of(Case(State.APPROVED, 1, 0)) is Consequence.NONE


def test_certificate_state_is_an_enum_member() -> None:
    today = date(2026, 6, 1)
    assert state_on(None, today) is CertificateState.CURRENT
    assert state_on(today + timedelta(days=31), today) is CertificateState.CURRENT
    assert state_on(today + timedelta(days=30), today) is CertificateState.EXPIRING
    assert state_on(today, today) is CertificateState.EXPIRED
    assert state_on(None, today, withdrawn=True) is CertificateState.WITHDRAWN
    assert STATES == ("current", "expiring", "expired", "withdrawn")


def test_coverage_is_the_best_certificate_state_or_missing() -> None:
    assert coverage(None) is Coverage.MISSING
    assert coverage(CertificateState.WITHDRAWN) is Coverage.MISSING
    assert coverage(CertificateState.EXPIRING) is Coverage.EXPIRING
    assert coverage(CertificateState.EXPIRED) is Coverage.EXPIRED
    assert coverage(CertificateState.CURRENT) is Coverage.CURRENT


def test_audit_actions_are_sorted_snake_case_and_unique() -> None:
    values = [member.value for member in AuditAction]
    assert len(values) == len(set(values))
    assert all(v == v.lower() and " " not in v for v in values)
    assert values == sorted(values)  # spelt once, in alphabetical order
    assert all(member.name == member.value.upper() for member in AuditAction)
