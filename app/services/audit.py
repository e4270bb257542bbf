"""Writing, verifying, checkpointing and pruning the audit chains (rules in app.domain.audit).

Each tenant's events form a chain of their own (`app.domain.audit.chain_for`) with its own head
row, so appending locks only that row: two tenants' writes never wait on each other. A missing
head row is created race-free on both databases (INSERT ... ON CONFLICT DO NOTHING, then
SELECT ... FOR UPDATE). `seq`, the installation-wide number, comes from the column's sequence
on PostgreSQL (it never waits) and from the table itself on SQLite, whose one write lock
serialises every writer anyway.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from itertools import groupby, takewhile
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import and_, delete, text
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlmodel import Session, col, select

from app.domain.access import Action
from app.domain.audit import (
    GENESIS_HASH,
    MIN_RETENTION_DAYS,
    AuditAction,
    AuditRecord,
    Checkpoint,
    HashRule,
    Verdict,
    chain_for,
    chain_hash,
    key_id,
    verify_chain,
)
from app.models import AuditEvent, AuditHead, AuditPrunePermit, AuditSegment, utcnow

CHECKPOINT_FOLDER = "audit-checkpoints/"  # in an S3 evidence bucket: one object per checkpoint
CHECKPOINT_KIND = "attest-audit-checkpoint"


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
        chain=event.chain,
        chain_seq=event.chain_seq,
        hash_version=event.hash_version,
    )


def _is_postgres(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def lock_head(session: Session, chain: str) -> AuditHead:
    """The chain's head row, locked until the transaction ends; created (at position 0) if the
    chain is new. Only writers to the same chain wait here."""
    query = select(AuditHead).where(AuditHead.chain == chain).with_for_update()
    head = session.exec(query).first()
    if head is None:
        insert = postgresql_insert if _is_postgres(session) else sqlite_insert
        session.execute(
            insert(AuditHead)
            .values(chain=chain, seq=0, hash=GENESIS_HASH)
            .on_conflict_do_nothing(index_elements=["chain"])
        )
        head = session.exec(query).one()  # ours, or the one a concurrent writer just committed
    return head


def _next_seq(session: Session) -> int:
    """The next installation-wide number."""
    if _is_postgres(session):
        nextval = text("SELECT nextval(pg_get_serial_sequence('audit_event', 'seq'))")
        return int(session.execute(nextval).scalar_one())
    # SQLite: the caller holds the database's write lock; numbers of pruned records stay used.
    used = text(
        "SELECT MAX(n) FROM (SELECT MAX(seq) AS n FROM audit_event"
        " UNION ALL SELECT MAX(last_event_seq) FROM audit_segment)"
    )
    return int(session.execute(used).scalar() or 0) + 1


# The object id column's length; a longer id (only ever one asked for in a URL, which cannot
# exist) is stored cut to it, and what was asked for goes in the details, up to OBJECT_ID_KEPT.
OBJECT_ID_LENGTH = 64
OBJECT_ID_KEPT = 2000


def record(
    session: Session,
    key: bytes,
    who: Who,
    action: AuditAction | Action | str,
    *,
    outcome: str = "allowed",
    object_type: str = "",
    object_id: str = "",
    engagement_id: str | None = None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEvent:
    """Append one event to its tenant's chain in the caller's transaction (so it commits or
    rolls back with the change).

    `action` is an `AuditAction` for an allowed action, or the access rule's `Action` for a
    refusal; a plain string is still accepted while call sites move to the enums (its value is
    what is stored and hashed either way)."""
    if len(object_id) > OBJECT_ID_LENGTH:  # an id asked for that cannot exist: kept in full
        details = {**(details or {}), "object_id": object_id[:OBJECT_ID_KEPT]}
        object_id = object_id[:OBJECT_ID_LENGTH]
    chain = chain_for(engagement_id=engagement_id, org_id=who.org_id)
    head = lock_head(session, chain)
    moment = (at or utcnow()).astimezone(UTC)
    event = AuditEvent(
        seq=_next_seq(session),
        chain=chain,
        chain_seq=head.seq + 1,
        hash_version=HashRule.CHAINED,
        at=moment,
        actor_user_id=who.user_id,
        actor_org_id=who.org_id,
        action=str(action),
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
    head.seq, head.hash = event.chain_seq, event.hash
    session.add(event)
    session.add(head)
    session.flush()
    return event


def _chain_records(session: Session, chain: str, after: int) -> Generator[AuditRecord, None, None]:
    query = (
        select(AuditEvent)
        .where(AuditEvent.chain == chain, col(AuditEvent.chain_seq) > after)
        .order_by(col(AuditEvent.chain_seq))
    )
    result = session.exec(query.execution_options(yield_per=1000))
    try:
        for event in result:
            yield to_record(event)
    finally:
        result.close()


def chain_start(session: Session, chain: str) -> Checkpoint:
    """Where verification of `chain` starts: after its last pruned segment, or at its genesis."""
    query = (
        select(AuditSegment)
        .where(AuditSegment.chain == chain)
        .order_by(col(AuditSegment.last_seq).desc())
        .limit(1)
    )
    segment = session.exec(query).first()
    if segment is None:
        return Checkpoint(0, GENESIS_HASH, chain=chain)
    return Checkpoint(segment.last_seq, segment.last_hash, chain=chain)


def _chain_starts(session: Session) -> dict[str, Checkpoint]:
    starts: dict[str, Checkpoint] = {}
    for segment in session.exec(select(AuditSegment).order_by(col(AuditSegment.last_seq))):
        starts[segment.chain] = Checkpoint(segment.last_seq, segment.last_hash, chain=segment.chain)
    return starts


# --- checkpoints -----------------------------------------------------------------------------


def read_checkpoints(path: Path) -> list[Checkpoint]:
    """The checkpoint file's lines: `<chain> <position> <hash> <written at> [key=<id>]`.

    Lines written before the chains (`<seq> <hash> <written at> [key=<id>]`) are the
    installation chain's: its positions are those seqs."""
    if not path.exists():
        return []
    points = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split()
        ids = [part.removeprefix("key=") for part in parts if part.startswith("key=")]
        key = ids[0] if ids else ""
        if len(parts) >= 2 and parts[0].isdigit():
            points.append(Checkpoint(int(parts[0]), parts[1], key))
        elif len(parts) >= 3 and parts[1].isdigit():
            points.append(Checkpoint(int(parts[1]), parts[2], key, parts[0]))
    return points


