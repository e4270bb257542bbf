"""The supplier's evidence library: register uploads, versions, links to controls, who may read."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import date

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app import clock
from app.domain import dates
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Role, can
from app.domain.catalogue import Library
from app.domain.errors import Denied, InvalidInput, NotFound, Refused
from app.models import Engagement, Evidence, EvidenceLink, utcnow
from app.services.engagements import catalogue_ids, parties

KINDS = ("policy", "procedure", "certificate", "report", "screenshot", "other")
MARKINGS = ("OFFICIAL", "OFFICIAL-SENSITIVE")


@dataclass(frozen=True, slots=True)
class EvidenceMeta:
    title: str
    kind: str = "other"
    marking: str = "OFFICIAL"
    effective_on: str = ""
    expires_on: str = ""


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    file_name: str


def parse_meta(meta: EvidenceMeta) -> tuple[dict[str, str], date | None, date | None]:
    problems: dict[str, str] = {}
    if not 1 <= len(meta.title.strip()) <= 200:
        problems["title"] = "Give the evidence a title (up to 200 characters)."
    if meta.kind not in KINDS:
        problems["kind"] = f"Kind must be one of {', '.join(KINDS)}."
    if meta.marking not in MARKINGS:
        problems["marking"] = "Protective marking must be OFFICIAL or OFFICIAL-SENSITIVE."
    effective = dates.read(meta.effective_on, "effective_on", "Effective date", problems)
    expires = dates.read(meta.expires_on, "expires_on", "Expiry date", problems)
    if effective and expires and expires <= effective:
        problems["expires_on"] = "The expiry date must be after the effective date."
    return problems, effective, expires


def check_upload(
    session: Session,
    library: Library,
    engagement: Engagement,
    actor: Actor,
    meta: EvidenceMeta,
    control_ids: list[str],
) -> tuple[date | None, date | None]:
    """Everything about an upload that can be refused before any byte is stored."""
    if not can(actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier uploads evidence.",
            action="evidence_uploaded",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    problems, effective, expires = parse_meta(meta)
    in_engagement = {
        c.id
        for cid in catalogue_ids(session, engagement.id)
        if (cat := library.catalogue(cid))
        for c in cat.controls
    }
    unknown = [c for c in control_ids if c not in in_engagement]
    if unknown:
        problems["control_ids"] = f"Not controls of this engagement: {', '.join(unknown[:5])}."
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    return effective, expires


def register(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    stored: StoredFile,
    meta: EvidenceMeta,
    control_ids: list[str],
    *,
    effective_on: date | None,
    expires_on: date | None,
    supersedes: Evidence | None = None,
) -> Evidence:
    """Record a stored file as evidence of the engagement's supplier and link it to controls."""
    evidence = Evidence(
        supplier_org_id=engagement.supplier_org_id,
        family_id="",
        title=" ".join(meta.title.split()),
        kind=meta.kind,
        marking=meta.marking,
        file_name=stored.file_name,
        media_type=stored.media_type,
        size=stored.size,
        sha256=stored.sha256,
        effective_on=effective_on,
        expires_on=expires_on,
        uploaded_by_id=actor.user_id,
    )
    if supersedes is not None:
        evidence.family_id, evidence.version = supersedes.family_id, supersedes.version + 1
        supersedes.superseded_at = utcnow()
        session.add(supersedes)
    else:
        evidence.family_id = evidence.id
    session.add(evidence)
    session.flush()
    for control_id in dict.fromkeys(control_ids):
        session.add(
            EvidenceLink(
                engagement_id=engagement.id,
                control_id=control_id,
                evidence_id=evidence.id,
                linked_by_id=actor.user_id,
            )
        )
    if supersedes is not None:
        # The new version takes over every link of the old one.
        for link in session.exec(select(EvidenceLink).where(EvidenceLink.evidence_id == supersedes.id)):
            session.add(
                EvidenceLink(
                    engagement_id=link.engagement_id,
                    control_id=link.control_id,
                    evidence_id=evidence.id,
                    linked_by_id=actor.user_id,
                )
            )
            session.delete(link)
    session.flush()
    return evidence


