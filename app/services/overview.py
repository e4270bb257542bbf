"""Readiness, plan state and deadlines of many engagements at once, in a fixed number of
statements whatever their number: each table is read once for the whole set (`IN` on the
engagement and supplier ids) and the same rules as one engagement's page are applied to each
(`app.services.readiness.readiness_from`, app.domain.gates, app.domain.deadlines).

Used by the pages that look across engagements: the home page's list, the advisor's portfolio.
`trends` replays the response history of a bounded page of engagements into a few points of
readiness over time."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from sqlmodel import Session, col, select

from app.domain import gates
from app.domain.catalogue import Library
from app.domain.certificates import Held, Holder, Tier
from app.domain.readiness import CREDIT, Readiness
from app.domain.workflow import State
from app.models import (
    Certificate,
    ControlResponse,
    Decision,
    Engagement,
    EngagementCatalogue,
    Evidence,
    EvidenceLink,
    Organisation,
    PlanCase,
    ResponseChange,
    ScopingAnswer,
    Subcontractor,
)
from app.services.deadlines import Timeline, overdue_entries
from app.services.timelines import timelines

TREND_POINTS = 12  # one point a month over the last year, the last one today


@dataclass(frozen=True, slots=True)
class Register:
    """Every holder and certificate of a set of suppliers, read in three statements."""

    organisations: dict[str, Organisation]
    subcontractors: dict[str, list[Subcontractor]]  # all of them, removed ones too, by name
    certificates: dict[str, list[Certificate]]

    def holders(self, org_id: str) -> list[Holder]:
        """As app.services.certificates.holders: the supplier first, then current sub-contractors."""
        org = self.organisations.get(org_id)
        subs = [
            Holder(s.id, s.name, s.tier) for s in self.subcontractors.get(org_id, ()) if s.removed_at is None
        ]
        return [Holder("", org.name if org else "the supplier", Tier.SUPPLIER), *subs]

    def held(self, org_id: str) -> tuple[Held, ...]:
        """As app.services.certificates.held_of."""
        return tuple(
            Held(
                c.subcontractor_id or "",
                c.scheme,
                c.expires_on,
                c.withdrawn_at is not None,
                c.number,
                ", ".join(part for part in (c.body, c.provider) if part),
            )
            for c in self.certificates.get(org_id, ())
        )

    def facts(self, org_id: str) -> gates.Facts:
        return gates.Facts(tuple(self.holders(org_id)), self.held(org_id))


def register_of(session: Session, org_ids: set[str]) -> Register:
    if not org_ids:
        return Register({}, {}, {})
    orgs = {o.id: o for o in session.exec(select(Organisation).where(col(Organisation.id).in_(org_ids)))}
    subs: dict[str, list[Subcontractor]] = defaultdict(list)
    query = select(Subcontractor).where(col(Subcontractor.supplier_org_id).in_(org_ids))
    for sub in session.exec(query.order_by(col(Subcontractor.name), col(Subcontractor.id))):
        subs[sub.supplier_org_id].append(sub)
    certificates: dict[str, list[Certificate]] = defaultdict(list)
    query_c = select(Certificate).where(col(Certificate.supplier_org_id).in_(org_ids))
    for certificate in session.exec(query_c.order_by(col(Certificate.issued_on).desc(), col(Certificate.id))):
        certificates[certificate.supplier_org_id].append(certificate)
    return Register(orgs, subs, certificates)


def catalogues_of(session: Session, ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {i: [] for i in ids}
    if ids:
        query = select(EngagementCatalogue).where(col(EngagementCatalogue.engagement_id).in_(ids))
        for row in session.exec(query.order_by(col(EngagementCatalogue.catalogue_id))):
            out[row.engagement_id].append(row.catalogue_id)
    return out


def plan_states(session: Session, ids: list[str]) -> dict[str, State]:
    """Each engagement's plan state (draft where no case row exists yet), in one statement."""
    out = dict.fromkeys(ids, State.DRAFT)
    if ids:
        for case in session.exec(select(PlanCase).where(col(PlanCase.engagement_id).in_(ids))):
            out[case.engagement_id] = State(case.state)
    return out


@dataclass(frozen=True, slots=True)
class Many:
    """What the cross-engagement pages show of each engagement."""

    readiness: dict[str, Readiness]
    states: dict[str, State]
    deadlines: dict[str, Timeline]
    register: Register


