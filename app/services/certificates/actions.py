"""What a person does to the certificate register, one function per use case: read one, add
one, change one, withdraw one. Each applies the access rule, records its audit event with the
change and flushes; the caller's route commits once. A certificate's file is an item of the
supplier's evidence library (kind "certificate"): a new file on a change is a new version of the
old one and takes over its links. Adding or changing a certificate with a file links that file
to the gate controls the certificate helps to meet in each of the supplier's engagements (by
that engagement's contract: app.domain.gates), each link audited as `evidence_linked` like one
made by hand."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, select

from app.domain import gates
from app.domain.audit import AuditAction
from app.domain.certificates import SCHEME_LABELS, Tier
from app.domain.errors import InvalidInput
from app.domain.evidence import Kind
from app.models import Certificate, Engagement, Evidence, EvidenceLink, Subcontractor, utcnow
from app.services import events
from app.services.caller import Caller
from app.services.certificates.access import certificate_to_read, managed, require_lead
from app.services.certificates.entries import CertificateInput
from app.services.certificates.register import Row, catalogues_of, row_for
from app.services.certificates.subcontractors import supplier_holder
from app.services.evidence import take_over_links


@dataclass(frozen=True, slots=True)
class CertificateFile:
    """A certificate file already made durable in the evidence store (its key is its SHA-256)."""

    sha256: str
    size: int
    media_type: str
    file_name: str


def view(session: Session, caller: Caller, certificate_id: str, *, today: date) -> Row:
    """One certificate the caller may read (refused, audited, as "not found" otherwise)."""
    return row_for(session, certificate_to_read(session, caller.actor, certificate_id), today=today)


def _apply(row: Certificate, data: CertificateInput) -> None:
    row.scheme, row.subcontractor_id = data.scheme, data.subcontractor_id
    row.body, row.number, row.scope = data.body, data.number, data.scope
    row.issued_on, row.expires_on = data.issued_on, data.expires_on
    row.next_surveillance_on, row.recertification_on = data.next_surveillance_on, data.recertification_on
    row.provider = data.provider


def _own_evidence(session: Session, caller: Caller, evidence_id: str | None) -> str | None:
    if not evidence_id:
        return None
    evidence = session.get(Evidence, evidence_id)
    if evidence is None or evidence.supplier_org_id != caller.actor.org_id:
        raise InvalidInput(
            "Choose a file from your organisation's evidence library.", details={"evidence_id": "unknown"}
        )
    return evidence.id


def _register_file(
    session: Session, caller: Caller, data: CertificateInput, file: CertificateFile, supersedes: str | None
) -> Evidence:
    """Record the file in the supplier's evidence library (a new version of the certificate's
    previous file, when it had one)."""
    actor = caller.actor
    holder = supplier_holder(session, actor.org_id).name
    sub = session.get(Subcontractor, data.subcontractor_id) if data.subcontractor_id else None
    if sub is not None:
        holder = sub.name
    evidence = Evidence(
        supplier_org_id=actor.org_id,
        family_id="",
        title=f"{SCHEME_LABELS[data.scheme]} certificate: {holder}"[:200],
        kind=Kind.CERTIFICATE,
        file_name=file.file_name,
        media_type=file.media_type or "application/octet-stream",
        size=file.size,
        sha256=file.sha256,
        expires_on=data.expires_on,
        uploaded_by_id=actor.user_id,
    )
    old = session.get(Evidence, supersedes) if supersedes else None
    takes_over = old is not None and old.superseded_at is None and old.supplier_org_id == actor.org_id
    if old is not None and takes_over:
        evidence.family_id, evidence.version = old.family_id, old.version + 1
        old.superseded_at = utcnow()
        session.add(old)
    else:
        evidence.family_id = evidence.id
    session.add(evidence)
    session.flush()
    if old is not None and takes_over:
        take_over_links(session, old.id, evidence, actor.user_id)
    session.flush()
    return evidence


def _holder_tier(session: Session, row: Certificate) -> Tier | None:
    """The certificate holder's tier; None for a sub-contractor no longer on the list."""
    if not row.subcontractor_id:
        return Tier.SUPPLIER
    sub = session.get(Subcontractor, row.subcontractor_id)
    if sub is None or sub.supplier_org_id != row.supplier_org_id or sub.removed_at is not None:
        return None
    return sub.tier


