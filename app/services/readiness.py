"""Readiness of one engagement: gather answers, scoping and evidence in a fixed number of
queries (whatever the number of controls), then apply the pure rule in app.domain.readiness."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.domain.catalogue import Library
from app.domain.readiness import CatalogueInfo, ControlInput, EvidenceItem, Readiness, Status, compute
from app.models import Engagement
from app.services import approvals
from app.services.certificates import certificate_blockers
from app.services.deadlines import engagement_deadlines, overdue_entries
from app.services.engagements import applicability, catalogue_ids, engagement_controls, scoping_answers
from app.services.evidence import links_by_control
from app.services.responses import responses_by_control


@dataclass(frozen=True, slots=True)
class MayProcess:
    """ "May process buyer data: yes / no" with every reason (Schedule 2.4 paras 4.2, 6.1-6.3)."""

    allowed: bool
    reasons: tuple[str, ...]


def engagement_readiness(
    session: Session, library: Library, engagement: Engagement, *, today: date
) -> Readiness:
    catalogues = catalogue_ids(session, engagement.id)  # query 1
    answers = scoping_answers(session, engagement.id)  # query 2
    responses = responses_by_control(session, engagement.id)  # query 3
    evidence = links_by_control(session, engagement.id)  # query 4
    inputs = []
    for control in engagement_controls(library, catalogues):
        applicable, reason = applicability(control, answers, library)
        response = responses.get(control.id)
        catalogue = library.catalogue(control.catalogue_id)
        section = next(s for s in catalogue.sections if s.id == control.section_id) if catalogue else None
        inputs.append(
            ControlInput(
                control_id=control.id,
                catalogue_id=control.catalogue_id,
                section_id=control.section_id,
                section_title=section.title if section else control.section_id,
                title=control.title,
                criticality=control.criticality,
                evidence_required=control.evidence_required,
                applicable=applicable,
                scoping_reason=reason,
                status=Status(response.status) if response else None,
                justification=response.justification if response else "",
                evidence=tuple(
                    EvidenceItem(e.id, e.title, e.expires_on, e.kind) for e in evidence.get(control.id, ())
                ),
            )
        )
    infos = [CatalogueInfo(c.id, c.title) for cid in catalogues if (c := library.catalogue(cid))]
    return compute(inputs, today=today, catalogues=infos)


def may_process(session: Session, engagement: Engagement, readiness: Readiness, *, today: date) -> MayProcess:
    """Yes only with no blockers (gate controls, and the certificates of Schedule 2.4 paras 4.2(a),
    6.1-6.3 from the certificate register), a current ISAS (Schedule 2.4 para 4.2(b)) and no Required
    Changes Register entry past its agreed date (para 5.5(a): cease processing)."""
    reasons = [f"Blocker: {b.message}" for b in readiness.blockers]
    reasons += [f"Blocker: {message}" for message in certificate_blockers(session, engagement, today=today)]
    if approvals.current_isas(session, engagement.id) is None:
        reasons.append("No Information Security Approval Statement has been issued for this engagement.")
    for late in overdue_entries(engagement_deadlines(session, engagement, today=today)):
        reasons.append(
            f"Must cease processing buyer data: {late.subject} was due on {late.due_on.isoformat()}"
            " and is not implemented (Schedule 2.4 para 5.5)."
        )
    return MayProcess(allowed=not reasons, reasons=tuple(reasons))
