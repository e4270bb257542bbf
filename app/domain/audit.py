"""The tamper-evident audit chain (Call Off Schedule 7 Annex 1 para 8.3; Schedule 2.4 A1 section 7).

Every audit record carries `seq` (1, 2, 3, ... with no gaps), the previous record's
hash and its own hash:

    hash = HMAC-SHA256(key, prev_hash + canonical JSON of the record's fields)

The key lives outside the database, so someone who can write to the database but
does not hold the key cannot forge a record. Verification walks the chain in `seq`
order and reports the first record that breaks it:

- an edited record no longer matches its hash;
- a deleted record leaves a gap in `seq` and a `prev_hash` that points nowhere;
- reordered records break the `prev_hash` links;
- an inserted record has no valid hash, or breaks the links after it;
- a cut-off tail is caught against checkpoints (seq and hash of the head at some
  moment) written to an append-only file outside the database.

A wrong or missing key is told apart from tampering. With the wrong key no record's
hash matches at all, while tampering leaves the records after the damage matching;
so when the first record checked fails, the rest are checked against their own
`prev_hash`: if none matches, the verdict is "wrong key", not "record 1 was altered".
Checkpoints carry a key id (an HMAC of a fixed label) that settles it when they are
there: a checkpoint written with this key proves the key right (every record was then
rewritten), one written with another key proves it wrong.

Records older than the retention period (at least 183 days, i.e. 6 months) may be
pruned only as a whole leading segment; the segment's last seq and hash are kept so
that verification resumes from there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass

GENESIS_HASH = ""
MIN_RETENTION_DAYS = 183

HASHED_FIELDS = (
    "seq",
    "at",
    "actor_user_id",
    "actor_org_id",
    "action",
    "object_type",
    "object_id",
    "engagement_id",
    "outcome",
    "address",
    "request_id",
    "details",
)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    seq: int
    at: str  # ISO 8601 UTC, as stored
    actor_user_id: str | None
    actor_org_id: str | None
    action: str
    object_type: str
    object_id: str
    engagement_id: str | None
    outcome: str
    address: str
    request_id: str
    details: str
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class Checkpoint:
    seq: int
    hash: str
    key_id: str = ""  # key_id() of the key the chain was written with; "" in old checkpoints


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    checked: int
    head: Checkpoint
    first_bad_seq: int | None = None
    reason: str = ""
    wrong_key: bool = False  # no record matches this key: it is wrong or missing, not tampering


WRONG_KEY = (
    "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY): no record's hash matches it"
)


def key_id(key: bytes) -> str:
    """A short public fingerprint of the audit key (reveals nothing about the key)."""
    return hmac.new(key, b"attest audit key check", hashlib.sha256).hexdigest()[:16]


def _key_is_wrong(key: bytes, rest: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint]) -> bool:
    """After the first record failed: True if nothing suggests that this key is the right one."""
    if any(hmac.compare_digest(chain_hash(key, r.prev_hash, r), r.hash) for r in rest):
        return False  # later records match: the key is right and the first record was altered
    ids = {point.key_id for point in checkpoints if point.key_id}
    return key_id(key) not in ids


def canonical(record: AuditRecord) -> bytes:
    fields = {name: getattr(record, name) for name in HASHED_FIELDS}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(key: bytes, prev_hash: str, record: AuditRecord) -> str:
    return hmac.new(key, prev_hash.encode() + canonical(record), hashlib.sha256).hexdigest()


def verify_chain(
    key: bytes,
    records: Iterable[AuditRecord],
    *,
    start: Checkpoint = Checkpoint(0, GENESIS_HASH),
    checkpoints: Iterable[Checkpoint] = (),
) -> Verdict:
    """Walk `records` (in seq order) from `start`; stop at the first broken link."""
    expected_seq, prev = start.seq + 1, start.hash
    seen: dict[int, str] = {}
    checked = 0
    checkpoints = list(checkpoints)
    remaining = iter(records)
    for record in remaining:
        if record.seq != expected_seq:
            reason = (
                f"record {expected_seq} is missing (next is {record.seq})"
                if record.seq > expected_seq
                else f"record {record.seq} is out of order"
            )
            return Verdict(False, checked, Checkpoint(expected_seq - 1, prev), expected_seq, reason)
        if record.prev_hash != prev:
            return Verdict(
                False,
                checked,
                Checkpoint(expected_seq - 1, prev),
                record.seq,
                f"record {record.seq} does not follow record {record.seq - 1}",
            )
        if not hmac.compare_digest(chain_hash(key, prev, record), record.hash):
            if checked == 0 and _key_is_wrong(key, remaining, checkpoints):
                return Verdict(False, 0, Checkpoint(start.seq, start.hash), None, WRONG_KEY, wrong_key=True)
            return Verdict(
                False,
                checked,
                Checkpoint(expected_seq - 1, prev),
                record.seq,
                f"record {record.seq} was altered (its hash does not match)",
            )
        seen[record.seq] = record.hash
        prev, expected_seq, checked = record.hash, expected_seq + 1, checked + 1
    head = Checkpoint(expected_seq - 1, prev)
    for point in checkpoints:
        if point.seq <= start.seq:
            continue
        if point.seq > head.seq:
            return Verdict(
                False,
                checked,
                head,
                head.seq + 1,
                f"records after {head.seq} are missing (a checkpoint saw record {point.seq})",
            )
        if seen.get(point.seq) != point.hash:
            return Verdict(
                False,
                checked,
                head,
                point.seq,
                f"record {point.seq} differs from its checkpoint",
            )
    return Verdict(True, checked, head)