def many(
    session: Session,
    library: Library,
    engagements: Sequence[Engagement],
    *,
    today: date,
    skipped: list[str] | None = None,
) -> Many:
    """Readiness, plan state and deadlines of every engagement given (about 20 statements).
    With `skipped`, one whose deadlines cannot be computed is logged, named there and left out
    (app.services.timelines); without it, the error is raised."""
    ids = [e.id for e in engagements]
    if not ids:
        return Many({}, {}, {}, Register({}, {}, {}))
    catalogues = catalogues_of(session, ids)
    answers: dict[str, dict[str, bool]] = defaultdict(dict)
    for a in session.exec(select(ScopingAnswer).where(col(ScopingAnswer.engagement_id).in_(ids))):
        answers[a.engagement_id][a.question_id] = a.answer
    responses: dict[str, dict[str, ControlResponse]] = defaultdict(dict)
    for r in session.exec(select(ControlResponse).where(col(ControlResponse.engagement_id).in_(ids))):
        responses[r.engagement_id][r.control_id] = r
    evidence: dict[str, dict[str, list[Evidence]]] = defaultdict(lambda: defaultdict(list))
    linked = (
        select(EvidenceLink.engagement_id, EvidenceLink.control_id, Evidence)
        .join(Evidence, col(Evidence.id) == EvidenceLink.evidence_id)
        .where(col(EvidenceLink.engagement_id).in_(ids))
        .order_by(col(Evidence.uploaded_at))
    )
    for engagement_id, control_id, item in session.exec(linked):
        evidence[engagement_id][control_id].append(item)
    register = register_of(session, {e.supplier_org_id for e in engagements})
    states = plan_states(session, ids)
    approved = set(
        session.exec(
            select(Decision.engagement_id).where(
                col(Decision.engagement_id).in_(ids), col(Decision.approved).is_(True)
            )
        )
    )
    deadlines = timelines(session, engagements, today=today, skipped=skipped)
    from app.services.readiness import readiness_from  # here: readiness imports certificates

    out: dict[str, Readiness] = {}
    for engagement in engagements:
        if engagement.id not in deadlines:
            continue  # logged and named in `skipped` already
        pres = gates.preconditions(engagement.workflow_profile, catalogues[engagement.id])
        kinds = {p.kind for p in pres}
        facts = register.facts(engagement.supplier_org_id)
        if gates.Kind.ISAS in kinds:  # as app.services.approvals.current_isas
            issued = engagement.id in approved and states[engagement.id] is not State.TERMINATED
            facts = replace(facts, isas_issued=issued)
        if gates.Kind.REGISTER_ENTRIES in kinds:
            late = overdue_entries(deadlines[engagement.id])
            facts = replace(facts, overdue=tuple((d.subject, d.due_on) for d in late))
        out[engagement.id] = readiness_from(
            library,
            engagement,
            catalogues[engagement.id],
            answers.get(engagement.id, {}),
            responses.get(engagement.id, {}),
            evidence.get(engagement.id, {}),
            facts,
            today=today,
        )
    return Many(out, states, deadlines, register)


_CREDIT_BY_NAME = {status.value: credit for status, credit in CREDIT.items()}


def _credit(status: str | None) -> float:
    """The credit of a status as the history records it (unanswered and unknown: none)."""
    return _CREDIT_BY_NAME.get(status or "", 0.0)


def trend_days(today: date, points: int = TREND_POINTS) -> list[date]:
    """The days the trend is drawn at: every 30 days back from today, oldest first."""
    return [today - timedelta(days=30 * n) for n in range(points - 1, -1, -1)]


def trends(
    session: Session, readiness: dict[str, Readiness], *, today: date, points: int = TREND_POINTS
) -> dict[str, tuple[float, ...]]:
    """Readiness over the last year, `points` values per engagement (the last one is today's
    score), from the response history in one statement for the given engagements (a page).

    Each control keeps today's weight; its credit on a past day is that of the status it had then
    (the history's `before` of its first later change), and today's own credit where the status is
    the same as today (so evidence and gate rules are counted as today)."""
    ids = list(readiness)
    days = trend_days(today, points)
    if not ids:
        return {}
    start = datetime.combine(days[0], time.min, tzinfo=UTC)
    query = (
        select(
            ResponseChange.engagement_id,
            ResponseChange.control_id,
            ResponseChange.changed_at,
            ResponseChange.before,
        )
        .where(col(ResponseChange.engagement_id).in_(ids), col(ResponseChange.changed_at) >= start)
        .order_by(col(ResponseChange.changed_at), col(ResponseChange.id))
    )
    changes: dict[str, list[tuple[datetime, str, str | None]]] = defaultdict(list)
    for engagement_id, control_id, changed_at, before in session.exec(query):
        status = json.loads(before or "{}").get("status")
        at = changed_at if changed_at.tzinfo else changed_at.replace(tzinfo=UTC)
        changes[engagement_id].append((at, control_id, status))
    out: dict[str, tuple[float, ...]] = {}
    for engagement_id, result in readiness.items():
        scored = {c.control_id: c for c in result.controls if c.weight}
        if not result.possible:
            out[engagement_id] = tuple(0.0 for _ in days)
            continue
        values = []
        for day in days[:-1]:
            cutoff = datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC)
            then: dict[str, str | None] = {}
            for at, control_id, status in changes.get(engagement_id, ()):
                if at >= cutoff and control_id not in then:
                    then[control_id] = status  # the status before the first change after that day
            earned = 0.0
            for control_id, score in scored.items():
                if control_id not in then or then[control_id] == score.status:
                    earned += score.earned
                else:
                    earned += score.weight * _credit(then[control_id])
            values.append(round(100 * earned / result.possible, 1))
        values.append(result.score)
        out[engagement_id] = tuple(values)
    return out
