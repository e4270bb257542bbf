"""Migration 0011 on SQLite and PostgreSQL: the single audit chain of 0010 becomes the chain
"installation" without a record rewritten (it verifies as before, checkpoints and pruned segments
included); new records go to their tenants' chains; the table still refuses changes; downgrading
is refused, saying why, once a record was written as a per-tenant chain, and otherwise restores
0010's shape."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app import migrate
from app.db import session_scope
from app.domain.audit import AuditRecord, HashRule, chain_hash, key_id
from app.models import AuditEvent, AuditHead, AuditSegment
from app.services import audit

KEY = b"m" * 32
START = datetime(2026, 3, 2, 9, 30, 0, 123456, tzinfo=UTC)
PRUNED = 3  # records 1-3 were pruned under 0010: only their segment is left
WRITTEN = 10


def _legacy(seq: int, prev: str) -> AuditRecord:
    """Record `seq` as 0010 wrote it: one chain, hashed without chain or position."""
    record = AuditRecord(
        seq=seq,
        at=audit.stamp(START + timedelta(minutes=seq)),
        actor_user_id="u1",
        actor_org_id="o1",
        action="sign_in",
        object_type="user",
        object_id="u1",
        engagement_id="e1" if seq % 2 else None,
        outcome="allowed",
        address="127.0.0.1",
        request_id=f"r{seq}",
        details="{}",
        prev_hash=prev,
        hash="",
        chain="installation",
        chain_seq=seq,
        hash_version=HashRule.SINGLE,
    )
    return replace(record, hash=chain_hash(KEY, prev, record))


def _write_0010_log(engine: Engine) -> list[AuditRecord]:
    """Records 1-10 chained as 0010 did, 1-3 pruned (a segment), the head row at 10."""
    records, prev = [], ""
    for seq in range(1, WRITTEN + 1):
        record = _legacy(seq, prev)
        records.append(record)
        prev = record.hash
    insert = text(
        "INSERT INTO audit_event (seq, at, actor_user_id, actor_org_id, action, object_type, object_id, "
        "engagement_id, outcome, address, request_id, details, prev_hash, hash) VALUES (:seq, :at, "
        ":actor_user_id, :actor_org_id, :action, :object_type, :object_id, :engagement_id, :outcome, "
        ":address, :request_id, :details, :prev_hash, :hash)"
    ).bindparams(sa.bindparam("at", type_=sa.DateTime(timezone=True)))
    with engine.begin() as connection:
        for record in records[PRUNED:]:
            values = {
                k: v for k, v in asdict(record).items() if k not in ("chain", "chain_seq", "hash_version")
            }
            values["at"] = START + timedelta(minutes=record.seq)
            connection.execute(insert, values)
        connection.execute(
            text(
                "INSERT INTO audit_segment (first_seq, last_seq, last_hash, pruned_at)"
                " VALUES (1, :last, :hash, :now)"
            ).bindparams(sa.bindparam("now", type_=sa.DateTime(timezone=True))),
            {"last": PRUNED, "hash": records[PRUNED - 1].hash, "now": START + timedelta(days=200)},
        )
        connection.execute(
            text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
            {"seq": WRITTEN, "hash": prev},
        )
    return records


@pytest.fixture
def at_0010(engine: Engine) -> Iterator[Engine]:
    """The database downgraded to 0010; whatever the test does, it ends at head again with an
    empty log (on PostgreSQL the database is shared by the session)."""
    config = migrate.alembic_config(engine)
    command.downgrade(config, "0010")
    try:
        yield engine
    finally:
        if not migrate.is_current(engine):
            command.upgrade(config, "head")


def test_the_0010_chain_becomes_the_installation_chain_and_verifies_as_before(
    at_0010: Engine, tmp_path: Path
) -> None:
    records = _write_0010_log(at_0010)
    checkpoints = tmp_path / "checkpoints.log"  # a checkpoint line in 0010's format
    checkpoints.write_text(f"{WRITTEN} {records[-1].hash} 2026-03-03T00:00:00+00:00 key={key_id(KEY)}\n")

    command.upgrade(migrate.alembic_config(at_0010), "head")
    assert migrate.is_current(at_0010)
    with session_scope(at_0010) as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        heads = session.exec(select(AuditHead)).all()
        (segment,) = session.exec(select(AuditSegment)).all()
        report = audit.verify(session, KEY, checkpoints)
    assert [(e.seq, e.chain, e.chain_seq, e.hash_version) for e in events] == [
        (seq, "installation", seq, 1) for seq in range(PRUNED + 1, WRITTEN + 1)
    ]
    assert [e.hash for e in events] == [r.hash for r in records[PRUNED:]]  # nothing re-chained
    assert [(h.chain, h.seq, h.hash) for h in heads] == [("installation", WRITTEN, records[-1].hash)]
    assert (segment.chain, segment.last_seq, segment.last_event_seq) == ("installation", PRUNED, PRUNED)
    assert report.ok and report.checked == WRITTEN - PRUNED

    # New records: the installation's continue its chain under the new rule; a tenant's start their own.
    with session_scope(at_0010, write=True) as session:
        later = audit.record(session, KEY, audit.Who(address="127.0.0.9"), "sign_in", outcome="denied")
        tenant = audit.record(session, KEY, audit.Who(user_id="u1", org_id="o1"), "token_created")
        session.commit()
    assert (later.chain, later.chain_seq, later.hash_version, later.prev_hash) == (
        "installation",
        WRITTEN + 1,
        HashRule.CHAINED,
        records[-1].hash,
    )
    assert (tenant.chain, tenant.chain_seq) == ("organisation:o1", 1)
    assert (later.seq or 0) > WRITTEN and (tenant.seq or 0) > (later.seq or 0)  # numbers never reused
    with session_scope(at_0010) as session:
        assert audit.verify(session, KEY, checkpoints).ok


def test_after_the_upgrade_the_old_records_are_still_guarded(at_0010: Engine) -> None:
    _write_0010_log(at_0010)
    command.upgrade(migrate.alembic_config(at_0010), "head")
    for statement in (
        "UPDATE audit_event SET action = 'x' WHERE seq = 5",
        "UPDATE audit_event SET chain = 'organisation:o1' WHERE seq = 5",
        "DELETE FROM audit_event WHERE seq = 5",
    ):
        with pytest.raises(Exception, match="append-only"), at_0010.begin() as connection:
            connection.execute(text(statement))

    with at_0010.begin() as connection:  # below the application: an old record moved to a tenant
        if at_0010.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))
        else:
            connection.execute(text("DROP TRIGGER audit_event_no_update"))
        connection.execute(
            text(
                "UPDATE audit_event SET chain = 'organisation:o1', chain_seq = 1, prev_hash = ''"
                " WHERE seq = 10"
            )
        )
    with session_scope(at_0010) as session:
        report = audit.verify(session, KEY)
    moved = report.chain("organisation:o1")
    assert not moved.ok and moved.bad_record == 10
    assert "written before the chains and cannot stand at this place" in moved.reason
    left = report.chain("installation")
    assert not left.ok and "records after position 9 are missing" in left.reason


def test_downgrading_is_refused_once_a_record_was_written_as_a_tenants_chain(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        audit.record(session, KEY, audit.Who(user_id="u1", org_id="o1"), "token_created")
        audit.record(session, KEY, audit.Who(), "sign_in", engagement_id="e1")
        session.commit()
    with pytest.raises(RuntimeError) as refused:
        command.downgrade(migrate.alembic_config(engine), "0010")
    message = str(refused.value)
    assert "Cannot downgrade below 0011: 2 audit records (in 2 chains)" in message
    assert "could not verify these records" in message and "Restore the database backup" in message
    assert migrate.is_current(engine)
    with session_scope(engine) as session:
        assert audit.verify(session, KEY).ok  # and nothing changed


def test_downgrading_is_refused_even_for_new_records_in_the_installation_chain(engine: Engine) -> None:
    """Records written since the upgrade are hashed with their chain and position, which 0010
    does not know, even when they are all in the installation's chain."""
    with session_scope(engine, write=True) as session:
        audit.record(session, KEY, audit.Who(address="cli"), "user_created")
        session.commit()
    with pytest.raises(RuntimeError, match="1 audit records \\(in 1 chains\\)"):
        command.downgrade(migrate.alembic_config(engine), "0010")
    assert migrate.is_current(engine)