def heads(session: Session, key: bytes | None = None) -> list[Checkpoint]:
    """Every chain's head (chain, position, hash) that has records, by chain.

    With the audit key, and only if the head record is there and its hash matches it, a head
    also carries the key's id, so that `verify` can tell a wrong key from a rewritten log."""
    query = (
        select(AuditHead, AuditEvent)
        .join(
            AuditEvent,
            and_(
                col(AuditEvent.chain) == col(AuditHead.chain), col(AuditEvent.chain_seq) == col(AuditHead.seq)
            ),
            isouter=True,
        )
        .where(col(AuditHead.seq) > 0)
        .order_by(col(AuditHead.chain))
    )
    points = []
    for head, event in session.exec(query):
        matches = (
            key is not None
            and event is not None
            and event.hash == head.hash
            and chain_hash(key, event.prev_hash, to_record(event)) == event.hash
        )
        points.append(Checkpoint(head.seq, head.hash, key_id(key) if matches and key else "", head.chain))
    return points


def checkpoint_document(points: Iterable[Checkpoint], *, written_at: datetime) -> dict[str, Any]:
    """The heads as one JSON object: what `attest audit heads --json` prints and what is anchored
    off the machine (and, with an S3 evidence store, written to the bucket)."""
    return {
        "kind": CHECKPOINT_KIND,
        "version": 1,
        "written_at": written_at.astimezone(UTC).isoformat(),
        "chains": [
            {"chain": point.chain, "seq": point.seq, "hash": point.hash, "key_id": point.key_id}
            for point in points
        ],
    }


