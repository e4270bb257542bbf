"""Migration 0009 on SQLite and PostgreSQL: stored closed-set values that differ from a member only
by whitespace or case are rewritten to it; a value outside the set stops the upgrade, names the
table, column and value, and changes nothing; downgrading changes nothing."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection, Engine
from sqlmodel import Session, select

from app import migrate
from app.domain.evidence import Kind, Marking
from app.domain.readiness import Status
from app.domain.register import EntrySource, EntryStatus
from app.domain.workflow import Consequence, Move, State
from app.models import ControlResponse, Decision, Evidence, PlanCase, RegisterEntry, Transition, utcnow


def _insert(connection: Connection, table: str, **values: Any) -> None:
    names = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    connection.execute(text(f"INSERT INTO {table} ({names}) VALUES ({marks})"), values)


def _id() -> str:
    return uuid.uuid4().hex


def _world(connection: Connection) -> dict[str, str]:
    """An organisation pair, an engagement and a submission, written as 0008 would hold them."""
    now = utcnow()
    buyer, supplier, engagement, submission = _id(), _id(), _id(), _id()
    for org, kind in ((buyer, "buyer"), (supplier, "supplier")):
        _insert(connection, "organisation", id=org, name=f"Org {org[:8]}", kind=kind, created_at=now)
    _insert(
        connection,
        "engagement",
        id=engagement,
        reference="MIG-1",
        title="Migrated",
        buyer_org_id=buyer,
        supplier_org_id=supplier,
        effective_on=date(2026, 1, 5),
        workflow_profile="call-off-schedule-7",
        jurisdiction="england-and-wales",
        created_at=now,
    )
    _insert(
        connection,
        "submission",
        id=submission,
        engagement_id=engagement,
        version=1,
        cycle=1,
        snapshot="{}",
        sha256="0" * 64,
        officer_name="Officer",
        officer_role="Lead",
        submitted_by_id="someone",
        submitted_on=date(2026, 2, 2),
        submitted_at=now,
    )
    return {"supplier": supplier, "engagement": engagement, "submission": submission}


def _rows(connection: Connection, world: dict[str, str], values: dict[str, str]) -> None:
    """One row in every table with a closed set, holding `values` (column key -> stored string)."""
    now = utcnow()
    engagement = world["engagement"]
    _insert(
        connection,
        "plan_case",
        engagement_id=engagement,
        state=values["plan_case.state"],
        cycle=1,
        rejections=2,
        material_default=False,
        updated_at=now,
    )
    _insert(
        connection,
        "plan_transition",
        engagement_id=engagement,
        move=values["plan_transition.move"],
        from_state=values["plan_transition.from_state"],
        to_state=values["plan_transition.to_state"],
        submission_id=world["submission"],
        actor_id="someone",
        at=now,
    )
    _insert(
        connection,
        "register_entry",
        id=_id(),
        engagement_id=engagement,
        title="Patch the servers",
        description="",
        source=values["register_entry.source"],
        control_id="A.1",
        status=values["register_entry.status"],
        version=1,
        updated_by_id="someone",
        updated_at=now,
    )
    _insert(
        connection,
        "decision",
        id=_id(),
        submission_id=world["submission"],
        engagement_id=engagement,
        number=f"RN-{_id()[:8]}",
        approved=False,
        reasons="Not yet",
        conditions="",
        control_reasons="{}",
        consequence=values["decision.consequence"],
        advisor_id="advisor",
        advisor_name="Advisor",
        advisor_role="Security advisor",
        decided_on=date(2026, 2, 9),
        decided_at=now,
    )
    _insert(
        connection,
        "control_response",
        id=_id(),
        engagement_id=engagement,
        control_id="A.1",
        status=values["control_response.status"],
        statement="",
        justification="",
        planned_change="",
        version=1,
        updated_by_id="someone",
        updated_at=now,
    )
    family = _id()
    _insert(
        connection,
        "evidence",
        id=family,
        supplier_org_id=world["supplier"],
        family_id=family,
        version=1,
        title="Policy",
        kind=values["evidence.kind"],
        marking=values["evidence.marking"],
        file_name="policy.pdf",
        media_type="application/pdf",
        size=10,
        sha256="1" * 64,
        uploaded_by_id="someone",
        uploaded_at=now,
    )


def _stored(connection: Connection) -> dict[str, str]:
    out: dict[str, str] = {}
    for key in UNTIDY:
        table, column = key.split(".")
        (value,) = connection.execute(text(f"SELECT {column} FROM {table}")).one()
        out[key] = value
    return out


UNTIDY = {
    "plan_case.state": " Dispute ",
    "plan_transition.move": "REJECT",
    "plan_transition.from_state": "Submitted",
    "plan_transition.to_state": "dispute\n",
    "register_entry.source": " gap",
    "register_entry.status": "In_Progress",
    "decision.consequence": "  ",
    "control_response.status": "Partially_Met ",
    "evidence.kind": "Policy",
    "evidence.marking": "official-sensitive",
}
TIDY = {
    "plan_case.state": "dispute",
    "plan_transition.move": "reject",
    "plan_transition.from_state": "submitted",
    "plan_transition.to_state": "dispute",
    "register_entry.source": "gap",
    "register_entry.status": "in_progress",
    "decision.consequence": "",
    "control_response.status": "partially_met",
    "evidence.kind": "policy",
    "evidence.marking": "OFFICIAL-SENSITIVE",
}


@pytest.fixture
def at_0008(engine: Engine) -> Iterator[Engine]:
    """The database downgraded to 0008; whatever the test does, it ends at head again (on
    PostgreSQL the database is shared by the session)."""
    config = migrate.alembic_config(engine)
    command.downgrade(config, "0008")
    try:
        yield engine
    finally:
        if not migrate.is_current(engine):
            with engine.begin() as connection:  # drop whatever the test left that 0009 refuses
                for table in ("evidence", "control_response", "decision", "register_entry"):
                    connection.execute(text(f"DELETE FROM {table}"))
                connection.execute(text("DELETE FROM plan_transition"))
                connection.execute(text("DELETE FROM plan_case"))
            command.upgrade(config, "head")


def test_upgrading_to_0009_rewrites_values_that_differ_only_in_case_or_whitespace(at_0008: Engine) -> None:
    with at_0008.begin() as connection:
        _rows(connection, _world(connection), UNTIDY)
    command.upgrade(migrate.alembic_config(at_0008), "head")
    assert migrate.is_current(at_0008)
    with at_0008.connect() as connection:
        assert _stored(connection) == TIDY
    with Session(at_0008) as session:  # and the ORM gives the members back
        assert session.exec(select(PlanCase)).one().state is State.DISPUTE
        transition = session.exec(select(Transition)).one()
        assert (transition.move, transition.from_state, transition.to_state) == (
            Move.REJECT,
            State.SUBMITTED,
            State.DISPUTE,
        )
        assert isinstance(transition.move, Move) and isinstance(transition.to_state, State)
        entry = session.exec(select(RegisterEntry)).one()
        assert entry.source is EntrySource.GAP and entry.status is EntryStatus.IN_PROGRESS
        assert session.exec(select(Decision)).one().consequence is Consequence.NONE
        assert session.exec(select(ControlResponse)).one().status is Status.PARTIALLY_MET
        evidence = session.exec(select(Evidence)).one()
        assert evidence.kind is Kind.POLICY and evidence.marking is Marking.OFFICIAL_SENSITIVE


def test_upgrading_keeps_values_that_are_already_members(at_0008: Engine) -> None:
    with at_0008.begin() as connection:
        _rows(connection, _world(connection), TIDY)
    command.upgrade(migrate.alembic_config(at_0008), "head")
    with at_0008.connect() as connection:
        assert _stored(connection) == TIDY


def test_a_value_outside_its_set_stops_the_upgrade_naming_it_and_changes_nothing(at_0008: Engine) -> None:
    values = {**UNTIDY, "register_entry.status": "done", "evidence.marking": "SECRET"}
    with at_0008.begin() as connection:
        _rows(connection, _world(connection), values)
    with pytest.raises(RuntimeError) as refused:
        command.upgrade(migrate.alembic_config(at_0008), "head")
    message = str(refused.value)
    assert "Cannot upgrade to 0009" in message
    assert "register_entry.status holds 'done'" in message
    assert "'planned', 'in_progress', 'implemented'" in message
    assert "evidence.marking holds 'SECRET'" in message
    assert migrate.current_revision(at_0008) == "0008"
    with at_0008.connect() as connection:
        assert _stored(connection) == values  # not even the values it could have tidied

    with at_0008.begin() as connection:  # corrected by hand, the upgrade goes through
        connection.execute(text("UPDATE register_entry SET status = 'implemented'"))
        connection.execute(text("UPDATE evidence SET marking = 'OFFICIAL'"))
    command.upgrade(migrate.alembic_config(at_0008), "head")
    with at_0008.connect() as connection:
        assert _stored(connection) == {
            **TIDY,
            "register_entry.status": "implemented",
            "evidence.marking": "OFFICIAL",
        }


def test_0009_downgrades_without_changing_anything_and_upgrades_again(engine: Engine) -> None:
    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        _rows(connection, _world(connection), TIDY)
    try:
        command.downgrade(config, "0008")
        assert migrate.current_revision(engine) == "0008"
        with engine.connect() as connection:
            assert _stored(connection) == TIDY
    finally:
        command.upgrade(config, "head")
    assert migrate.is_current(engine)
