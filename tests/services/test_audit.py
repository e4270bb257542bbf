"""The audit chain on SQLite and PostgreSQL: every tamper case is caught, the table refuses changes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app.db import session_scope
from app.models import AuditEvent
from app.services import audit
from app.services.audit import Who

KEY = b"k" * 32
WHO = Who(user_id="u1", org_id="o1", address="127.0.0.1", request_id="r1")


def write_events(engine: Engine, count: int, start: datetime | None = None) -> None:
    with session_scope(engine, write=True) as session:
        for i in range(count):
            at = (start + timedelta(days=i)) if start else None
            audit.record(session, KEY, WHO, f"action_{i}", object_type="thing", object_id=str(i), at=at)
        session.commit()


def verify(engine: Engine, checkpoints: Path | None = None) -> audit.Verdict:
    with session_scope(engine) as session:
        return audit.verify(session, KEY, checkpoints)


def raw(engine: Engine, sql: str, **params: object) -> None:
    """Tamper below the application, as an attacker with database access would."""
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SET LOCAL session_replication_role = replica"))  # bypass triggers
            connection.execute(text(sql), params)
        else:
            connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_update"))
            connection.execute(text("DROP TRIGGER IF EXISTS audit_event_no_delete"))
            connection.execute(text(sql), params)


def test_an_intact_chain_verifies(engine: Engine) -> None:
    write_events(engine, 5)
    verdict = verify(engine)
    assert verdict.ok and verdict.checked == 5 and verdict.head.seq == 5


def test_a_wrong_key_is_reported_as_a_wrong_key_not_as_record_1_altered(engine: Engine) -> None:
    write_events(engine, 3)
    with session_scope(engine) as session:
        verdict = audit.verify(session, b"x" * 32)
    assert not verdict.ok and verdict.wrong_key
    assert verdict.first_bad_seq is None and verdict.checked == 0
    assert "audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY)" in verdict.reason
    assert "altered" not in verdict.reason


def test_a_wrong_key_is_told_apart_after_pruning_too(engine: Engine) -> None:
    write_events(engine, 300, start=datetime(2026, 1, 1, 12, tzinfo=UTC))
    with session_scope(engine, write=True) as session:
        assert audit.prune(session, KEY, now=datetime(2026, 11, 21, tzinfo=UTC)) > 0
        session.commit()
    with session_scope(engine) as session:
        assert audit.verify(session, b"x" * 32).wrong_key
        with pytest.raises(ValueError, match="audit key is wrong"):
            audit.prune(session, b"x" * 32, now=datetime(2027, 11, 21, tzinfo=UTC))


def test_an_altered_first_record_is_still_tampering_with_the_right_key(engine: Engine) -> None:
    write_events(engine, 3)
    raw(engine, "UPDATE audit_event SET action = 'nothing_happened' WHERE seq = 1")
    verdict = verify(engine)
    assert not verdict.ok and not verdict.wrong_key
    assert verdict.first_bad_seq == 1 and "record 1 was altered" in verdict.reason


def test_a_checkpoint_key_id_tells_a_rewritten_log_from_a_wrong_key(engine: Engine, tmp_path: Path) -> None:
    write_events(engine, 2)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        point = audit.write_checkpoint(session, checkpoints, KEY)
    assert point.key_id and f"key={point.key_id}" in checkpoints.read_text()
    # every record rewritten by someone without the key: no record matches ...
    raw(engine, f"UPDATE audit_event SET hash = '{'0' * 64}'")
    assert verify(engine).wrong_key  # ... which, without a checkpoint, looks like a wrong key
    verdict = verify(engine, checkpoints)  # the checkpoint proves this key wrote the log
    assert not verdict.wrong_key and verdict.first_bad_seq == 1 and "altered" in verdict.reason
    with session_scope(engine) as session:  # and another key is still a wrong key
        assert audit.verify(session, b"x" * 32, checkpoints).wrong_key


def test_a_checkpoint_gets_a_key_id_only_for_the_key_that_wrote_the_head(
    engine: Engine, tmp_path: Path
) -> None:
    write_events(engine, 2)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        assert audit.write_checkpoint(session, checkpoints, b"x" * 32).key_id == ""
        assert audit.write_checkpoint(session, checkpoints).key_id == ""
    assert "key=" not in checkpoints.read_text()
    assert [p.seq for p in audit.read_checkpoints(checkpoints)] == [2, 2]


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        ("UPDATE audit_event SET action = 'nothing_happened' WHERE seq = 3", 3),
        ("UPDATE audit_event SET outcome = 'denied', details = '{}x' WHERE seq = 2", 2),
        ("DELETE FROM audit_event WHERE seq = 3", 3),
        # reorder: swap the contents of records 2 and 3
        (
            "UPDATE audit_event SET action = CASE seq WHEN 2 THEN 'action_2' ELSE 'action_1' END, "
            "object_id = CASE seq WHEN 2 THEN '2' ELSE '1' END WHERE seq IN (2, 3)",
            2,
        ),
        # inserted: a forged record spliced in after the head with a made-up hash
        (
            "INSERT INTO audit_event (seq, at, action, object_type, object_id, outcome, address, request_id, "
            "details, prev_hash, hash) SELECT 6, at, 'forged', '', '', 'allowed', '', '', '{}', hash, "
            f"'{'0' * 64}' FROM audit_event WHERE seq = 5",
            6,
        ),
    ],
    ids=["edited-action", "edited-outcome", "deleted", "reordered", "inserted"],
)
def test_tampering_is_reported_at_the_first_bad_record(engine: Engine, tamper: str, first_bad: int) -> None:
    write_events(engine, 5)
    raw(engine, tamper)
    verdict = verify(engine)
    assert not verdict.ok
    assert verdict.first_bad_seq == first_bad
    assert verdict.reason


def test_tail_truncation_is_caught_by_a_checkpoint(engine: Engine, tmp_path: Path) -> None:
    write_events(engine, 5)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        assert audit.write_checkpoint(session, checkpoints).seq == 5
    raw(engine, "DELETE FROM audit_event WHERE seq >= 4")
    raw(engine, "UPDATE audit_head SET seq = 3")
    verdict = verify(engine, checkpoints)
    assert not verdict.ok and verdict.first_bad_seq == 4
    assert "missing" in verdict.reason


def test_database_refuses_update_and_delete(engine: Engine) -> None:
    write_events(engine, 2)
    statements = (
        "UPDATE audit_event SET action = 'x' WHERE seq = 1",
        "DELETE FROM audit_event WHERE seq = 1",
    )
    for statement in statements:
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert verify(engine).ok


def test_pruning_keeps_6_months_and_the_rest_still_verifies(engine: Engine, tmp_path: Path) -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    write_events(engine, 300, start=start)  # one a day from 1 January 2026
    now = datetime(2026, 11, 21, tzinfo=UTC)
    with session_scope(engine, write=True) as session:
        with pytest.raises(ValueError, match="183"):
            audit.prune(session, KEY, now=now, retention_days=30)
        removed = audit.prune(session, KEY, now=now)
        session.commit()
    # cutoff 2026-05-22 -> whole months before 1 May go: January to April = 120 days
    assert removed == 120
    with session_scope(engine) as session:
        oldest = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)).limit(1)).one()
    assert oldest.at.replace(tzinfo=UTC) >= datetime(2026, 5, 1, tzinfo=UTC)
    assert verify(engine).ok
