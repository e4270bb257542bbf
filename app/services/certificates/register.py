"""Reading the certificate register: each certificate with its holder and its state on a day,
filtered as the pages and the API filter it, and the certificate preconditions it meets or leaves
open, judged for each engagement by that engagement's own contract (app.domain.gates)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from app.domain import gates
from app.domain.certificates import (
    SCHEME_LABELS,
    STATES,
    CertificateState,
    Held,
    Holder,
    Scheme,
    Tier,
    state_on,
)
from app.domain.errors import InvalidInput
from app.models import Certificate, Engagement, EngagementCatalogue, Organisation, Subcontractor
from app.services.certificates.entries import SUPPLIER_HOLDER
from app.services.certificates.subcontractors import holders, supplier_holder


@dataclass(frozen=True, slots=True)
class Row:
    """A certificate with its holder and state, as pages and the API show it."""

    certificate: Certificate
    holder: Holder
    state: CertificateState

    @property
    def scheme_label(self) -> str:
        return SCHEME_LABELS[self.certificate.scheme]


def _removed_holder(sub: Subcontractor | None, key: str) -> Holder:
    """The holder of a certificate whose sub-contractor is no longer on the list."""
    if sub is None:
        return Holder(key, "unknown", Tier.MEDIUM_RISK)
    return Holder(key, f"{sub.name} (removed)", sub.tier)


def _holders_of(session: Session, org_ids: Iterable[str]) -> dict[tuple[str, str], Holder]:
    """Every holder of these suppliers by (supplier id, holder key), removed sub-contractors too,
    in two statements whatever the number of suppliers."""
    org_ids = set(org_ids)
    names = {
        o.id: o.name for o in session.exec(select(Organisation).where(col(Organisation.id).in_(org_ids)))
    }
    query = select(Subcontractor).where(col(Subcontractor.supplier_org_id).in_(org_ids))
    return holder_keys(org_ids, names, session.exec(query))


def holder_keys(
    org_ids: Iterable[str], names: dict[str, str], subs: Iterable[Subcontractor]
) -> dict[tuple[str, str], Holder]:
    """Holders by (supplier id, holder key) from rows already read: each supplier, its current
    sub-contractors, and its removed ones marked "(removed)"."""
    by_key = {
        (org_id, ""): Holder("", names.get(org_id, "the supplier"), Tier.SUPPLIER) for org_id in org_ids
    }
    for sub in subs:
        current = sub.removed_at is None
        held_by = Holder(sub.id, sub.name, sub.tier) if current else _removed_holder(sub, sub.id)
        by_key[(sub.supplier_org_id, sub.id)] = held_by
    return by_key


def row_of(certificate: Certificate, by_key: dict[tuple[str, str], Holder], today: date) -> Row:
    """A certificate's row from holders already read (`holder_keys`)."""
    return _row(certificate, by_key, today)


def _row(certificate: Certificate, by_key: dict[tuple[str, str], Holder], today: date) -> Row:
    key = certificate.subcontractor_id or ""
    holder = by_key.get((certificate.supplier_org_id, key)) or _removed_holder(None, key)
    state = state_on(certificate.expires_on, today, withdrawn=certificate.withdrawn_at is not None)
    return Row(certificate, holder, state)


def _holder_matches(holder: Holder, wanted: str) -> bool:
    wanted = wanted.strip().lower()
    return (
        not wanted
        or (wanted == SUPPLIER_HOLDER and holder.tier is Tier.SUPPLIER)
        or wanted == holder.key
        or wanted == holder.name.lower()
    )


def rows(
    session: Session, org_ids: set[str], *, today: date, holder: str = "", state: str = "", scheme: str = ""
) -> list[Row]:
    """Certificates of the given suppliers with holder and state, newest issue first; `holder` is
    "supplier", a sub-contractor id or a holder name; `state` one of current, expiring, expired,
    withdrawn."""
    if not org_ids:
        return []
    if state and state not in STATES:
        raise InvalidInput(f"State must be one of {', '.join(STATES)}.", details={"state": state})
    if scheme and scheme not in set(Scheme):
        raise InvalidInput(f"Scheme must be one of {', '.join(Scheme)}.", details={"scheme": scheme})
    query = select(Certificate).where(col(Certificate.supplier_org_id).in_(org_ids))
    if scheme:
        query = query.where(Certificate.scheme == Scheme(scheme))
    query = query.order_by(col(Certificate.issued_on).desc(), col(Certificate.id))
    by_key = _holders_of(session, org_ids)
    found = (_row(c, by_key, today) for c in session.exec(query))
    return [r for r in found if (not state or r.state == state) and _holder_matches(r.holder, holder)]


