"""Engagements: creation, who may see them, one engagement's summary, and the scoping answers
that switch controls on or off."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, true
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Parties, Role, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Control, Library, ScopingQuestion
from app.domain.errors import Conflict, Denied, InvalidInput
from app.domain.variations import CallOffForm
from app.models import Engagement, EngagementCatalogue, Organisation, OrgKind, ScopingAnswer, utcnow
from app.services.caller import Caller

WORKFLOW_PROFILES = ("schedule-2-4", "call-off-schedule-7")
JURISDICTIONS = ("england-and-wales", "scotland", "northern-ireland")
CALL_OFF_FORMS = tuple(form.value for form in CallOffForm)  # Call Off Schedule 7: short, long


def parties(engagement: Engagement) -> Parties:
    return Parties(engagement.buyer_org_id, engagement.supplier_org_id)


def visible_to(actor: Actor) -> ColumnElement[bool]:
    """The engagements the actor sees, as a condition (an administrator: every one)."""
    if actor.role in SUPPLIER_ROLES:
        return col(Engagement.supplier_org_id) == actor.org_id
    if actor.role is Role.BUYER_ADVISOR:
        return col(Engagement.buyer_org_id) == actor.org_id
    return true()


def visible(session: Session, actor: Actor, *, limit: int | None = None) -> list[Engagement]:
    """The engagements the actor sees, by reference (the first `limit` of them when given)."""
    query = select(Engagement).where(visible_to(actor)).order_by(col(Engagement.reference)).limit(limit)
    return list(session.exec(query))


def visible_count(session: Session, actor: Actor) -> int:
    """How many engagements the actor sees."""
    return int(session.exec(select(func.count()).select_from(Engagement).where(visible_to(actor))).one())


def catalogue_ids(session: Session, engagement_id: str) -> list[str]:
    query = select(EngagementCatalogue.catalogue_id).where(EngagementCatalogue.engagement_id == engagement_id)
    return sorted(session.exec(query))


def organisation_names(session: Session, org_ids: list[str] | None = None) -> dict[str, str]:
    """Organisation names by id (all of them, or those of `org_ids`)."""
    query = select(Organisation)
    if org_ids is not None:
        query = query.where(col(Organisation.id).in_(org_ids))
    return {o.id: o.name for o in session.exec(query)}


@dataclass(frozen=True, slots=True)
class Summary:
    """One engagement as both faces show it: the row, its catalogues and the parties' names."""

    engagement: Engagement
    catalogue_ids: list[str]
    names: dict[str, str]


def summary(session: Session, engagement: Engagement) -> Summary:
    """One engagement (already loaded through the access rule) with its catalogues and parties."""
    names = organisation_names(session, [engagement.buyer_org_id, engagement.supplier_org_id])
    return Summary(engagement, catalogue_ids(session, engagement.id), names)


@dataclass(frozen=True, slots=True)
class Choices:
    """What the new-engagement form offers: (id, name) pairs."""

    buyers: list[tuple[str, str]]
    suppliers: list[tuple[str, str]]


def choices(session: Session, actor: Actor) -> Choices:
    """Buyers the actor may create for (an advisor: their own department) and every supplier."""
    orgs = list(session.exec(select(Organisation).order_by(col(Organisation.name))))
    buyers = [
        (o.id, o.name)
        for o in orgs
        if o.kind is OrgKind.BUYER and (actor.role is Role.ADMINISTRATOR or o.id == actor.org_id)
    ]
    return Choices(buyers, [(o.id, o.name) for o in orgs if o.kind is OrgKind.SUPPLIER])


def create(
    session: Session,
    library: Library,
    caller: Caller,
    *,
    reference: str,
    title: str,
    buyer_org_id: str,
    supplier_org_id: str,
    effective_date: str,
    workflow_profile: str,
    catalogue_ids: list[str],
    jurisdiction: str = "england-and-wales",
    call_off_form: str = CallOffForm.LONG.value,
) -> Engagement:
    """A new engagement; administrators create any, buyer advisors only for their own department.
    Audited as `engagement_created`; anyone else is refused with 403 (who may create is public).

    `jurisdiction` is the engagement's record of which public holidays are not Working Days
    (England and Wales unless the contract says otherwise: Call Off Schedule 7 definition of
    Working Day). `call_off_form` is the form of Call Off Schedule 7 the contract uses, "short"
    (paragraphs 1 to 5) or "long" (paragraphs 1 to 9 with Annex 1, the default); the deadlines
    cite that form's paragraph numbers. It is kept for every engagement but only read under
    Call Off Schedule 7."""
    actor = caller.actor
    if not can(actor, Action.CREATE_ENGAGEMENT):
        raise Denied(
            "Only administrators and buyer advisors create engagements.",
            action=AuditAction.ENGAGEMENT_CREATED,
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
    if call_off_form not in CALL_OFF_FORMS:
        problems["call_off_form"] = (
            f"The form of Call Off Schedule 7 must be one of {', '.join(CALL_OFF_FORMS)}."
        )
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
        call_off_form=CallOffForm(call_off_form),
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
    caller.record(
        session,
        AuditAction.ENGAGEMENT_CREATED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"workflow_profile": workflow_profile, "call_off_form": call_off_form},
    )
    session.flush()
    return engagement


def scoping_answers(session: Session, engagement_id: str) -> dict[str, bool]:
    rows = session.exec(select(ScopingAnswer).where(ScopingAnswer.engagement_id == engagement_id))
    return {row.question_id: row.answer for row in rows}


def set_scoping(
    session: Session, library: Library, engagement: Engagement, caller: Caller, answers: dict[str, bool]
) -> dict[str, bool]:
    """Record yes/no answers (only the supplier answers scoping questions), audited as
    `scoping_answered` with the answers given; returns every answer the engagement now has."""
    actor = caller.actor
    if actor.role not in SUPPLIER_ROLES:
        raise Denied(
            "The supplier answers the scoping questions.",
            action=AuditAction.SCOPING_ANSWERED,
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
        existing[question_id] = row
    caller.record(
        session,
        AuditAction.SCOPING_ANSWERED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details=dict(answers),
    )
    session.flush()
    return {question_id: row.answer for question_id, row in existing.items()}


@dataclass(frozen=True, slots=True)
class Scoping:
    questions: tuple[ScopingQuestion, ...]
    answers: dict[str, bool]
    can_answer: bool


def scoping(session: Session, library: Library, engagement: Engagement, actor: Actor) -> Scoping:
    """The scoping questions, the answers so far, and whether the actor answers them."""
    may = can(actor, Action.ANSWER_CONTROL, parties(engagement))
    return Scoping(tuple(library.questions), scoping_answers(session, engagement.id), may)


def applicability(control: Control, answers: dict[str, bool], library: Library) -> tuple[bool, str]:
    """Whether a control applies, and the reason shown when it does not (unanswered counts as yes)."""
    if control.applies_if is None or answers.get(control.applies_if, True):
        return True, ""
    question = next((q for q in library.questions if q.id == control.applies_if), None)
    text = question.text if question else control.applies_if
    return False, f"Out of scope: answered no to “{text}”"


def engagement_controls(library: Library, catalogue_list: list[str]) -> list[Control]:
    return [c for cid in catalogue_list if (cat := library.catalogue(cid)) for c in cat.controls]
