"""Readiness of one engagement: gather answers, scoping, evidence and the facts the contract's
preconditions are judged on in a fixed number of queries (whatever the number of controls), then
apply the pure rules in app.domain.readiness and app.domain.gates.

The blockers are one list, built here once (`engagement_readiness`): the engagement's open
contract preconditions (its profile's and its catalogues', app.domain.gates: certificates from the
register, the IT Health Check, the ISAS, Required Changes Register entries past their agreed date)
then its gate controls still open, each naming the clause that creates it. The dashboard's count,
the readiness API's `blockers` and the "may process buyer data" reasons are that list, so they
cannot disagree.

`readiness_of` (readiness with "may process buyer data") and `dashboard` (one engagement's page)
are the views both the pages and the API show: each is composed here, once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date

from sqlmodel import Session

from app.domain import gates
from app.domain.access import Action, Actor, can
from app.domain.catalogue import Catalogue, Control, Criticality, Library
from app.domain.deadlines import Deadline
from app.domain.readiness import (
    Blocker,
    BlockerKind,
    CatalogueInfo,
    ControlInput,
    EvidenceItem,
    Readiness,
    Status,
    compute,
)
from app.models import ControlResponse, Engagement, Evidence
from app.services import approvals
from app.services.certificates import register_facts
from app.services.deadlines import engagement_deadlines, overdue_entries
from app.services.engagements import (
    Summary,
    applicability,
    catalogue_ids,
    engagement_controls,
    parties,
    scoping_answers,
    summary,
)
from app.services.evidence import links_by_control
from app.services.responses import responses_by_control


@dataclass(frozen=True, slots=True)
class MayProcess:
    """ "May process buyer data: yes / no" with every reason: the engagement's blockers."""

    allowed: bool
    reasons: tuple[str, ...]


def clause_of(control: Control) -> str:
    """The clause a control transcribes, as its source names it without the seed's file name."""
    _file, _sep, clause = control.source.partition(", ")
    return clause or control.source


def _criticality(control: Control, profile_id: str) -> Criticality:
    """A gate of a contract's own catalogue binds only that contract's engagements; elsewhere it
    is scored like a high control (app.domain.gates.binds)."""
    if control.is_gate and not gates.binds(control.catalogue_id, profile_id):
        return Criticality.HIGH
    return control.criticality


def _facts(
    session: Session,
    engagement: Engagement,
    pres: tuple[gates.Precondition, ...],
    *,
    today: date,
    deadlines: list[Deadline] | None,
) -> gates.Facts:
    """What the preconditions need, and only that (a Call Off engagement reads no ISAS)."""
    facts = register_facts(session, engagement.supplier_org_id)
    kinds = {p.kind for p in pres}
    isas = approvals.current_isas(session, engagement.id) is not None if gates.Kind.ISAS in kinds else None
    overdue = None
    if gates.Kind.REGISTER_ENTRIES in kinds:
        if deadlines is None:
            deadlines = engagement_deadlines(session, engagement, today=today)
        overdue = tuple((d.subject, d.due_on) for d in overdue_entries(deadlines))
    return replace(facts, isas_issued=isas, overdue=overdue)


def engagement_readiness(
    session: Session,
    library: Library,
    engagement: Engagement,
    *,
    today: date,
    deadlines: list[Deadline] | None = None,
) -> Readiness:
    """Readiness with the engagement's one list of blockers. `deadlines`, when the caller has
    them already, saves computing them twice."""
    catalogues = catalogue_ids(session, engagement.id)  # query 1
    answers = scoping_answers(session, engagement.id)  # query 2
    responses = responses_by_control(session, engagement.id)  # query 3
    evidence = links_by_control(session, engagement.id)  # query 4
    pres = gates.preconditions(engagement.workflow_profile, catalogues)
    facts = _facts(session, engagement, pres, today=today, deadlines=deadlines)
    return readiness_from(library, engagement, catalogues, answers, responses, evidence, facts, today=today)


