"""A supplier's sub-contractors that process buyer data, with their Schedule 2.4 risk tier
(paras 6.2, 6.3): the holders of certificates beside the supplier itself."""

from __future__ import annotations

from sqlmodel import Session, col, select

from app.domain.audit import AuditAction
from app.domain.certificates import Holder, Tier
from app.domain.errors import InvalidInput, Refused
from app.models import Organisation, Subcontractor, utcnow
from app.services.caller import Caller
from app.services.certificates.access import may_manage, require_lead

TIERS = (Tier.HIGHER_RISK, Tier.MEDIUM_RISK)


def subcontractors(session: Session, org_id: str) -> list[Subcontractor]:
    """The supplier's current sub-contractors (removed ones left out), by name."""
    query = select(Subcontractor).where(
        Subcontractor.supplier_org_id == org_id, col(Subcontractor.removed_at).is_(None)
    )
    return list(session.exec(query.order_by(col(Subcontractor.name), col(Subcontractor.id))))


def supplier_holder(session: Session, org_id: str) -> Holder:
    org = session.get(Organisation, org_id)
    return Holder("", org.name if org else "the supplier", Tier.SUPPLIER)


def holders(session: Session, org_id: str) -> list[Holder]:
    """Who can hold a certificate: the supplier first, then each current sub-contractor."""
    subs = (Holder(s.id, s.name, s.tier) for s in subcontractors(session, org_id))
    return [supplier_holder(session, org_id), *subs]


def add_subcontractor(session: Session, caller: Caller, *, name: str, tier: str) -> Subcontractor:
    """Add a sub-contractor to the lead's own list; InvalidInput names each problem."""
    actor = caller.actor
    require_lead(actor)
    problems: dict[str, str] = {}
    name = " ".join(name.split())
    if not 1 <= len(name) <= 200:
        problems["name"] = "Enter the sub-contractor's name (up to 200 characters)."
    if tier not in TIERS:
        problems["tier"] = "Choose the risk tier: Higher Risk or Medium Risk Sub-contractor."
    elif any(s.name.lower() == name.lower() for s in subcontractors(session, actor.org_id)):
        problems["name"] = f"{name} is already on your list of sub-contractors."
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    row = Subcontractor(supplier_org_id=actor.org_id, name=name, tier=Tier(tier))
    session.add(row)
    session.flush()
    caller.record(
        session,
        AuditAction.SUBCONTRACTOR_ADDED,
        object_type="subcontractor",
        object_id=row.id,
        details={"name": row.name, "tier": row.tier.value},
    )
    session.flush()
    return row


def remove_subcontractor(session: Session, caller: Caller, row: Subcontractor) -> Subcontractor:
    """Take a sub-contractor (loaded by `access.subcontractor_to_manage`) off the list; its
    certificates stay on record, shown as held by a removed sub-contractor."""
    if not may_manage(caller.actor, row.supplier_org_id):
        raise Refused(
            "No such sub-contractor.",
            action=AuditAction.SUBCONTRACTOR_REMOVED,
            object_type="subcontractor",
            object_id=row.id,
        )
    if row.removed_at is not None:
        raise InvalidInput("That sub-contractor was already removed.")
    row.removed_at = utcnow()
    session.add(row)
    session.flush()
    caller.record(session, AuditAction.SUBCONTRACTOR_REMOVED, object_type="subcontractor", object_id=row.id)
    session.flush()
    return row