def row_for(session: Session, certificate: Certificate, *, today: date) -> Row:
    """One certificate's row: its own holder only, not the whole register."""
    org_id, key = certificate.supplier_org_id, certificate.subcontractor_id or ""
    if not key:
        by_key = {(org_id, ""): supplier_holder(session, org_id)}
    else:
        sub = session.get(Subcontractor, key)
        held_by = (
            Holder(sub.id, sub.name, sub.tier)
            if sub is not None and sub.supplier_org_id == org_id and sub.removed_at is None
            else _removed_holder(sub if sub is not None and sub.supplier_org_id == org_id else None, key)
        )
        by_key = {(org_id, key): held_by}
    return _row(certificate, by_key, today)


def held_of(session: Session, org_id: str) -> tuple[Held, ...]:
    """Every certificate of the supplier as the preconditions read it, in one query."""
    query = select(Certificate).where(Certificate.supplier_org_id == org_id)
    return tuple(
        Held(
            c.subcontractor_id or "",
            c.scheme,
            c.expires_on,
            c.withdrawn_at is not None,
            c.number,
            ", ".join(part for part in (c.body, c.provider) if part),
        )
        for c in session.exec(query)
    )


def register_facts(session: Session, org_id: str) -> gates.Facts:
    """The supplier's holders and certificates (certificate preconditions only)."""
    return gates.Facts(tuple(holders(session, org_id)), held_of(session, org_id))


def catalogues_of(session: Session, engagement_ids: Iterable[str]) -> dict[str, list[str]]:
    """The catalogue ids in scope of each engagement, in one query."""
    ids = list(engagement_ids)
    out: dict[str, list[str]] = {i: [] for i in ids}
    if not ids:
        return out
    query = select(EngagementCatalogue).where(col(EngagementCatalogue.engagement_id).in_(ids))
    for row in session.exec(query.order_by(col(EngagementCatalogue.catalogue_id))):
        out[row.engagement_id].append(row.catalogue_id)
    return out


def certificate_outcome(
    session: Session, engagement: Engagement, *, today: date, catalogue_ids: Iterable[str] | None = None
) -> gates.Outcome:
    """The engagement's certificate preconditions (its profile's and its catalogues'), judged
    on the register alone."""
    if catalogue_ids is None:
        catalogue_ids = catalogues_of(session, [engagement.id])[engagement.id]
    pres = gates.preconditions(engagement.workflow_profile, catalogue_ids)
    pres = tuple(p for p in pres if p.kind is gates.Kind.CERTIFICATE)
    return gates.assess(pres, register_facts(session, engagement.supplier_org_id), today)


def certificate_blockers(session: Session, engagement: Engagement, *, today: date) -> list[str]:
    """The engagement's open certificate preconditions, each with its clause (blockers only)."""
    return [o.message for o in certificate_outcome(session, engagement, today=today).blocking]


@dataclass(frozen=True, slots=True)
class SupplierBlocker:
    """A certificate precondition open in one or more of a supplier's engagements."""

    text: str  # the blocker as each of those engagements names it
    references: tuple[str, ...]  # the engagements' references
    blocks: bool  # False: a standing requirement (Schedule 2.4 para 6.3), never a blocker

    @property
    def message(self) -> str:
        note = "" if self.blocks else " (a standing requirement, not a precondition for processing)"
        return f"{', '.join(self.references)}: {self.text}{note}"


def blockers_for_supplier(
    session: Session, org_id: str, *, today: date, engagements: list[Engagement] | None = None
) -> list[SupplierBlocker]:
    """What the supplier's register leaves open, engagement by engagement under each one's own
    contract (all of its engagements, or `engagements`); the same text open in several
    engagements is listed once with their references. Blockers first, then standing ones."""
    if engagements is None:
        query = select(Engagement).where(Engagement.supplier_org_id == org_id)
        engagements = list(session.exec(query.order_by(col(Engagement.reference))))
    facts = register_facts(session, org_id)
    in_scope = catalogues_of(session, [e.id for e in engagements])
    return open_for(facts, in_scope, engagements, today=today)


def open_for(
    facts: gates.Facts, in_scope: dict[str, list[str]], engagements: list[Engagement], *, today: date
) -> list[SupplierBlocker]:
    """`blockers_for_supplier` from what was read already: the supplier's register facts and each
    engagement's catalogues."""
    found: dict[tuple[bool, str], list[str]] = {}
    for engagement in engagements:
        pres = gates.preconditions(engagement.workflow_profile, in_scope[engagement.id])
        pres = tuple(p for p in pres if p.kind is gates.Kind.CERTIFICATE)
        for item in gates.assess(pres, facts, today).open:
            key = (item.precondition.blocks, item.message)
            found.setdefault(key, []).append(engagement.reference)
    ordered = sorted(found.items(), key=lambda kv: not kv[0][0])  # stable: blockers first
    return [SupplierBlocker(text, tuple(dict.fromkeys(refs)), blocks) for (blocks, text), refs in ordered]