def readiness_from(
    library: Library,
    engagement: Engagement,
    catalogues: list[str],
    answers: dict[str, bool],
    responses: Mapping[str, ControlResponse],
    evidence: Mapping[str, Sequence[Evidence]],
    facts: gates.Facts,
    *,
    today: date,
) -> Readiness:
    """Readiness from what was read already (no query): the one rule `engagement_readiness` and
    the pages across many engagements (app.services.overview) both apply."""
    profile_id = engagement.workflow_profile
    pres = gates.preconditions(profile_id, catalogues)
    outcome = gates.assess(pres, facts, today)
    inputs = []
    binding: dict[str, str] = {}
    for control in engagement_controls(library, catalogues):
        applicable, reason = applicability(control, answers, library)
        response = responses.get(control.id)
        catalogue = library.catalogue(control.catalogue_id)
        section = next(s for s in catalogue.sections if s.id == control.section_id) if catalogue else None
        criticality = _criticality(control, profile_id)
        if criticality is Criticality.GATE and applicable:
            binding[control.id] = control.catalogue_id
        inputs.append(
            ControlInput(
                control_id=control.id,
                catalogue_id=control.catalogue_id,
                section_id=control.section_id,
                section_title=section.title if section else control.section_id,
                title=control.title,
                criticality=criticality,
                evidence_required=control.evidence_required,
                applicable=applicable,
                scoping_reason=reason,
                status=Status(response.status) if response else None,
                justification=response.justification if response else "",
                evidence=tuple(
                    EvidenceItem(e.id, e.title, e.expires_on, e.kind) for e in evidence.get(control.id, ())
                ),
                clause=clause_of(control),
                register=outcome.check(control.id) if criticality is Criticality.GATE else None,
            )
        )
    infos = [CatalogueInfo(c.id, c.title) for cid in catalogues if (c := library.catalogue(cid))]
    result = compute(inputs, today=today, catalogues=infos)
    return replace(result, blockers=(*outcome.blockers(binding), *result.blockers))


def may_process(readiness: Readiness) -> MayProcess:
    """Yes only when the engagement has no blocker; the reasons are the blockers' messages."""
    return MayProcess(allowed=not readiness.blockers, reasons=tuple(b.message for b in readiness.blockers))


def outstanding_at_approval(
    session: Session, library: Library, engagement: Engagement, *, today: date
) -> list[Blocker]:
    """The blockers an approval would leave open: all of them but the ISAS it issues."""
    result = engagement_readiness(session, library, engagement, today=today)
    return [b for b in result.blockers if b.kind is not BlockerKind.ISAS]


@dataclass(frozen=True, slots=True)
class ReadinessView:
    """Readiness and the "may process buyer data" answer that follows from it."""

    readiness: Readiness
    may: MayProcess

    def to_dict(self) -> dict[str, object]:
        return {
            **self.readiness.to_dict(),
            "may_process_buyer_data": self.may.allowed,
            "reasons": list(self.may.reasons),
        }


def readiness_of(session: Session, library: Library, engagement: Engagement, *, today: date) -> ReadinessView:
    """The engagement's readiness with "may process buyer data" (page and API)."""
    result = engagement_readiness(session, library, engagement, today=today)
    return ReadinessView(result, may_process(result))


@dataclass(frozen=True, slots=True)
class Dashboard:
    """One engagement's page: the engagement, readiness, deadlines and the plan's state."""

    summary: Summary
    view: ReadinessView
    catalogues: dict[str, Catalogue]
    is_supplier: bool
    deadlines: list[Deadline]
    plan_state: str


def dashboard(
    session: Session, library: Library, engagement: Engagement, actor: Actor, *, today: date
) -> Dashboard:
    """Everything one engagement's page shows, with deadlines computed once."""
    deadlines = engagement_deadlines(session, engagement, today=today)
    result = engagement_readiness(session, library, engagement, today=today, deadlines=deadlines)
    return Dashboard(
        summary=summary(session, engagement),
        view=ReadinessView(result, may_process(result)),
        catalogues={c.id: c for c in library.catalogues},
        is_supplier=can(actor, Action.ANSWER_CONTROL, parties(engagement)),
        deadlines=deadlines,
        plan_state=approvals.case_row(session, engagement.id).state,
    )