def _link_to_gates(session: Session, caller: Caller, row: Certificate) -> None:
    """Link the certificate's file to every gate control it helps to meet, in each engagement of
    the supplier whose contract asks for it; a link already there is left as it is."""
    tier = _holder_tier(session, row)
    if not row.evidence_id or tier is None or row.withdrawn_at is not None:
        return
    query = select(Engagement).where(Engagement.supplier_org_id == row.supplier_org_id)
    engagements = list(session.exec(query))
    in_scope = catalogues_of(session, [e.id for e in engagements])
    there = {
        (engagement_id, control_id)
        for engagement_id, control_id in session.exec(
            select(EvidenceLink.engagement_id, EvidenceLink.control_id).where(
                EvidenceLink.evidence_id == row.evidence_id
            )
        )
    }
    for engagement in engagements:
        pairs = gates.controls_for_certificate(
            engagement.workflow_profile, in_scope[engagement.id], tier, row.scheme
        )
        for control_id in dict.fromkeys(control_id for _, control_id in pairs):
            if (engagement.id, control_id) in there:
                continue
            session.add(
                EvidenceLink(
                    engagement_id=engagement.id,
                    control_id=control_id,
                    evidence_id=row.evidence_id,
                    linked_by_id=caller.actor.user_id,
                )
            )
            caller.record(
                session,
                AuditAction.EVIDENCE_LINKED,
                object_type="evidence",
                object_id=row.evidence_id,
                engagement_id=engagement.id,
                details={"control_id": control_id, "certificate_id": row.id, "via": "certificate"},
            )
    session.flush()


def _file_of(
    session: Session,
    caller: Caller,
    data: CertificateInput,
    *,
    evidence_id: str | None,
    file: CertificateFile | None,
    supersedes: str | None,
) -> str | None:
    """The evidence id of the certificate's file: a new upload, or an item of the library."""
    if file is not None:
        return _register_file(session, caller, data, file, supersedes).id
    return _own_evidence(session, caller, evidence_id)


def _record(
    session: Session, caller: Caller, action: AuditAction, row: Certificate, evidence_id: str | None, via: str
) -> None:
    details: dict[str, Any] = {
        "scheme": row.scheme.value,
        "expires_on": str(row.expires_on),
        "evidence_id": evidence_id,
    }
    if via:
        details["via"] = via
    caller.record(session, action, object_type="certificate", object_id=row.id, details=details)
    session.flush()


def create(
    session: Session,
    caller: Caller,
    data: CertificateInput,
    *,
    evidence_id: str | None = None,
    file: CertificateFile | None = None,
    via: str = "",
) -> Certificate:
    """Add a certificate to the lead's own register, with its file (uploaded, or already in the
    library as `evidence_id`); `via` marks the channel in the audit event ("api")."""
    actor = caller.actor
    require_lead(actor)
    row = Certificate(
        supplier_org_id=actor.org_id,
        created_by_id=actor.user_id,
        issued_on=data.issued_on,
        scheme=data.scheme,
    )
    _apply(row, data)
    linked = _file_of(session, caller, data, evidence_id=evidence_id, file=file, supersedes=None)
    row.evidence_id = linked
    session.add(row)
    session.flush()
    _record(session, caller, AuditAction.CERTIFICATE_ADDED, row, linked, via)
    _link_to_gates(session, caller, row)
    events.notify(session, events.certificate_added(session, row, SCHEME_LABELS[data.scheme]))
    return row


def update(
    session: Session,
    caller: Caller,
    row: Certificate,
    data: CertificateInput,
    *,
    evidence_id: str | None = None,
    file: CertificateFile | None = None,
    via: str = "",
) -> Certificate:
    """Change a certificate (the file only when a new one is given); a withdrawn one stays as it was."""
    managed(session, caller.actor, row.id, AuditAction.CERTIFICATE_UPDATED)
    if row.withdrawn_at is not None:
        raise InvalidInput("A withdrawn certificate cannot be changed; add a new one.")
    _apply(row, data)
    linked = _file_of(session, caller, data, evidence_id=evidence_id, file=file, supersedes=row.evidence_id)
    if linked:
        row.evidence_id = linked
    row.updated_at = utcnow()
    session.add(row)
    session.flush()
    _record(session, caller, AuditAction.CERTIFICATE_UPDATED, row, linked, via)
    _link_to_gates(session, caller, row)
    return row


def withdraw(session: Session, caller: Caller, row: Certificate) -> Certificate:
    """Withdraw a certificate: it stays on record, no longer meets any gate, and cannot change."""
    managed(session, caller.actor, row.id, AuditAction.CERTIFICATE_WITHDRAWN)
    if row.withdrawn_at is not None:
        raise InvalidInput("This certificate was already withdrawn.")
    row.withdrawn_at = row.updated_at = utcnow()
    session.add(row)
    session.flush()
    caller.record(session, AuditAction.CERTIFICATE_WITHDRAWN, object_type="certificate", object_id=row.id)
    session.flush()
    return row