def parse_checkpoint_document(data: bytes) -> list[Checkpoint]:
    """The heads in a checkpoint document; ValueError if it is not one."""
    try:
        document = json.loads(data)
        if document.get("kind") != CHECKPOINT_KIND:
            raise ValueError("not an audit checkpoint")
        return [
            Checkpoint(
                int(entry["seq"]), str(entry["hash"]), str(entry.get("key_id", "")), str(entry["chain"])
            )
            for entry in document["chains"]
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(f"not an audit checkpoint document ({error})") from None


def write_checkpoint(session: Session, path: Path, key: bytes | None = None) -> list[Checkpoint]:
    """Append every chain's head to the append-only checkpoint file, one line per chain, in one
    write; returns the heads written."""
    points = heads(session, key)
    written = utcnow().isoformat()
    lines = "".join(
        f"{point.chain} {point.seq} {point.hash} {written}{f' key={point.key_id}' if point.key_id else ''}\n"
        for point in points
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, lines.encode())
        os.fsync(fd)
    finally:
        os.close(fd)
    return points


class NamedObjects(Protocol):
    """What checkpoints need of an evidence store (app.adapters.storage)."""

    def put_bytes(self, name: str, data: bytes) -> None: ...
    def get_bytes(self, name: str) -> bytes: ...
    def list_names(self, folder: str) -> list[str]: ...


def store_checkpoint(store: NamedObjects, points: Iterable[Checkpoint], *, written_at: datetime) -> str:
    """Write the heads to the store as `audit-checkpoints/<UTC time>-<random>.json` (a new object
    each time, so every node's checkpoints sit side by side); returns the object's name."""
    document = checkpoint_document(points, written_at=written_at)
    moment = written_at.astimezone(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    name = f"{CHECKPOINT_FOLDER}{moment}-{secrets.token_hex(4)}.json"
    store.put_bytes(name, json.dumps(document, indent=1).encode())
    return name


def stored_checkpoints(store: NamedObjects) -> list[Checkpoint]:
    """Every checkpoint in the store; ValueError naming an object that is not one."""
    points: list[Checkpoint] = []
    for name in store.list_names(CHECKPOINT_FOLDER):
        try:
            points.extend(parse_checkpoint_document(store.get_bytes(name)))
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
    return points


# --- verification ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Report:
    """Every chain's verdict, by chain."""

    verdicts: tuple[Verdict, ...]

    @property
    def ok(self) -> bool:
        return all(verdict.ok for verdict in self.verdicts)

    @property
    def checked(self) -> int:
        return sum(verdict.checked for verdict in self.verdicts)

    @property
    def broken(self) -> tuple[Verdict, ...]:
        return tuple(verdict for verdict in self.verdicts if not verdict.ok)

    @property
    def wrong_key(self) -> bool:
        """Every failing chain failed because no record matched the key (and none verified)."""
        return bool(self.broken) and all(verdict.wrong_key for verdict in self.broken)

    def chain(self, name: str) -> Verdict:
        return next(verdict for verdict in self.verdicts if verdict.chain == name)


def verify(
    session: Session,
    key: bytes,
    checkpoint_file: Path | None = None,
    *,
    checkpoints: Iterable[Checkpoint] = (),
    previous: Sequence[bytes] = (),
) -> Report:
    """Walk every chain: those with records or a head row, those pruned, and those a checkpoint
    knows (a chain deleted whole is then caught too). `checkpoints` add to the file's (e.g. the
    ones stored in an S3 bucket). `previous` are earlier audit keys, newest first, that older
    records may verify under (`verify_chain`)."""
    points = [*(read_checkpoints(checkpoint_file) if checkpoint_file else []), *checkpoints]
    by_chain: dict[str, list[Checkpoint]] = {}
    for point in points:
        by_chain.setdefault(point.chain, []).append(point)
    starts = _chain_starts(session)
    head_rows = {
        row.chain: Checkpoint(row.seq, row.hash, chain=row.chain) for row in session.exec(select(AuditHead))
    }
    proven = key_id(key) in {point.key_id for point in points if point.key_id}

    def one(chain: str, records: Iterable[AuditRecord], key_proven: bool) -> Verdict:
        start = starts.get(chain, Checkpoint(0, GENESIS_HASH, chain=chain))
        return verify_chain(
            key,
            (record for record in records if record.chain_seq > start.seq),
            chain=chain,
            start=start,
            checkpoints=by_chain.get(chain, ()),
            head=head_rows.get(chain, Checkpoint(0, GENESIS_HASH, chain=chain)),
            key_proven=key_proven,
            previous=previous,
        )

    verdicts: dict[str, Verdict] = {}
    query = select(AuditEvent).order_by(col(AuditEvent.chain), col(AuditEvent.chain_seq))
    events = (to_record(event) for event in session.exec(query.execution_options(yield_per=1000)))
    for chain, records in groupby(events, key=lambda record: record.chain):
        verdicts[chain] = one(chain, records, proven)
    for chain in {*head_rows, *starts, *by_chain} - set(verdicts):
        verdicts[chain] = one(chain, (), proven)
    if not proven and any(verdict.ok and verdict.checked for verdict in verdicts.values()):
        # Another chain verified with this key, so the key is right: a chain that no record of
        # matches was rewritten whole, which is tampering, not a wrong key.
        for chain, verdict in list(verdicts.items()):
            if verdict.wrong_key:
                start = starts.get(chain, Checkpoint(0, GENESIS_HASH, chain=chain))
                verdicts[chain] = one(chain, _chain_records(session, chain, start.seq), True)
    return Report(tuple(verdicts[chain] for chain in sorted(verdicts)))


def newest_record_at(session: Session) -> datetime | None:
    """When the newest record of any chain was written (the audit_chain_head_age_seconds metric);
    None while the log is empty."""
    event = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq).desc()).limit(1)).first()
    if event is None:
        return None
    return event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)  # SQLite gives naive UTC back


