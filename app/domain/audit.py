"""The tamper-evident audit chains (Call Off Schedule 7 Annex 1 paras 8.1 and 8.3; Schedule 2.4
Annex A1 section 7).

The log is split into chains, one per tenant (`chain_for`): an engagement's events form the
chain `engagement:<id>`, an organisation's events outside any engagement (its accounts, sign-ins,
tokens, evidence library) the chain `organisation:<id>`, and events with neither (a sign-in by
an unknown address, the command line) the chain `installation`. Appending locks only the
chain's own head, so one tenant's writes never wait for another's.

Every record carries `seq` (the installation-wide number the audit page shows), its chain,
`chain_seq` (1, 2, 3, ... within its chain, with no gaps), the previous record's hash in that
chain and its own hash:

    hash = HMAC-SHA256(key, prev_hash + canonical JSON of the record's fields)

The hashed fields include the chain and `chain_seq` (`HashRule.CHAINED`), so moving a record to
another chain or to another place in its chain breaks it. Records written before the chains
existed (migration 0011) keep the rule they were written under (`HashRule.SINGLE`, fields
without the chain): they form the start of the `installation` chain, at `chain_seq` = `seq`,
and are accepted nowhere else.

The key lives outside the database, so someone who can write to the database but
does not hold the key cannot forge a record. Verification walks each chain in `chain_seq`
order and reports the first record that breaks it:

- an edited record no longer matches its hash;
- a deleted record leaves a gap in `chain_seq` and a `prev_hash` that points nowhere;
- reordered records break the `prev_hash` links;
- an inserted record has no valid hash, or breaks the links after it;
- a record moved between chains leaves a gap in one and fails its hash in the other;
- a cut-off tail is caught against checkpoints (chain, position and hash of each head at
  some moment) written to an append-only file outside the database (and, with an S3
  evidence store, to the bucket).

A wrong or missing key is told apart from tampering. With the wrong key no record's
hash matches at all, while tampering leaves the records after the damage matching;
so when the first record checked fails, the rest are checked against their own
`prev_hash`: if none matches, the verdict is "wrong key", not "record 1 was altered".
Checkpoints carry a key id (an HMAC of a fixed label) that settles it when they are
there: a checkpoint written with this key proves the key right (every record was then
rewritten), one written with another key proves it wrong. Another chain that verifies
proves the key right too (`key_proven`).

The audit key can be rotated: records written under earlier keys (given newest first) still
verify, and a chain may move from an older key to a newer one only once and forward: after a
record verifies under the current key, every later record must too.

Records older than the retention period (at least 183 days, i.e. 6 months) may be
pruned only as a whole leading segment of a chain; the segment's last position and hash
are kept so that verification of that chain resumes from there.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class AuditAction(StrEnum):
    """Every action the log records as allowed, spelt once. A refusal records the access rule's
    own `app.domain.access.Action` (or one of these) with the outcome `denied`."""

    ACCOUNT_RESET_COMPLETED = "account_reset_completed"
    ACCOUNT_RESET_REQUESTED = "account_reset_requested"
    ANNUAL_REVIEW_STARTED = "annual_review_started"
    ANSWERS_IMPORTED = "answers_imported"
    CALENDAR_FEED_CREATED = "calendar_feed_created"
    CALENDAR_FEED_REVOKED = "calendar_feed_revoked"
    CATALOGUE_IMPORTED = "catalogue_imported"
    CERTIFICATE_ADDED = "certificate_added"
    CERTIFICATE_MANAGED = "certificate_managed"
    CERTIFICATE_UPDATED = "certificate_updated"
    CERTIFICATE_VIEWED = "certificate_viewed"
    CERTIFICATE_WITHDRAWN = "certificate_withdrawn"
    CHANGE_NOTICE_FILED = "change_notice_filed"
    CLOSURE_DAY_ADDED = "closure_day_added"
    CLOSURE_DAY_REMOVED = "closure_day_removed"
    DISPUTE_RESOLVED = "dispute_resolved"
    DOWNLOAD_FETCHED = "download_fetched"
    DOWNLOAD_REQUESTED = "download_requested"
    ENGAGEMENT_CREATED = "engagement_created"
    ENGAGEMENT_EXPORTED = "engagement_exported"
    EVIDENCE_DOWNLOADED = "evidence_downloaded"
    EVIDENCE_LIBRARY = "evidence_library"
    EVIDENCE_LINKED = "evidence_linked"
    EVIDENCE_MANAGED = "evidence_managed"
    EVIDENCE_QUARANTINED = "evidence_quarantined"
    EVIDENCE_UNLINKED = "evidence_unlinked"
    EVIDENCE_UPLOADED = "evidence_uploaded"
    EVIDENCE_VERSIONED = "evidence_versioned"
    EVIDENCE_VIEWED = "evidence_viewed"
    INCIDENT_PROCESS_SAVED = "incident_process_saved"
    ISMS_SUBMITTED = "isms_submitted"
    MFA_ENROLLED = "mfa_enrolled"
    NOTIFICATION_PREFERENCES = "notification_preferences"
    NOTIFICATION_READ = "notification_read"
    ORGANISATION_CREATED = "organisation_created"
    PASSWORD_CHANGED = "password_changed"
    PLAN_APPROVED = "plan_approved"
    PLAN_REJECTED = "plan_rejected"
    PLAN_SUBMITTED = "plan_submitted"
    PORTFOLIO = "portfolio"
    RECOVERY_CODES_REPLACED = "recovery_codes_replaced"
    REGISTER_ENTRIES_FROM_GAPS = "register_entries_from_gaps"
    REGISTER_ENTRIES_IMPORTED = "register_entries_imported"
    REGISTER_ENTRY_SAVED = "register_entry_saved"
    REGISTER_EXPORTED = "register_exported"
    RESPONSE_APPLIED_TO_MAPPED = "response_applied_to_mapped"
    RESPONSE_SAVED = "response_saved"
    REVIEW_COMMENT_ADDED = "review_comment_added"
    RISK_DELETED = "risk_deleted"
    RISK_SAVED = "risk_saved"
    RISKS_IMPORTED = "risks_imported"
    SCOPING_ANSWERED = "scoping_answered"
    SECURITY_ROLES_SAVED = "security_roles_saved"
    SESSION_ENDED = "session_ended"
    SESSIONS_ENDED = "sessions_ended"
    SIGN_IN = "sign_in"
    SIGN_OUT = "sign_out"
    SIGNED_OUT_EVERYWHERE = "signed_out_everywhere"
    STATEMENT_DOWNLOADED = "statement_downloaded"
    SUBCONTRACTOR_ADDED = "subcontractor_added"
    SUBCONTRACTOR_REMOVED = "subcontractor_removed"
    TERMINATION_RECORDED = "termination_recorded"
    TOKEN_CREATED = "token_created"
    TOKEN_REVOKED = "token_revoked"
    TOKENS_REVOKED = "tokens_revoked"
    USER_CREATED = "user_created"
    USER_DISABLED = "user_disabled"
    USER_ENABLED = "user_enabled"
    USER_INVITED = "user_invited"
    VARIATION_RECORDED = "variation_recorded"
    VARIATION_REMOVED = "variation_removed"


GENESIS_HASH = ""
MIN_RETENTION_DAYS = 183
INSTALLATION_CHAIN = "installation"
ENGAGEMENT_CHAIN = "engagement:"
ORGANISATION_CHAIN = "organisation:"


class HashRule(IntEnum):
    """Which fields a record's hash covers (stored with the record as `hash_version`)."""

    SINGLE = 1  # written before migration 0011: one chain for everything, its position is `seq`
    CHAINED = 2  # the chain and the position in it (`chain_seq`) are hashed too


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
CHAINED_FIELDS = ("chain", "chain_seq", *HASHED_FIELDS)
FIELDS = {HashRule.SINGLE: HASHED_FIELDS, HashRule.CHAINED: CHAINED_FIELDS}