def test_0011_downgrades_to_0010s_shape_while_only_old_records_exist(at_0010: Engine) -> None:
    records = _write_0010_log(at_0010)
    config = migrate.alembic_config(at_0010)
    command.upgrade(config, "head")
    command.downgrade(config, "0010")
    assert migrate.current_revision(at_0010) == "0010"
    with at_0010.connect() as connection:
        assert connection.execute(text("SELECT id, seq, hash FROM audit_head")).all() == [
            (1, WRITTEN, records[-1].hash)
        ]
        columns = set(connection.execute(text("SELECT * FROM audit_event")).keys())
        segment_columns = set(connection.execute(text("SELECT * FROM audit_segment")).keys())
        hashes = [row[0] for row in connection.execute(text("SELECT hash FROM audit_event ORDER BY seq"))]
    assert not {"chain", "chain_seq", "hash_version"} & columns
    assert not {"chain", "last_event_seq"} & segment_columns
    assert hashes == [r.hash for r in records[PRUNED:]]
    with pytest.raises(Exception, match="append-only"), at_0010.begin() as connection:
        connection.execute(text("UPDATE audit_event SET action = 'x' WHERE seq = 5"))
    command.upgrade(config, "head")
    with session_scope(at_0010) as session:
        assert audit.verify(session, KEY).ok


def test_downgrading_is_refused_when_a_tenants_chain_was_pruned_away(engine: Engine) -> None:
    with session_scope(engine, write=True) as session:
        audit.record(
            session, KEY, audit.Who(org_id="o1"), "token_created", at=datetime(2025, 1, 2, tzinfo=UTC)
        )
        session.commit()
    with session_scope(engine, write=True) as session:
        assert audit.prune(session, KEY, now=datetime(2026, 1, 2, tzinfo=UTC)) == 1
        session.commit()
    with pytest.raises(RuntimeError, match="audit records were written \\(and since pruned\\) as per-tenant"):
        command.downgrade(migrate.alembic_config(engine), "0010")
    assert migrate.is_current(engine)
