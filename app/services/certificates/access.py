"""Who may see and change the certificate register (Schedule 2.4 para 6).

A supplier's people read their own organisation's register; a buyer security advisor reads the
registers of the suppliers they are buyer to; only the supplier's security lead changes it. A
certificate that exists but is not the caller's is refused (`Refused`, audited, answered as "not
found"); the `*_to_read` / `*_to_manage` loaders refuse a missing id the same way, so a caller
cannot tell the two apart.
"""

from __future__ import annotations

from sqlmodel import Session, select

from app.domain.access import SUPPLIER_ROLES, Actor, Role
from app.domain.audit import AuditAction
from app.domain.errors import Denied, NotFound, Refused
from app.models import Certificate, Engagement, Subcontractor


def buyer_supplier_ids(session: Session, buyer_org_id: str) -> set[str]:
    query = select(Engagement.supplier_org_id).where(Engagement.buyer_org_id == buyer_org_id)
    return set(session.exec(query))


def visible_supplier_ids(session: Session, actor: Actor) -> set[str]:
    """Suppliers whose register the actor may read: their own, or those they are buyer to."""
    if actor.role in SUPPLIER_ROLES:
        return {actor.org_id}
    if actor.role is Role.BUYER_ADVISOR:
        return buyer_supplier_ids(session, actor.org_id)
    return set()


def may_manage(actor: Actor, supplier_org_id: str) -> bool:
    return actor.role is Role.SUPPLIER_LEAD and supplier_org_id == actor.org_id


def readable(session: Session, actor: Actor, certificate_id: str) -> Certificate:
    """The certificate if the actor may read it; NotFound if there is none, Refused if not theirs."""
    row = session.get(Certificate, certificate_id)
    if row is None:
        raise NotFound("No such certificate.")
    if row.supplier_org_id not in visible_supplier_ids(session, actor):
        raise Refused(
            "No such certificate.",
            action=AuditAction.CERTIFICATE_VIEWED,
            object_type="certificate",
            object_id=row.id,
        )
    return row


def managed(
    session: Session,
    actor: Actor,
    certificate_id: str,
    action: str = AuditAction.CERTIFICATE_MANAGED,
) -> Certificate:
    """A certificate the actor may change: supplier leads, their own organisation's only."""
    row = session.get(Certificate, certificate_id)
    if row is None:
        raise NotFound("No such certificate.")
    if not may_manage(actor, row.supplier_org_id):
        raise Refused("No such certificate.", action=str(action), object_type="certificate", object_id=row.id)
    return row


def require_lead(actor: Actor) -> None:
    """Adding to the register is the supplier lead's (a role, public knowledge: 403, audited)."""
    if actor.role is not Role.SUPPLIER_LEAD:
        raise Denied(
            "Only the supplier's security lead manages certificates.",
            action=AuditAction.CERTIFICATE_MANAGED,
            object_type="certificate",
            object_id="",
        )


def _refused(action: str, object_type: str, object_id: str) -> Refused:
    text = f"No such {object_type.replace('_', ' ')}."
    return Refused(text, action=str(action), object_type=object_type, object_id=object_id)


def certificate_to_read(session: Session, actor: Actor, certificate_id: str) -> Certificate:
    """Load-or-refuse for reading: a missing id is refused like another tenant's."""
    try:
        return readable(session, actor, certificate_id)
    except Refused:
        raise
    except NotFound:
        raise _refused(AuditAction.CERTIFICATE_VIEWED, "certificate", certificate_id) from None


def certificate_to_manage(session: Session, actor: Actor, certificate_id: str, action: str) -> Certificate:
    """Load-or-refuse for a change; `action` names the refused action in the audit log."""
    try:
        return managed(session, actor, certificate_id, action)
    except Refused:
        raise
    except NotFound:
        raise _refused(action, "certificate", certificate_id) from None


def subcontractor_to_manage(session: Session, actor: Actor, subcontractor_id: str) -> Subcontractor:
    """A sub-contractor on the lead's own list (removed ones included: removing twice is a 422)."""
    row = session.get(Subcontractor, subcontractor_id)
    if row is None or not may_manage(actor, row.supplier_org_id):
        raise _refused(AuditAction.SUBCONTRACTOR_REMOVED, "subcontractor", subcontractor_id)
    return row