def chain_for(*, engagement_id: str | None, org_id: str | None) -> str:
    """The chain an event joins: its engagement's, else its actor's organisation's, else the
    installation's (Call Off Schedule 7 Annex 1 para 8.1: records that support the analysis of a
    compromise; one chain per engagement keeps the whole story of one contract in one place).

    An engagement, not its buyer or supplier, because both parties act in it: a chain per
    organisation would split one engagement's decisions across two chains, and a buyer's chain
    would again serialise every engagement it runs."""
    if engagement_id:
        return ENGAGEMENT_CHAIN + engagement_id
    if org_id:
        return ORGANISATION_CHAIN + org_id
    return INSTALLATION_CHAIN


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
    chain: str
    chain_seq: int
    hash_version: int


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A chain's head at some moment: its position (`chain_seq`) and hash."""

    seq: int
    hash: str
    key_id: str = ""  # key_id() of the key the chain was written with; "" in old checkpoints
    chain: str = INSTALLATION_CHAIN


@dataclass(frozen=True, slots=True)
class Verdict:
    """One chain's verification. `first_bad_seq` is the position in the chain where it breaks;
    `bad_record` the installation-wide `seq` of the record at fault, when there is one (a
    missing record has none)."""

    ok: bool
    checked: int
    head: Checkpoint
    first_bad_seq: int | None = None
    reason: str = ""
    wrong_key: bool = False  # no record matches this key: it is wrong or missing, not tampering
    chain: str = INSTALLATION_CHAIN
    bad_record: int | None = None


