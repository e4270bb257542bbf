"""The buyer security advisor's portfolio: for each supplier they are buyer to, every certificate
the advisor's engagements with it require of the supplier and its sub-contractors, and how it
stands today.

One row per supplier summarises all of the advisor's engagements with it: each certificate
requirement is one line per holder and scheme set ("ISO/IEC 27001 or Cyber Essentials Plus"),
with every clause that asks for it and the engagements whose contract contains that clause (a
Call Off Schedule 7 engagement adds no Schedule 2.4 line). Its state is the register's, the same
for every engagement, because the register is the supplier's. The blockers are listed per
engagement, by that engagement's own profile and catalogues (app.domain.gates), the same text
open in several engagements once with all their references."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session, col, select

from app.domain import gates
from app.domain.access import Actor, Role
from app.domain.audit import AuditAction
from app.domain.certificates import CertificateState, Coverage, Holder, Scheme, coverage, requirement_label
from app.domain.errors import Denied
from app.models import Engagement, Organisation
from app.services.certificates.register import Row, blockers_for_supplier, catalogues_of, rows
from app.services.certificates.subcontractors import holders


@dataclass(frozen=True, slots=True)
class PortfolioLine:
    holder: Holder
    requirement: str  # e.g. "ISO/IEC 27001 or Cyber Essentials Plus"
    clauses: tuple[str, ...]  # e.g. "Schedule 2.4 para 6.1(b) (PR 1, PR 2)"
    state: Coverage
    expires_on: date | None
    certificate_id: str | None
    blocks: bool = True  # False: only standing requirements ask for it (Schedule 2.4 para 6.3)

    @property
    def clause(self) -> str:
        return "; ".join(self.clauses)


@dataclass(frozen=True, slots=True)
class SupplierPortfolio:
    organisation: Organisation
    engagements: list[Engagement]
    lines: list[PortfolioLine]
    blockers: list[str]
    certificates: list[Row]


@dataclass(frozen=True, slots=True)
class Portfolio:
    """The whole view: each supplier, and how many required certificates are in each state."""

    suppliers: list[SupplierPortfolio]
    counts: dict[Coverage, int]


ATTENTION = (Coverage.EXPIRING, Coverage.EXPIRED, Coverage.MISSING)


def _lines(
    session: Session, org_id: str, register: list[Row], engagements: list[Engagement]
) -> list[PortfolioLine]:
    """One line per holder and scheme set that some engagement's contract asks for."""
    in_scope = catalogues_of(session, [e.id for e in engagements])
    wanted: dict[tuple[str, tuple[Scheme, ...]], dict[str, list[str]]] = {}
    blocking: dict[tuple[str, tuple[Scheme, ...]], bool] = {}
    people = holders(session, org_id)
    for engagement in engagements:
        for pre in gates.preconditions(engagement.workflow_profile, in_scope[engagement.id]):
            if pre.kind is not gates.Kind.CERTIFICATE:
                continue
            for holder in people:
                if holder.tier is not pre.tier:
                    continue
                key = (holder.key, pre.schemes)
                wanted.setdefault(key, {}).setdefault(pre.clause, []).append(engagement.reference)
                blocking[key] = blocking.get(key, False) or pre.blocks
    lines = []
    for holder in people:
        for (holder_key, schemes), clauses in wanted.items():
            if holder_key != holder.key:
                continue
            matching = [
                r
                for r in register
                if r.holder.key == holder.key
                and r.certificate.scheme in schemes
                and r.state is not CertificateState.WITHDRAWN
            ]
            best = max(matching, key=lambda r: r.certificate.expires_on or date.max, default=None)
            lines.append(
                PortfolioLine(
                    holder,
                    requirement_label(schemes),
                    tuple(f"{c} ({', '.join(dict.fromkeys(refs))})" for c, refs in clauses.items()),
                    coverage(best.state if best else None),
                    best.certificate.expires_on if best else None,
                    best.certificate.id if best else None,
                    blocking[(holder_key, schemes)],
                )
            )
    return lines


def portfolio(session: Session, actor: Actor, *, today: date) -> Portfolio:
    """For a buyer advisor: each supplier they are buyer to, every required certificate's state."""
    if actor.role is not Role.BUYER_ADVISOR:
        raise Denied(
            "The certificate portfolio is for buyer security advisors.",
            action=AuditAction.PORTFOLIO,
            object_type="page",
            object_id="/portfolio",
        )
    query = select(Engagement).where(Engagement.buyer_org_id == actor.org_id)
    engagements = list(session.exec(query.order_by(col(Engagement.reference))))
    suppliers = []
    for org_id in dict.fromkeys(e.supplier_org_id for e in engagements):
        org = session.get(Organisation, org_id)
        if org is None:
            continue
        register = rows(session, {org_id}, today=today)
        mine = [e for e in engagements if e.supplier_org_id == org_id]
        open_items = blockers_for_supplier(session, org_id, today=today, engagements=mine)
        lines = _lines(session, org_id, register, mine)
        suppliers.append(SupplierPortfolio(org, mine, lines, [b.message for b in open_items], register))
    counts = {c: sum(1 for s in suppliers for line in s.lines if line.state is c) for c in ATTENTION}
    return Portfolio(suppliers, counts)
