"""The buyer security advisor's portfolio: for each supplier they are buyer to, every certificate
the advisor's engagements with it require of the supplier and its sub-contractors, and how it
stands today.

One row per supplier summarises all of the advisor's engagements with it: each certificate
requirement is one line per holder and scheme set ("ISO/IEC 27001 or Cyber Essentials Plus"),
with every clause that asks for it and the engagements whose contract contains that clause (a
Call Off Schedule 7 engagement adds no Schedule 2.4 line). Its state is the register's, the same
for every engagement, because the register is the supplier's. The blockers are listed per
engagement, by that engagement's own profile and catalogues (app.domain.gates), the same text
open in several engagements once with all their references.

The page at a glance (one row per engagement, sorted and paged) is app.services.certificates.glance,
built from the lines here. Everything is read set-based (app.services.overview): a fixed number of
statements whatever the number of suppliers, engagements, certificates or history rows."""

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
from app.services import overview
from app.services.certificates.register import Row, holder_keys, open_for, row_of


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
WORST_FIRST = (Coverage.MISSING, Coverage.EXPIRED, Coverage.EXPIRING, Coverage.CURRENT)
PAGE_SIZE = 50
SORTS = ("supplier", "engagement", "readiness", "plan", "deadline", "blockers", "certificates")


Need = tuple[str, tuple[Scheme, ...]]  # (holder key, scheme set)


def _wanted(
    people: list[Holder], engagements: list[Engagement], in_scope: dict[str, list[str]]
) -> tuple[dict[Need, dict[str, list[str]]], dict[Need, bool]]:
    """Each (holder, scheme set) some engagement's contract asks for: the clauses with the
    engagements asking, and whether any of them makes it a blocker."""
    wanted: dict[Need, dict[str, list[str]]] = {}
    blocking: dict[Need, bool] = {}
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
    return wanted, blocking


def _lines(
    people: list[Holder], register: list[Row], engagements: list[Engagement], in_scope: dict[str, list[str]]
) -> list[PortfolioLine]:
    """One line per holder and scheme set that some engagement's contract asks for (no query)."""
    wanted, blocking = _wanted(people, engagements, in_scope)
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


def _refuse(actor: Actor) -> None:
    if actor.role is not Role.BUYER_ADVISOR:
        raise Denied(
            "The certificate portfolio is for buyer security advisors.",
            action=AuditAction.PORTFOLIO,
            object_type="page",
            object_id="/portfolio",
        )


@dataclass(frozen=True, slots=True)
class _Read:
    engagements: list[Engagement]
    register: overview.Register
    in_scope: dict[str, list[str]]


def _read(session: Session, actor: Actor) -> _Read:
    """The advisor's engagements, their suppliers' registers and their catalogues: five
    statements whatever the number of suppliers, engagements and certificates."""
    query = select(Engagement).where(Engagement.buyer_org_id == actor.org_id)
    engagements = list(session.exec(query.order_by(col(Engagement.reference))))
    register = overview.register_of(session, {e.supplier_org_id for e in engagements})
    return _Read(engagements, register, overview.catalogues_of(session, [e.id for e in engagements]))


def _suppliers(read: _Read, *, today: date, blockers_of: set[str] | None = None) -> list[SupplierPortfolio]:
    """Each supplier's certificate lines and register; its blockers too, for the suppliers in
    `blockers_of` (None: every supplier; the others get an empty list)."""
    by_supplier: dict[str, list[Engagement]] = {}
    for e in read.engagements:
        by_supplier.setdefault(e.supplier_org_id, []).append(e)
    reg = read.register
    suppliers = []
    for org_id, mine in by_supplier.items():
        org = reg.organisations.get(org_id)
        if org is None:
            continue
        by_key = holder_keys([org_id], {org_id: org.name}, reg.subcontractors.get(org_id, ()))
        register = [row_of(c, by_key, today) for c in reg.certificates.get(org_id, ())]
        wanted = blockers_of is None or org_id in blockers_of
        open_items = open_for(reg.facts(org_id), read.in_scope, mine, today=today) if wanted else []
        lines = _lines(reg.holders(org_id), register, mine, read.in_scope)
        suppliers.append(SupplierPortfolio(org, mine, lines, [b.message for b in open_items], register))
    return suppliers


def _counts(suppliers: list[SupplierPortfolio]) -> dict[Coverage, int]:
    return {c: sum(1 for s in suppliers for line in s.lines if line.state is c) for c in ATTENTION}


def portfolio(session: Session, actor: Actor, *, today: date) -> Portfolio:
    """For a buyer advisor: each supplier they are buyer to, every required certificate's state
    (a fixed number of statements: app.services.overview.register_of)."""
    _refuse(actor)
    suppliers = _suppliers(_read(session, actor), today=today)
    return Portfolio(suppliers, _counts(suppliers))