WRONG_KEY = (
    "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY): no record's hash matches it"
)


EARLIER_KEY = (
    "it was written under an earlier audit key that is not configured (ATTEST_PREVIOUS_AUDIT_KEYS, "
    "or the earlier secret key in ATTEST_PREVIOUS_SECRET_KEYS)"
)


def key_id(key: bytes) -> str:
    """A short public fingerprint of the audit key (reveals nothing about the key)."""
    return hmac.new(key, b"attest audit key check", hashlib.sha256).hexdigest()[:16]


def _key_is_wrong(
    keys: Sequence[bytes], rest: Iterable[AuditRecord], checkpoints: Iterable[Checkpoint]
) -> bool:
    """After the first record failed: True if nothing suggests that these keys are the right ones."""
    if any(_matching_key(keys, r.prev_hash, r) is not None for r in rest):
        return False  # later records match: the key is right and the first record was altered
    ids = {point.key_id for point in checkpoints if point.key_id}
    return not any(key_id(key) in ids for key in keys)


def _matching_key(keys: Sequence[bytes], prev_hash: str, record: AuditRecord) -> int | None:
    """The index in `keys` of the key `record` was written under, if any."""
    for index, key in enumerate(keys):
        if hmac.compare_digest(chain_hash(key, prev_hash, record), record.hash):
            return index
    return None


def canonical(record: AuditRecord) -> bytes:
    """The bytes hashed for `record`, by the rule it was written under."""
    try:
        names = FIELDS[HashRule(record.hash_version)]
    except ValueError:
        raise ValueError(f"unknown audit hash rule {record.hash_version!r}") from None
    fields = {name: getattr(record, name) for name in names}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_hash(key: bytes, prev_hash: str, record: AuditRecord) -> str:
    """The record's hash under `key`; "" (which never matches a stored hash) for an unknown rule."""
    try:
        body = canonical(record)
    except ValueError:
        return ""
    return hmac.new(key, prev_hash.encode() + body, hashlib.sha256).hexdigest()


def _misplaced(record: AuditRecord, chain: str) -> str:
    """Why `record` cannot stand in `chain` whatever its hash says ("" if it can)."""
    if record.chain != chain:
        return f"record {record.seq} belongs to chain {record.chain}, not {chain}"
    if record.hash_version == HashRule.SINGLE and (
        chain != INSTALLATION_CHAIN or record.chain_seq != record.seq
    ):
        # The old rule hashes neither the chain nor chain_seq: such a record may stand only
        # where the migration put it, or it could be moved without breaking its hash.
        return f"record {record.seq} was written before the chains and cannot stand at this place"
    return ""


