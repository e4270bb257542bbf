"""Engagements: creation, who may see them, and the scoping answers that switch controls on or off."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Parties, Role, can
from app.domain.catalogue import Control, Library
from app.domain.errors import Conflict, Denied, InvalidInput, NotFound
from app.models import Engagement, EngagementCatalogue, Organisation, OrgKind, ScopingAnswer, utcnow

WORKFLOW_PROFILES = ("schedule-2-4", "call-off-schedule-7")
JURISDICTIONS = ("england-and-wales", "scotland", "northern-ireland")


def parties(engagement: Engagement) -> Parties:
    return Parties(engagement.buyer_org_id, engagement.supplier_org_id)


def visible(session: Session, actor: Actor) -> list[Engagement]:
    query = select(Engagement).order_by(col(Engagement.reference))
    if actor.role in SUPPLIER_ROLES:
        query = query.where(Engagement.supplier_org_id == actor.org_id)
    elif actor.role is Role.BUYER_ADVISOR:
        query = query.where(Engagement.buyer_org_id == actor.org_id)
    return list(session.exec(query))


def catalogue_ids(session: Session, engagement_id: str) -> list[str]:
    query = select(EngagementCatalogue.catalogue_id).where(EngagementCatalogue.engagement_id == engagement_id)
    return sorted(session.exec(query))


def create(
    session: Session,
    library: Library,
    actor: Actor,
    *,
    reference: str,
    title: str,
    buyer_org_id: str,
    supplier_org_id: str,
    effective_date: str,
    workflow_profile: str,
    catalogue_ids: list[str],
    jurisdiction: str = "england-and-wales",
) -> Engagement:
    """A new engagement; administrators create any, buyer advisors only for their own department."""
    if not can(actor, Action.CREATE_ENGAGEMENT):
        raise Denied(
            "Only administrators and buyer advisors create engagements.",
            action="engagement_created",
            object_type="engagement",
            object_id="",
        )
    problems: dict[str, str] = {}
    reference, title = " ".join(reference.split()), " ".join(title.split())
    if not 1 <= len(reference) <= 64:
        problems["reference"] = "Enter the contract reference (up to 64 characters)."
    if not 1 <= len(title) <= 300:
        problems["title"] = "Enter the contract title (up to 300 characters)."
    effective = dates.read(effective_date, "effective_date", "Effective date", problems, required=True)
    if workflow_profile not in WORKFLOW_PROFILES:
        problems["workflow_profile"] = f"Workflow profile must be one of {', '.join(WORKFLOW_PROFILES)}."
    if jurisdiction not in JURISDICTIONS:
        problems["jurisdiction"] = f"Jurisdiction must be one of {', '.join(JURISDICTIONS)}."
    known = {c.id for c in library.catalogues}
    unknown = [c for c in catalogue_ids if c not in known]
    if not catalogue_ids or unknown:
        problems["catalogue_ids"] = (
            f"Unknown catalogues: {', '.join(unknown)}." if unknown else "Choose at least one catalogue."
        )
    buyer = session.get(Organisation, buyer_org_id)
    supplier = session.get(Organisation, supplier_org_id)
    if buyer is None or buyer.kind is not OrgKind.BUYER:
        problems["buyer_org_id"] = "Choose a buyer organisation."
    elif actor.role is Role.BUYER_ADVISOR and buyer.id != actor.org_id:
        problems["buyer_org_id"] = "Buyer advisors create engagements for their own organisation only."
    if supplier is None or supplier.kind is not OrgKind.SUPPLIER:
        problems["supplier_org_id"] = "Choose a supplier organisation."
    if problems or effective is None:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    engagement = Engagement(
        reference=reference,
        title=title,
        buyer_org_id=buyer_org_id,
        supplier_org_id=supplier_org_id,
        effective_on=effective,
        workflow_profile=workflow_profile,
        jurisdiction=jurisdiction,
    )
    session.add(engagement)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Conflict(
            f"This buyer already has an engagement {reference!r}.", details={"reference": "duplicate"}
        ) from None
    for catalogue_id in dict.fromkeys(catalogue_ids):
        session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id=catalogue_id))
    session.flush()
    return engagement


def scoping_answers(session: Session, engagement_id: str) -> dict[str, bool]:
    rows = session.exec(select(ScopingAnswer).where(ScopingAnswer.engagement_id == engagement_id))
    return {row.question_id: row.answer for row in rows}


def set_scoping(
    session: Session, library: Library, engagement: Engagement, actor: Actor, answers: dict[str, bool]
) -> None:
    """Record yes/no answers (only the supplier answers scoping questions)."""
    if actor.role not in SUPPLIER_ROLES:
        raise Denied(
            "The supplier answers the scoping questions.",
            action="scoping_answered",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    known = {q.id for q in library.questions}
    unknown = sorted(set(answers) - known)
    if unknown:
        raise InvalidInput(
            f"Unknown scoping questions: {', '.join(unknown)}.", details={"questions": unknown}
        )
    existing = {
        row.question_id: row
        for row in session.exec(select(ScopingAnswer).where(ScopingAnswer.engagement_id == engagement.id))
    }
    for question_id, answer in answers.items():
        row = existing.get(question_id)
        if row is None:
            row = ScopingAnswer(
                engagement_id=engagement.id,
                question_id=question_id,
                answer=answer,
                answered_by_id=actor.user_id,
            )
        else:
            row.answer, row.answered_by_id, row.answered_at = answer, actor.user_id, utcnow()
        session.add(row)
    session.flush()


def applicability(control: Control, answers: dict[str, bool], library: Library) -> tuple[bool, str]:
    """Whether a control applies, and the reason shown when it does not (unanswered counts as yes)."""
    if control.applies_if is None or answers.get(control.applies_if, True):
        return True, ""
    question = next((q for q in library.questions if q.id == control.applies_if), None)
    text = question.text if question else control.applies_if
    return False, f"Out of scope: answered no to “{text}”"


def engagement_controls(library: Library, catalogue_list: list[str]) -> list[Control]:
    return [c for cid in catalogue_list if (cat := library.catalogue(cid)) for c in cat.controls]


def get_visible(session: Session, actor: Actor, engagement_id: str) -> Engagement:
    engagement = session.get(Engagement, engagement_id)
    if engagement is None:
        raise NotFound("No such engagement.")
    return engagement