# --- pruning ---------------------------------------------------------------------------------


def prune_boundary(now: datetime, retention_days: int = MIN_RETENTION_DAYS) -> datetime:
    """The start of the calendar month in which the retention period began: records before it
    may go. ValueError below the minimum (Call Off Schedule 7 Annex 1 para 8.3: 6 months)."""
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"audit events are kept at least {MIN_RETENTION_DAYS} days")
    cutoff = now.astimezone(UTC) - timedelta(days=retention_days)
    return cutoff.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def prunable_chains(session: Session, boundary: datetime) -> list[str]:
    """The chains holding records older than `boundary`."""
    query = select(AuditEvent.chain).where(col(AuditEvent.at) < boundary).distinct()
    return sorted(session.exec(query))


def prune_chain(
    session: Session, key: bytes, chain: str, *, boundary: datetime, previous: Sequence[bytes] = ()
) -> int:
    """Delete the leading records of `chain` older than `boundary`, after verifying them; their
    last position and hash are kept (a segment), so the rest of the chain still verifies.
    Returns the number of records removed."""
    session.exec(select(AuditHead).where(AuditHead.chain == chain).with_for_update()).first()  # one pruner
    start = chain_start(session, chain)
    limit = stamp(boundary)
    records = _chain_records(session, chain, start.seq)
    try:
        doomed = list(takewhile(lambda r: r.at < limit, records))
    finally:
        records.close()
    if not doomed:
        return 0
    verdict = verify_chain(key, doomed, chain=chain, start=start, previous=previous)
    if not verdict.ok:
        raise ValueError(f"refusing to prune a broken chain ({chain}): {verdict.reason}")
    last = doomed[-1]
    if _is_postgres(session):
        session.execute(text("SET LOCAL attest.audit_prune = 'on'"))
    else:
        session.add(AuditPrunePermit(id=1))
        session.flush()
    session.execute(
        delete(AuditEvent).where(col(AuditEvent.chain) == chain, col(AuditEvent.chain_seq) <= last.chain_seq)
    )
    if _is_postgres(session):
        session.execute(text("SET LOCAL attest.audit_prune = 'off'"))
    else:
        session.execute(delete(AuditPrunePermit))
    session.add(
        AuditSegment(
            chain=chain,
            first_seq=doomed[0].chain_seq,
            last_seq=last.chain_seq,
            last_hash=last.hash,
            last_event_seq=last.seq,
        )
    )
    session.flush()
    return len(doomed)


def prune(
    session: Session,
    key: bytes,
    *,
    now: datetime,
    retention_days: int = MIN_RETENTION_DAYS,
    previous: Sequence[bytes] = (),
) -> int:
    """Delete whole calendar months of events that ended more than `retention_days` ago, chain
    by chain, in the caller's transaction. Returns the number of events removed."""
    boundary = prune_boundary(now, retention_days)
    return sum(
        prune_chain(session, key, chain, boundary=boundary, previous=previous)
        for chain in prunable_chains(session, boundary)
    )