def verify_chain(
    key: bytes,
    records: Iterable[AuditRecord],
    *,
    chain: str = INSTALLATION_CHAIN,
    start: Checkpoint = Checkpoint(0, GENESIS_HASH),
    checkpoints: Iterable[Checkpoint] = (),
    head: Checkpoint | None = None,
    key_proven: bool = False,
    previous: Sequence[bytes] = (),
) -> Verdict:
    """Walk one chain's `records` (in `chain_seq` order) from `start`; stop at the first broken
    link. `checkpoints` are this chain's; `head` is what the chain's head row says, if it has
    one; `key_proven` says another chain (or a checkpoint) already showed the key is right.

    `previous` are the audit keys used before `key`, newest first (the key was rotated): a
    record may verify under one of them, but the keys change only forward along the chain: once
    a record verifies under a key, every later record must verify under that key or a newer
    one (under `key` itself, once one does). So an old key cannot forge a record after the
    first one the current key wrote, nor reorder the eras."""
    keys = (key, *previous)
    newest_allowed = len(keys)  # later records may use keys[:newest_allowed]
    expected, prev = start.seq + 1, start.hash
    seen: dict[int, str] = {}
    checked = 0
    checkpoints = [point for point in checkpoints if point.chain == chain]

    def broken(position: int | None, reason: str, record: AuditRecord | None = None) -> Verdict:
        at = Checkpoint(expected - 1, prev, chain=chain)
        seq = record.seq if record is not None else None
        return Verdict(False, checked, at, position, reason, chain=chain, bad_record=seq)

    remaining = iter(records)
    for record in remaining:
        if record.chain_seq != expected:
            if record.chain_seq > expected:
                return broken(expected, f"position {expected} is missing (the next record is {record.seq})")
            return broken(record.chain_seq, f"record {record.seq} is out of order", record)
        problem = _misplaced(record, chain)
        if problem:
            return broken(record.chain_seq, problem, record)
        if record.prev_hash != prev:
            return broken(
                record.chain_seq, f"record {record.seq} does not follow position {expected - 1}", record
            )
        used = _matching_key(keys[:newest_allowed], prev, record)
        if used is None:
            if checked == 0 and not key_proven and _key_is_wrong(keys, remaining, checkpoints):
                at = Checkpoint(start.seq, start.hash, chain=chain)
                return Verdict(False, 0, at, None, WRONG_KEY, wrong_key=True, chain=chain)
            if _matching_key(keys, prev, record) is not None:
                older = (
                    f"record {record.seq} verifies only under an older audit key than a record "
                    "before it (keys change only forward along a chain)"
                )
                return broken(record.chain_seq, older, record)
            altered = f"record {record.seq} was altered (its hash does not match)"
            if checked == 0:
                altered += f", or {EARLIER_KEY}"
            return broken(record.chain_seq, altered, record)
        newest_allowed = used + 1
        seen[record.chain_seq] = record.hash
        prev, expected, checked = record.hash, expected + 1, checked + 1
    last = Checkpoint(expected - 1, prev, chain=chain)
    for point in checkpoints:
        if point.seq <= start.seq:
            continue
        if point.seq > last.seq:
            return broken(
                last.seq + 1, f"records after position {last.seq} are missing (a checkpoint saw {point.seq})"
            )
        if seen.get(point.seq) != point.hash:
            return broken(point.seq, f"position {point.seq} differs from its checkpoint")
    if head is not None and (head.seq, head.hash) != (last.seq, last.hash):
        if head.seq > last.seq:
            reason = f"records after position {last.seq} are missing (the chain's head is at {head.seq})"
            return broken(last.seq + 1, reason)
        if (head.seq, head.hash) == (0, GENESIS_HASH):
            reason = f"the chain's head row is missing, but its records go up to position {last.seq}"
        else:
            reason = f"the chain's head row says position {head.seq}, but its last record is at {last.seq}"
        return broken(last.seq, reason)
    return Verdict(True, checked, last, chain=chain)