def owned(session: Session, actor: Actor, evidence_id: str) -> Evidence:
    """Evidence of the actor's own supplier organisation (anything else is 'not found')."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound("No such evidence.")
    if actor.role not in SUPPLIER_ROLES or evidence.supplier_org_id != actor.org_id:
        raise Refused(
            "No such evidence.", action="evidence_managed", object_type="evidence", object_id=evidence.id
        )
    return evidence


def readable(session: Session, actor: Actor, evidence_id: str) -> Evidence:
    """Evidence the actor may read: their own supplier's, or linked into one of their buyer's engagements."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound("No such evidence.")
    if actor.role in SUPPLIER_ROLES and evidence.supplier_org_id == actor.org_id:
        return evidence
    if actor.role is Role.BUYER_ADVISOR:
        shared = session.exec(
            select(func.count())
            .select_from(EvidenceLink)
            .join(Engagement, col(Engagement.id) == EvidenceLink.engagement_id)
            .where(
                col(EvidenceLink.evidence_id).in_(
                    select(Evidence.id).where(Evidence.family_id == evidence.family_id)
                ),
                Engagement.buyer_org_id == actor.org_id,
            )
        ).one()
        if shared:
            return evidence
    raise Refused(
        "No such evidence.", action="evidence_viewed", object_type="evidence", object_id=evidence.id
    )


def link(
    session: Session,
    library: Library,
    engagement: Engagement,
    actor: Actor,
    control_id: str,
    evidence_id: str,
) -> None:
    if not can(actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier links evidence.",
            action="evidence_linked",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    evidence = session.get(Evidence, evidence_id) if evidence_id else None
    if evidence is None or evidence.supplier_org_id != engagement.supplier_org_id:
        # The id comes from the form, not the address: a bad choice, not a missing page.
        raise InvalidInput(
            "Choose evidence from your organisation's library.", details={"evidence_id": "unknown"}
        )
    if evidence.superseded_at is not None:
        raise InvalidInput("Link the newest version of this evidence.")
    known = session.get(EvidenceLink, (engagement.id, control_id, evidence_id))
    if known is None:
        session.add(
            EvidenceLink(
                engagement_id=engagement.id,
                control_id=control_id,
                evidence_id=evidence_id,
                linked_by_id=actor.user_id,
            )
        )
        session.flush()


def unlink(session: Session, engagement: Engagement, actor: Actor, control_id: str, evidence_id: str) -> None:
    if not can(actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier unlinks evidence.",
            action="evidence_unlinked",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    row = session.get(EvidenceLink, (engagement.id, control_id, evidence_id))
    if row is None:
        raise NotFound("That evidence is not linked to this control.")
    session.delete(row)
    session.flush()


def links_by_control(session: Session, engagement_id: str) -> dict[str, list[Evidence]]:
    """Every control's linked evidence in one query."""
    rows = session.exec(
        select(EvidenceLink.control_id, Evidence)
        .join(Evidence, col(Evidence.id) == EvidenceLink.evidence_id)
        .where(EvidenceLink.engagement_id == engagement_id)
        .order_by(col(Evidence.uploaded_at))
    )
    out: dict[str, list[Evidence]] = defaultdict(list)
    for control_id, evidence in rows:
        out[control_id].append(evidence)
    return out


def versions(session: Session, evidence: Evidence) -> list[Evidence]:
    query = (
        select(Evidence)
        .where(Evidence.family_id == evidence.family_id)
        .order_by(col(Evidence.version).desc())
    )
    return list(session.exec(query))


def library_items(
    session: Session, org_id: str, *, q: str = "", kind: str = "", expiry: str = "", today: date | None = None
) -> list[tuple[Evidence, list[tuple[str, str]]]]:
    """Current versions of the supplier's evidence with where each is used (engagement ref, control)."""
    query = select(Evidence).where(Evidence.supplier_org_id == org_id, col(Evidence.superseded_at).is_(None))
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(func.lower(Evidence.title).like(pattern), func.lower(Evidence.file_name).like(pattern))
        )
    if kind:
        query = query.where(Evidence.kind == kind)
    today = today or clock.today()
    if expiry == "expired":
        query = query.where(col(Evidence.expires_on) < today)
    elif expiry == "expiring":
        query = query.where(
            col(Evidence.expires_on) >= today,
            col(Evidence.expires_on) <= date.fromordinal(today.toordinal() + 30),
        )
    items = list(session.exec(query.order_by(col(Evidence.uploaded_at).desc())))
    usage: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if items:
        rows = session.exec(
            select(EvidenceLink.evidence_id, Engagement.reference, EvidenceLink.control_id)
            .join(Engagement, col(Engagement.id) == EvidenceLink.engagement_id)
            .where(col(EvidenceLink.evidence_id).in_([e.id for e in items]))
        )
        for evidence_id, reference, control_id in rows:
            usage[evidence_id].append((reference, control_id))
    return [(e, sorted(usage.get(e.id, []))) for e in items]
