"""The audit chains on SQLite and PostgreSQL: one chain per tenant, every tamper case caught in the
chain it hit, writers to different chains never waiting on each other, the table refusing changes."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlmodel import col, select

from app.db import session_scope
from app.domain.audit import HashRule
from app.models import AuditEvent, AuditHead, AuditSegment
from app.services import audit
from app.services.audit import Who

KEY = b"k" * 32
WHO = Who(user_id="u1", org_id="o1", address="127.0.0.1", request_id="r1")
OTHER = Who(user_id="u2", org_id="o2", address="127.0.0.2", request_id="r2")
NOBODY = Who(address="127.0.0.9", request_id="r9")
ORG = "organisation:o1"
ENGAGEMENT = "engagement:e1"
INSTALLATION = "installation"


def write_events(
    engine: Engine,
    count: int,
    start: datetime | None = None,
    who: Who = WHO,
    engagement_id: str | None = None,
    every_days: int = 1,
) -> None:
    with session_scope(engine, write=True) as session:
        for i in range(count):
            at = (start + timedelta(days=i * every_days)) if start else None
            audit.record(
                session,
                KEY,
                who,
                f"action_{i}",
                object_type="thing",
                object_id=str(i),
                engagement_id=engagement_id,
                at=at,
            )
        session.commit()


def three_tenants(engine: Engine) -> dict[tuple[str, int], int]:
    """Interleaved writes to an engagement (4), an organisation (4) and the installation (2);
    returns the installation-wide seq of each (chain, position)."""
    for _ in range(2):
        write_events(engine, 2, engagement_id="e1")
        write_events(engine, 2)
        write_events(engine, 1, who=NOBODY)
    return places(engine)


def places(engine: Engine) -> dict[tuple[str, int], int]:
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent)).all()
    return {(event.chain, event.chain_seq): event.seq or 0 for event in events}


def verify(engine: Engine, checkpoints: Path | None = None) -> audit.Report:
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


def head_row(engine: Engine, chain: str) -> AuditHead:
    with session_scope(engine) as session:
        row = session.get(AuditHead, chain)
    assert row is not None
    return row


def test_each_event_joins_its_tenants_chain_with_its_own_numbering(engine: Engine) -> None:
    at = three_tenants(engine)
    assert sorted(at) == [
        *((ENGAGEMENT, n) for n in (1, 2, 3, 4)),
        (INSTALLATION, 1),
        (INSTALLATION, 2),
        *((ORG, n) for n in (1, 2, 3, 4)),
    ]
    # the installation-wide number still counts every record once, in the order written
    assert [at[ENGAGEMENT, 1], at[ENGAGEMENT, 2], at[ORG, 1], at[ORG, 2], at[INSTALLATION, 1]] == sorted(
        [at[ENGAGEMENT, 1], at[ENGAGEMENT, 2], at[ORG, 1], at[ORG, 2], at[INSTALLATION, 1]]
    )
    assert at[ENGAGEMENT, 3] > at[INSTALLATION, 1]
    assert len(set(at.values())) == 10
    with session_scope(engine) as session:
        events = session.exec(select(AuditEvent)).all()
    assert {event.hash_version for event in events} == {HashRule.CHAINED}
    first_of_org = next(e for e in events if (e.chain, e.chain_seq) == (ORG, 1))
    assert first_of_org.prev_hash == ""  # each chain starts at its own genesis
    assert (
        head_row(engine, ORG).seq,
        head_row(engine, ENGAGEMENT).seq,
        head_row(engine, INSTALLATION).seq,
    ) == (
        4,
        4,
        2,
    )
    report = verify(engine)
    assert report.ok and report.checked == 10
    assert {v.chain: v.head.seq for v in report.verdicts} == {ENGAGEMENT: 4, INSTALLATION: 2, ORG: 4}


def test_an_engagements_events_share_one_chain_whoever_acts(engine: Engine) -> None:
    write_events(engine, 1, engagement_id="e1")
    write_events(engine, 1, who=OTHER, engagement_id="e1")  # the other party to the engagement
    write_events(engine, 1, who=OTHER)
    assert sorted(places(engine)) == [(ENGAGEMENT, 1), (ENGAGEMENT, 2), ("organisation:o2", 1)]


def test_a_wrong_key_is_reported_as_a_wrong_key_not_as_record_1_altered(engine: Engine) -> None:
    three_tenants(engine)
    with session_scope(engine) as session:
        report = audit.verify(session, b"x" * 32)
    assert not report.ok and report.wrong_key
    assert len(report.broken) == 3 and all(v.wrong_key for v in report.broken)
    for verdict in report.broken:
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


def test_a_chain_rewritten_whole_is_tampering_when_another_chain_proves_the_key(engine: Engine) -> None:
    three_tenants(engine)
    raw(engine, f"UPDATE audit_event SET hash = '{'0' * 64}' WHERE chain = :chain", chain=ORG)
    report = verify(engine)
    assert not report.wrong_key
    (broken,) = report.broken
    assert broken.chain == ORG and broken.first_bad_seq == 1 and "altered" in broken.reason


def test_an_altered_first_record_is_still_tampering_with_the_right_key(engine: Engine) -> None:
    write_events(engine, 3)
    raw(engine, "UPDATE audit_event SET action = 'nothing_happened' WHERE chain_seq = 1")
    (verdict,) = verify(engine).broken
    assert not verdict.wrong_key
    assert verdict.first_bad_seq == 1 and "was altered" in verdict.reason


def test_a_checkpoint_key_id_tells_a_rewritten_log_from_a_wrong_key(engine: Engine, tmp_path: Path) -> None:
    write_events(engine, 2)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        (point,) = audit.write_checkpoint(session, checkpoints, KEY)
    assert point.key_id and f"key={point.key_id}" in checkpoints.read_text()
    # every record rewritten by someone without the key: no record matches ...
    raw(engine, f"UPDATE audit_event SET hash = '{'0' * 64}'")
    assert verify(engine).wrong_key  # ... which, without a checkpoint, looks like a wrong key
    report = verify(engine, checkpoints)  # the checkpoint proves this key wrote the log
    (verdict,) = report.broken
    assert not report.wrong_key and verdict.first_bad_seq == 1 and "altered" in verdict.reason
    with session_scope(engine) as session:  # and another key is still a wrong key
        assert audit.verify(session, b"x" * 32, checkpoints).wrong_key


def test_a_checkpoint_gets_a_key_id_only_for_the_key_that_wrote_the_head(
    engine: Engine, tmp_path: Path
) -> None:
    write_events(engine, 2)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        assert [p.key_id for p in audit.write_checkpoint(session, checkpoints, b"x" * 32)] == [""]
        assert [p.key_id for p in audit.write_checkpoint(session, checkpoints)] == [""]
    assert "key=" not in checkpoints.read_text()
    assert [(p.chain, p.seq) for p in audit.read_checkpoints(checkpoints)] == [(ORG, 2), (ORG, 2)]


def test_a_checkpoint_holds_the_head_of_every_chain(engine: Engine, tmp_path: Path) -> None:
    at = three_tenants(engine)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        points = audit.write_checkpoint(session, checkpoints, KEY)
        heads = audit.heads(session, KEY)
    assert points == heads
    assert [(p.chain, p.seq) for p in points] == [(ENGAGEMENT, 4), (INSTALLATION, 2), (ORG, 4)]
    lines = checkpoints.read_text().splitlines()
    assert len(lines) == 3 and all(line.endswith(f"key={points[0].key_id}") for line in lines)
    assert audit.read_checkpoints(checkpoints) == points
    with session_scope(engine) as session:
        last = session.exec(select(AuditEvent).where(AuditEvent.seq == at[ORG, 4])).one()
    assert points[2].hash == last.hash
    document = audit.checkpoint_document(points, written_at=datetime(2026, 12, 14, 9, tzinfo=UTC))
    assert document["written_at"] == "2026-12-14T09:00:00+00:00"
    assert audit.parse_checkpoint_document(json.dumps(document).encode()) == points
    with pytest.raises(ValueError, match="not an audit checkpoint"):
        audit.parse_checkpoint_document(b'{"kind": "something else"}')


def test_checkpoint_lines_written_before_the_chains_are_the_installation_chains(
    engine: Engine, tmp_path: Path
) -> None:
    write_events(engine, 3, who=NOBODY)
    with session_scope(engine) as session:
        (head,) = audit.heads(session)
    checkpoints = tmp_path / "checkpoints.log"
    # the old format: "<seq> <hash> <written at> [key=<id>]", one chain for everything
    checkpoints.write_text(f"3 {head.hash} 2026-11-21T09:00:00+00:00\n")
    assert audit.read_checkpoints(checkpoints) == [audit.Checkpoint(3, head.hash, "", INSTALLATION)]
    assert verify(engine, checkpoints).ok
    raw(engine, "DELETE FROM audit_event WHERE chain_seq = 3")
    raw(engine, "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_event WHERE chain_seq = 2)")
    (verdict,) = verify(engine, checkpoints).broken
    assert verdict.chain == INSTALLATION and verdict.first_bad_seq == 3 and "missing" in verdict.reason


Tamper = Callable[[Engine, dict[tuple[str, int], int]], None]
FORGED = ("forged", 9999)  # the record at fault is the one the tamper made, numbered 9999


def _edit(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    raw(engine, "UPDATE audit_event SET action = 'nothing_happened' WHERE seq = :seq", seq=at[ORG, 3])


def _edit_details(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    raw(engine, "UPDATE audit_event SET outcome = 'denied', details = '{}x' WHERE seq = :seq", seq=at[ORG, 2])


def _renumber(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    raw(engine, "UPDATE audit_event SET seq = 9999 WHERE seq = :seq", seq=at[ORG, 3])


def _delete(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    raw(engine, "DELETE FROM audit_event WHERE seq = :seq", seq=at[ORG, 3])


def _reorder(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    """Swap the places of positions 2 and 3 (three steps: the pair is unique)."""
    raw(engine, "UPDATE audit_event SET chain_seq = -2 WHERE seq = :seq", seq=at[ORG, 2])
    raw(engine, "UPDATE audit_event SET chain_seq = 2 WHERE seq = :seq", seq=at[ORG, 3])
    raw(engine, "UPDATE audit_event SET chain_seq = 3 WHERE seq = :seq", seq=at[ORG, 2])


def _insert(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    """A forged record appended to the chain (head row moved too) with a made-up hash."""
    raw(
        engine,
        "INSERT INTO audit_event (seq, chain, chain_seq, hash_version, at, action, object_type, object_id, "
        "outcome, address, request_id, details, prev_hash, hash) SELECT 9999, chain, 5, 2, at, 'forged', "
        f"'', '', 'allowed', '', '', '{{}}', hash, '{'0' * 64}' FROM audit_event WHERE seq = :seq",
        seq=at[ORG, 4],
    )
    raw(engine, f"UPDATE audit_head SET seq = 5, hash = '{'0' * 64}' WHERE chain = :chain", chain=ORG)


def _insert_in_the_middle(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    """Positions 3 and 4 moved up one, a forged record put at 3 linking to position 2."""
    for position in (4, 3):
        raw(
            engine,
            "UPDATE audit_event SET chain_seq = chain_seq + 1 WHERE seq = :seq",
            seq=at[ORG, position],
        )
    raw(
        engine,
        "INSERT INTO audit_event (seq, chain, chain_seq, hash_version, at, action, object_type, object_id, "
        "outcome, address, request_id, details, prev_hash, hash) SELECT 9999, chain, 3, 2, at, 'forged', "
        f"'', '', 'allowed', '', '', '{{}}', hash, '{'0' * 64}' FROM audit_event WHERE seq = :seq",
        seq=at[ORG, 2],
    )


def _move_to_another_chain(engine: Engine, at: dict[tuple[str, int], int]) -> None:
    """The engagement's last record re-filed as the organisation's fifth, linked to its head."""
    raw(
        engine,
        "UPDATE audit_event SET chain = :chain, chain_seq = 5, "
        "prev_hash = (SELECT hash FROM audit_head WHERE chain = :head) WHERE seq = :seq",
        chain=ORG,
        head=ORG,
        seq=at[ENGAGEMENT, 4],
    )


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        (_edit, {ORG: (3, (ORG, 3), "altered")}),
        (_edit_details, {ORG: (2, (ORG, 2), "altered")}),
        (_renumber, {ORG: (3, FORGED, "altered")}),
        (_delete, {ORG: (3, None, "position 3 is missing")}),
        (_reorder, {ORG: (2, (ORG, 3), "does not follow position 1")}),
        (_insert, {ORG: (5, FORGED, "altered")}),
        (_insert_in_the_middle, {ORG: (3, FORGED, "altered")}),
        (
            _move_to_another_chain,
            {
                ENGAGEMENT: (4, None, "missing (the chain's head is at 4)"),
                ORG: (5, (ENGAGEMENT, 4), "altered"),
            },
        ),
    ],
    ids=[
        "edited-action",
        "edited-outcome",
        "renumbered",
        "deleted",
        "reordered",
        "inserted",
        "inserted-mid-chain",
        "moved-between-chains",
    ],
)
def test_tampering_is_reported_in_its_chain_at_the_first_bad_record(
    engine: Engine, tamper: Tamper, expected: dict[str, tuple[int, tuple[str, int] | None, str]]
) -> None:
    at = three_tenants(engine)
    tamper(engine, at)
    report = verify(engine)
    assert not report.ok and not report.wrong_key
    assert {verdict.chain for verdict in report.broken} == set(expected)
    for chain, (position, record, reason) in expected.items():
        verdict = report.chain(chain)
        assert verdict.first_bad_seq == position, verdict.reason
        bad = FORGED[1] if record == FORGED else at[record] if record else None
        assert verdict.bad_record == bad, verdict.reason
        assert reason in verdict.reason
    assert all(v.ok for v in report.verdicts if v.chain not in expected)  # other tenants' chains hold


def test_a_truncated_chain_tail_is_caught_by_a_checkpoint(engine: Engine, tmp_path: Path) -> None:
    at = three_tenants(engine)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        audit.write_checkpoint(session, checkpoints, KEY)
    write_events(engine, 1)  # the organisation's fifth record, after the checkpoint
    raw(engine, "DELETE FROM audit_event WHERE chain = :chain AND chain_seq >= 3", chain=ORG)
    raw(
        engine,
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_event WHERE seq = :seq)"
        " WHERE chain = :chain",
        seq=at[ORG, 2],
        chain=ORG,
    )
    assert verify(engine).ok  # a tail cut off cleanly, head row and all, looks whole without checkpoints ...
    report = verify(engine, checkpoints)  # ... which is why they are written
    (verdict,) = report.broken
    assert verdict.chain == ORG and verdict.first_bad_seq == 3
    assert "records after position 2 are missing (a checkpoint saw 4)" in verdict.reason


def test_a_tail_cut_off_without_moving_the_head_row_is_caught_without_checkpoints(engine: Engine) -> None:
    three_tenants(engine)
    raw(engine, "DELETE FROM audit_event WHERE chain = :chain AND chain_seq = 4", chain=ENGAGEMENT)
    (verdict,) = verify(engine).broken
    assert verdict.chain == ENGAGEMENT and verdict.first_bad_seq == 4
    assert "records after position 3 are missing (the chain's head is at 4)" in verdict.reason


def test_a_chain_deleted_whole_is_caught_by_a_checkpoint(engine: Engine, tmp_path: Path) -> None:
    three_tenants(engine)
    checkpoints = tmp_path / "checkpoints.log"
    with session_scope(engine) as session:
        audit.write_checkpoint(session, checkpoints, KEY)
    raw(engine, "DELETE FROM audit_event WHERE chain = :chain", chain=ENGAGEMENT)
    raw(engine, "DELETE FROM audit_head WHERE chain = :chain", chain=ENGAGEMENT)
    (verdict,) = verify(engine, checkpoints).broken
    assert verdict.chain == ENGAGEMENT and verdict.first_bad_seq == 1
    assert "records after position 0 are missing" in verdict.reason


def test_database_refuses_update_and_delete(engine: Engine) -> None:
    write_events(engine, 2)
    statements = (
        "UPDATE audit_event SET action = 'x' WHERE chain_seq = 1",
        "UPDATE audit_event SET chain = 'organisation:o2' WHERE chain_seq = 1",
        "DELETE FROM audit_event WHERE chain_seq = 1",
    )
    for statement in statements:
        with pytest.raises(Exception, match="append-only"), engine.begin() as connection:
            connection.execute(text(statement))
    assert verify(engine).ok


def test_pruning_keeps_6_months_in_every_chain_and_the_rest_still_verifies(engine: Engine) -> None:
    start = datetime(2026, 1, 1, 12, tzinfo=UTC)
    write_events(engine, 150, start=start, every_days=2)  # every other day from 1 January 2026 ...
    write_events(engine, 150, start=start, engagement_id="e1", every_days=2)  # ... in two chains
    now = datetime(2026, 11, 21, tzinfo=UTC)
    with session_scope(engine, write=True) as session:
        with pytest.raises(ValueError, match="183"):
            audit.prune(session, KEY, now=now, retention_days=30)
        removed = audit.prune(session, KEY, now=now)
        session.commit()
    # cutoff 2026-05-22 -> whole months before 1 May go: January to April = 120 days, 60 records a chain
    assert removed == 120
    with session_scope(engine) as session:
        oldest = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)).limit(1)).one()
        segments = session.exec(select(AuditSegment).order_by(col(AuditSegment.chain))).all()
    assert oldest.at.replace(tzinfo=UTC) >= datetime(2026, 5, 1, tzinfo=UTC)
    assert [(s.chain, s.first_seq, s.last_seq) for s in segments] == [(ENGAGEMENT, 1, 60), (ORG, 1, 60)]
    report = verify(engine)
    assert report.ok and report.checked == 180
    write_events(engine, 1, engagement_id="e1")  # the chain goes on from where it was
    assert verify(engine).ok and head_row(engine, ENGAGEMENT).seq == 151


def test_a_record_pruned_away_keeps_its_number(engine: Engine) -> None:
    write_events(engine, 40, start=datetime(2026, 1, 1, 12, tzinfo=UTC))
    with session_scope(engine, write=True) as session:
        assert audit.prune(session, KEY, now=datetime(2027, 1, 1, tzinfo=UTC)) == 40
        session.commit()
    write_events(engine, 1)
    with session_scope(engine) as session:
        (event,) = session.exec(select(AuditEvent)).all()
    assert event.seq is not None and event.seq > 40 and event.chain_seq == 41
    assert verify(engine).ok


def test_pruning_refuses_a_broken_chain_and_removes_nothing(engine: Engine) -> None:
    write_events(engine, 40, start=datetime(2026, 1, 1, 12, tzinfo=UTC))
    raw(engine, "UPDATE audit_event SET action = 'x' WHERE chain_seq = 7")
    with session_scope(engine, write=True) as session, pytest.raises(ValueError) as refused:
        audit.prune(session, KEY, now=datetime(2027, 1, 1, tzinfo=UTC))
    assert f"refusing to prune a broken chain ({ORG}): record" in str(refused.value)
    assert len(places(engine)) == 40


def _record_in_thread(
    engine: Engine, who: Who, engagement_id: str | None = None
) -> tuple[threading.Thread, list[float]]:
    done: list[float] = []

    def run() -> None:
        with session_scope(engine, write=True) as session:
            audit.record(session, KEY, who, "second_writer", engagement_id=engagement_id)
            session.commit()
        done.append(time.monotonic())

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, done


def test_writers_to_another_tenants_chain_do_not_wait(engine: Engine) -> None:
    """One transaction holds the organisation chain's head (it has recorded and not committed).

    PostgreSQL: another tenant's record completes at once; only a writer to the same chain
    waits. SQLite has one write lock for the whole database (BEGIN IMMEDIATE), so there every
    writer waits for the open transaction whatever its chain: the per-tenant chains change
    nothing there, and this test shows it too."""
    write_events(engine, 1)
    write_events(engine, 1, who=OTHER)
    with session_scope(engine, write=True) as holder:
        audit.record(holder, KEY, WHO, "holding_the_head")  # the organisation chain's head is now locked
        other, other_done = _record_in_thread(engine, OTHER)
        same, same_done = _record_in_thread(engine, WHO)
        other.join(timeout=5 if engine.dialect.name == "postgresql" else 0.5)
        time.sleep(0.3)
        if engine.dialect.name == "postgresql":
            assert other_done, "another tenant's write waited for this one"
        else:
            assert not other_done  # SQLite: the database's one write lock
        assert not same_done  # the same chain's writer waits for the head
        committed = time.monotonic()
        holder.commit()
    same.join(timeout=10)
    other.join(timeout=10)
    assert same_done and other_done
    if engine.dialect.name == "postgresql":
        assert other_done[0] < committed <= same_done[0]
    assert set(places(engine)) == {
        (ORG, 1),
        (ORG, 2),
        (ORG, 3),
        ("organisation:o2", 1),
        ("organisation:o2", 2),
    }
    assert verify(engine).ok


def test_two_writers_starting_a_new_chain_at_once_both_land_in_order(engine: Engine) -> None:
    with session_scope(engine, write=True) as first:
        audit.record(first, KEY, WHO, "first", engagement_id="new")  # creates the head row, uncommitted
        second, second_done = _record_in_thread(engine, OTHER, engagement_id="new")
        time.sleep(0.3)
        assert not second_done  # waits for the head row the first writer made (no duplicate, no error)
        first.commit()
    second.join(timeout=10)
    assert second_done
    with session_scope(engine) as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.chain == "engagement:new").order_by(col(AuditEvent.chain_seq))
        ).all()
    assert [(e.action, e.chain_seq) for e in events] == [("first", 1), ("second_writer", 2)]
    assert head_row(engine, "engagement:new").seq == 2
    assert verify(engine).ok


def test_a_deleted_head_row_is_reported(engine: Engine) -> None:
    three_tenants(engine)
    raw(engine, "DELETE FROM audit_head WHERE chain = :chain", chain=ORG)
    (verdict,) = verify(engine).broken
    assert verdict.chain == ORG and verdict.first_bad_seq == 4
    assert "the chain's head row is missing, but its records go up to position 4" in verdict.reason


def test_the_newest_record_time_is_read_for_the_head_age_metric(engine: Engine) -> None:
    with session_scope(engine) as session:
        assert audit.newest_record_at(session) is None
    write_events(engine, 1, start=datetime(2026, 12, 1, 9, tzinfo=UTC), engagement_id="e1")
    write_events(engine, 1, start=datetime(2026, 12, 1, 10, 30, tzinfo=UTC))
    with session_scope(engine) as session:
        assert audit.newest_record_at(session) == datetime(2026, 12, 1, 10, 30, tzinfo=UTC)
