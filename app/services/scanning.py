"""Malware scanning of stored evidence with ClamAV (app.adapters.clamav), on the job queue.

Switched on by ATTEST_CLAMAV_SOCKET. Then:

- an upload commits with its object's scan `pending` (`mark_pending`, in the upload's own
  transaction) and the web process queues `attest.evidence.scan` for it once it has committed;
- the job (`scan_object`) streams the object from the evidence store to clamd with no
  transaction open, then records the verdict in a short one: `clean` or `infected`
  (quarantined: never downloadable); a file clamd cannot judge (over the size limit, an error
  on the stream) is `failed`; clamd down or too slow leaves it `pending`, and the job raises so
  the queue tries again;
- the worker's periodic sweep (`unscanned`) queues every object that is still pending or has no
  scan yet (certificate files, evidence from before scanning was switched on, jobs whose retries
  ran out while clamd was down);
- a download asks `check_download` first (app.domain.scanning.download_refusal); an evidence
  bundle leaves out every object `withheld` names.

A scan belongs to the object (its SHA-256), so identical bytes are scanned once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app.adapters.clamav import ClamdClient, ScannerUnavailable, Unscannable
from app.adapters.storage import EvidenceStore
from app.config import Settings
from app.db import session_scope
from app.domain.audit import AuditAction
from app.domain.errors import Conflict, Denied
from app.domain.scanning import ScanState, download_refusal, label
from app.models import Evidence, EvidenceScan, utcnow
from app.services import audit

log = logging.getLogger("attest.scanning")
SWEEP_BATCH = 500  # objects queued by one periodic sweep at most


class ScanDeferred(Exception):
    """The scanner could not be reached or did not answer in time: the object stays pending."""


def scanning_on(settings: Settings) -> bool:
    return bool(settings.clamav_socket)


def make_scanner(settings: Settings) -> ClamdClient | None:
    """The clamd client the settings choose; None when scanning is off."""
    if not scanning_on(settings):
        return None
    return ClamdClient(
        settings.clamav_socket,
        timeout=settings.clamav_timeout_seconds,
        max_bytes=settings.clamav_max_mb * 1024 * 1024,
    )


def state_of(session: Session, sha256: str) -> ScanState | None:
    row = session.get(EvidenceScan, sha256)
    return None if row is None else row.state


def states(session: Session, keys: list[str]) -> dict[str, ScanState]:
    """The scan state of each of `keys` that has one (one query)."""
    if not keys:
        return {}
    rows = session.exec(select(EvidenceScan).where(col(EvidenceScan.sha256).in_(set(keys))))
    return {row.sha256: row.state for row in rows}


def withheld(session: Session, keys: list[str]) -> set[str]:
    """Those of `keys` whose scan forbids them leaving in a bundle: infected, failed or pending
    (an object with no scan row at all is judged by `check_download` alone; see the README)."""
    return {key for key, state in states(session, keys).items() if state is not ScanState.CLEAN}


def mark_pending(session: Session, sha256: str) -> None:
    """Record that `sha256` awaits a scan, in the caller's transaction (an upload's). An object
    already scanned keeps its verdict: identical bytes need no second scan."""
    if session.get(EvidenceScan, sha256) is None:
        session.add(EvidenceScan(sha256=sha256))
        session.flush()


def check_download(session: Session, evidence: Evidence, *, scanning_on: bool) -> None:
    """Refuse the download of a quarantined file (403, audited as a refused download) or of one
    not yet checked while scanning is on (409, try again)."""
    refusal = download_refusal(state_of(session, evidence.sha256), scanning_on=scanning_on)
    if refusal is None:
        return
    kind, message = refusal
    if kind == "quarantined":
        raise Denied(
            message, action=AuditAction.EVIDENCE_DOWNLOADED, object_type="evidence", object_id=evidence.id
        )
    raise Conflict(message)


@dataclass(frozen=True, slots=True)
class ScanView:
    """An evidence file's malware check as its page and the API show it. `state` is a
    ScanState value, or "not_scanned" (scanning is off and it was never checked)."""

    state: str
    label: str
    downloadable: bool
    message: str | None  # why it cannot be downloaded, when it cannot


def view(session: Session, settings: Settings, evidence: Evidence) -> ScanView:
    on = scanning_on(settings)
    state = state_of(session, evidence.sha256)
    refusal = download_refusal(state, scanning_on=on)
    shown = str(state) if state is not None else str(ScanState.PENDING) if on else "not_scanned"
    return ScanView(shown, label(state, scanning_on=on), refusal is None, refusal[1] if refusal else None)


def _record(
    engine: Engine,
    sha256: str,
    state: ScanState,
    *,
    signature: str | None,
    detail: str,
    audit_key: bytes | None = None,
) -> None:
    with session_scope(engine, write=True) as session:
        row = session.get(EvidenceScan, sha256, with_for_update=True)
        if row is None:
            row = EvidenceScan(sha256=sha256)
        found_now = state is ScanState.INFECTED and row.state is not ScanState.INFECTED
        row.attempts += 1
        row.detail = detail[:500]
        if state is not ScanState.PENDING or row.state is ScanState.PENDING:
            row.state, row.signature = state, signature[:200] if signature else None
            if state is not ScanState.PENDING:
                row.scanned_at = utcnow()
        session.add(row)
        if found_now and audit_key is not None:
            _audit_quarantine(session, audit_key, sha256, signature or "")
        session.commit()


def _audit_quarantine(session: Session, key: bytes, sha256: str, signature: str) -> None:
    """One `evidence_quarantined` event per evidence row holding the bytes, in its supplier's
    chain, by Attest itself (no user, no address: a background job)."""
    for evidence in session.exec(select(Evidence).where(Evidence.sha256 == sha256)):
        audit.record(
            session,
            key,
            audit.Who(org_id=evidence.supplier_org_id),
            AuditAction.EVIDENCE_QUARANTINED,
            object_type="evidence",
            object_id=evidence.id,
            details={"sha256": sha256, "signature": signature},
        )


def scan_object(
    engine: Engine, store: EvidenceStore, scanner: ClamdClient, sha256: str, *, audit_key: bytes | None = None
) -> ScanState:
    """Scan one stored object and record the outcome (see the module docstring); malware found
    is audited as `evidence_quarantined` with `audit_key`. Raises `ScanDeferred` when clamd is
    down or too slow (the object stays pending)."""
    with session_scope(engine, read_only=True) as session:
        known = session.get(EvidenceScan, sha256)
        if known is not None and known.state in (ScanState.CLEAN, ScanState.INFECTED):
            return known.state  # a verdict stands: queued twice, scanned once
        size = session.exec(select(Evidence.size).where(Evidence.sha256 == sha256)).first()
    if size is None or not store.exists(sha256):
        log.info("scan of %s skipped: no evidence row or no stored object", sha256)
        return ScanState.PENDING
    try:
        verdict = scanner.scan(store.open(sha256), size)
    except ScannerUnavailable as error:
        _record(engine, sha256, ScanState.PENDING, signature=None, detail=str(error))
        log.warning("scan of %s deferred: %s", sha256, error)
        raise ScanDeferred(str(error)) from None
    except Unscannable as error:
        _record(engine, sha256, ScanState.FAILED, signature=None, detail=str(error))
        log.warning("scan of %s gave no verdict: %s", sha256, error)
        return ScanState.FAILED
    if verdict.infected:
        _record(
            engine, sha256, ScanState.INFECTED, signature=verdict.signature, detail="", audit_key=audit_key
        )
        log.warning("malware found in evidence object %s: %s (quarantined)", sha256, verdict.signature)
        return ScanState.INFECTED
    _record(engine, sha256, ScanState.CLEAN, signature=None, detail="")
    return ScanState.CLEAN


def unscanned(session: Session, *, limit: int = SWEEP_BATCH) -> list[str]:
    """Objects of evidence rows that have no verdict yet: pending, or no scan row at all."""
    decided = select(EvidenceScan.sha256).where(EvidenceScan.state != ScanState.PENDING)
    query = (
        select(Evidence.sha256)
        .where(col(Evidence.sha256).not_in(decided))
        .distinct()
        .order_by(col(Evidence.sha256))
        .limit(limit)
    )
    return list(session.exec(query))
