"""Writing, verifying, checkpointing and pruning the audit log (rules in app.domain.audit)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, text
from sqlmodel import Session, col, select

from app.domain.audit import (
    GENESIS_HASH,
    MIN_RETENTION_DAYS,
    AuditRecord,
    Checkpoint,
    Verdict,
    chain_hash,
    key_id,
    verify_chain,
)
from app.models import AuditEvent, AuditHead, AuditPrunePermit, AuditSegment, utcnow


@dataclass(frozen=True, slots=True)
class Who:
    """The actor and request behind an audit record."""

    user_id: str | None = None
    org_id: str | None = None
    address: str = ""
    request_id: str = ""


def stamp(at: datetime) -> str:
    """The timestamp as hashed: naive UTC ISO 8601 with microseconds (same on both databases)."""
    if at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    return at.isoformat(timespec="microseconds")


def to_record(event: AuditEvent) -> AuditRecord:
    return AuditRecord(
        seq=event.seq or 0,
        at=stamp(event.at),
        actor_user_id=event.actor_user_id,
        actor_org_id=event.actor_org_id,
        action=event.action,
        object_type=event.object_type,
        object_id=event.object_id,
        engagement_id=event.engagement_id,
        outcome=event.outcome,
        address=event.address,
        request_id=event.request_id,
        details=event.details,
        prev_hash=event.prev_hash,
        hash=event.hash,
    )


def record(
    session: Session,
    key: bytes,
    who: Who,
    action: str,
    *,
    outcome: str = "allowed",
    object_type: str = "",
    object_id: str = "",
    engagement_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event in the caller's transaction (so it commits or rolls back with the change)."""
    head = session.exec(select(AuditHead).where(AuditHead.id == 1).with_for_update()).one()
    moment = (at or utcnow()).astimezone(UTC)
    event = AuditEvent(
        seq=head.seq + 1,
        at=moment,
        actor_user_id=who.user_id,
        actor_org_id=who.org_id,
        action=action,
        object_type=object_type,
        object_id=object_id,
        engagement_id=engagement_id,
        outcome=outcome,
        address=who.address[:64],
        request_id=who.request_id[:64],
        details=json.dumps(details or {}, sort_keys=True, separators=(",", ":")),
        prev_hash=head.hash,
        hash="",
    )
    event.hash = chain_hash(key, head.hash, to_record(event))
    head.seq, head.hash = event.seq or 0, event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def _records(session: Session, after_seq: int) -> Iterator[AuditRecord]:
    query = select(AuditEvent).where(col(AuditEvent.seq) > after_seq).order_by(col(AuditEvent.seq))
    for event in session.exec(query.execution_options(yield_per=1000)):
        yield to_record(event)


def chain_start(session: Session) -> Checkpoint:
    segment = session.exec(select(AuditSegment).order_by(col(AuditSegment.last_seq).desc()).limit(1)).first()
    return Checkpoint(segment.last_seq, segment.last_hash) if segment else Checkpoint(0, GENESIS_HASH)


def read_checkpoints(path: Path) -> list[Checkpoint]:
    if not path.exists():
        return []
    points = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[0].isdigit():
            ids = [part.removeprefix("key=") for part in parts[2:] if part.startswith("key=")]
            points.append(Checkpoint(int(parts[0]), parts[1], ids[0] if ids else ""))
    return points


def verify(session: Session, key: bytes, checkpoint_file: Path | None = None) -> Verdict:
    start = chain_start(session)
    points = read_checkpoints(checkpoint_file) if checkpoint_file else []
    return verify_chain(key, _records(session, start.seq), start=start, checkpoints=points)


def write_checkpoint(session: Session, path: Path, key: bytes | None = None) -> Checkpoint:
    """Append the current head (seq and hash) to the append-only checkpoint file.

    With the audit key, and only if the head record's hash matches it, the line also
    carries the key's id, so that `verify` can tell a wrong key from a rewritten log.
    """
    last = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    point = Checkpoint(last.seq or 0, last.hash) if last else chain_start(session)
    if key is not None and last is not None and chain_hash(key, last.prev_hash, to_record(last)) == last.hash:
        point = Checkpoint(point.seq, point.hash, key_id(key))
    path.parent.mkdir(parents=True, exist_ok=True)
    tag = f" key={point.key_id}" if point.key_id else ""
    line = f"{point.seq} {point.hash} {utcnow().isoformat()}{tag}\n".encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)
    return point


def prune(session: Session, key: bytes, *, now: datetime, retention_days: int = MIN_RETENTION_DAYS) -> int:
    """Delete whole calendar months of events that ended more than `retention_days` ago.

    The pruned stretch is verified first and its last seq and hash are kept, so the
    rest of the chain still verifies. Returns the number of events removed.
    """
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"audit events are kept at least {MIN_RETENTION_DAYS} days")
    cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
    boundary = cutoff.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    start = chain_start(session)
    doomed = [r for r in _records(session, start.seq) if r.at < stamp(boundary)]
    if not doomed:
        return 0
    verdict = verify_chain(key, doomed, start=start)
    if not verdict.ok:
        raise ValueError(f"refusing to prune a broken chain: {verdict.reason}")
    last = doomed[-1]
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL attest.audit_prune = 'on'"))
    else:
        session.add(AuditPrunePermit(id=1))
        session.flush()
    session.execute(delete(AuditEvent).where(col(AuditEvent.seq) <= last.seq))
    if session.get_bind().dialect.name != "postgresql":
        session.execute(delete(AuditPrunePermit))
    session.add(AuditSegment(first_seq=doomed[0].seq, last_seq=last.seq, last_hash=last.hash))
    session.flush()
    return len(doomed)
