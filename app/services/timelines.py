"""The deadlines of many engagements at once, for the pages that look across engagements (the
advisor's home page, the review queue, the portfolio, the "due soon" panel).

`engagement_deadlines` (app.services.deadlines) reads seven tables for one engagement. Here each
of those tables is read once for the whole set (`IN` on the engagement, buyer and supplier ids),
the facts are grouped in memory, and the same pure rule (app.domain.deadlines.compute) is applied
to each engagement's history: a fixed number of statements however many engagements there are,
and deadlines identical to the one-engagement path."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import date
from typing import TypeVar

from sqlmodel import Session, col, select

from app.domain.calendar import ClosureFact
from app.domain.certificates import Tier
from app.domain.dates import london_date
from app.domain.deadlines import (
    CertificateFact,
    DecisionFact,
    EntryFact,
    History,
    NoticeFact,
    SubmissionFact,
    compute,
    lapses,
)
from app.domain.variations import Variation, agreed_calendar
from app.models import (
    AgreedVariation,
    Certificate,
    ChangeNotice,
    ClosureDay,
    Decision,
    Engagement,
    Organisation,
    RegisterEntry,
    Subcontractor,
    Submission,
)
from app.services.calendars import calendar_for
from app.services.deadlines import CERTIFICATION_EVENT, Timeline, profile_of, variation_fact

T = TypeVar("T")
log = logging.getLogger(__name__)


def _grouped(rows: Sequence[T], key: str) -> dict[str, list[T]]:
    out: dict[str, list[T]] = defaultdict(list)
    for row in rows:
        out[getattr(row, key)].append(row)
    return out


def certificate_facts_of(session: Session, supplier_ids: set[str]) -> dict[str, list[CertificateFact]]:
    """Each supplier's certificate register as the para 6.6 rule reads it, in one query for all
    of them. A sub-contractor taken off the list no longer processes buyer data: its certificates
    that end after it was removed are left out (their end is no loss of compliance)."""
    out: dict[str, list[CertificateFact]] = defaultdict(list)
    if not supplier_ids:
        return out
    rows = session.exec(
        select(Certificate, Organisation, Subcontractor)
        .join(Organisation, col(Organisation.id) == Certificate.supplier_org_id)
        .outerjoin(Subcontractor, col(Subcontractor.id) == Certificate.subcontractor_id)
        .where(col(Certificate.supplier_org_id).in_(supplier_ids))
    ).all()
    for certificate, supplier, sub in rows:
        withdrawn = london_date(certificate.withdrawn_at) if certificate.withdrawn_at else None
        if sub is not None and sub.removed_at is not None:
            removed = london_date(sub.removed_at)
            ends = [d for d in (certificate.expires_on, withdrawn) if d is not None]
            if not ends or min(ends) >= removed:
                continue
        out[certificate.supplier_org_id].append(
            CertificateFact(
                id=certificate.id,
                holder_key=sub.id if sub is not None else "",
                holder=sub.name if sub is not None else supplier.name,
                tier=sub.tier if sub is not None else Tier.SUPPLIER,
                scheme=certificate.scheme,
                issued_on=certificate.issued_on,
                expires_on=certificate.expires_on,
                withdrawn_on=withdrawn,
            )
        )
    return out


def timelines(
    session: Session, engagements: Sequence[Engagement], *, today: date, skipped: list[str] | None = None
) -> dict[str, Timeline]:
    """Every engagement's deadlines by engagement id, in eight statements whatever their number.
    With `skipped`, an engagement whose deadlines cannot be computed is logged, named there and
    left out, so it never stops a page about every other engagement (as
    app.services.reminders.engagement_items does); without it, the error is raised."""
    if not engagements:
        return {}
    ids = [e.id for e in engagements]
    variations = _grouped(
        session.exec(
            select(AgreedVariation)
            .where(col(AgreedVariation.engagement_id).in_(ids), col(AgreedVariation.removed_at).is_(None))
            .order_by(col(AgreedVariation.recorded_at), col(AgreedVariation.id))
        ).all(),
        "engagement_id",
    )
    buyers = {e.buyer_org_id for e in engagements}
    closures = _grouped(
        session.exec(
            select(ClosureDay).where(col(ClosureDay.buyer_org_id).in_(buyers)).order_by(col(ClosureDay.day))
        ).all(),
        "buyer_org_id",
    )
    subs = _grouped(
        session.exec(select(Submission).where(col(Submission.engagement_id).in_(ids))).all(), "engagement_id"
    )
    decs = _grouped(
        session.exec(select(Decision).where(col(Decision.engagement_id).in_(ids))).all(), "engagement_id"
    )
    notes = _grouped(
        session.exec(select(ChangeNotice).where(col(ChangeNotice.engagement_id).in_(ids))).all(),
        "engagement_id",
    )
    entries = _grouped(
        session.exec(select(RegisterEntry).where(col(RegisterEntry.engagement_id).in_(ids))).all(),
        "engagement_id",
    )
    profiles = {e.id: profile_of(e) for e in engagements}
    lapsing = {e.supplier_org_id for e in engagements if profiles[e.id].certification_notice is not None}
    certificates = certificate_facts_of(session, lapsing)
    out: dict[str, Timeline] = {}
    for engagement in engagements:
        prof = profiles[engagement.id]
        agreed: list[Variation] = [variation_fact(v) for v in variations.get(engagement.id, ())]
        closed = [ClosureFact(c.day, c.reason) for c in closures.get(engagement.buyer_org_id, ())]
        calendar = calendar_for(
            session, engagement, closures=closed, agreed=agreed_calendar(agreed) is not None
        )
        lost = (
            lapses(
                certificates.get(engagement.supplier_org_id, ()), since=engagement.effective_on, today=today
            )
            if prof.certification_notice is not None
            else []
        )
        history = History(
            engagement_id=engagement.id,
            effective_on=engagement.effective_on,
            submissions=tuple(
                SubmissionFact(s.id, s.version, s.cycle, s.submitted_on) for s in subs.get(engagement.id, ())
            ),
            decisions=tuple(
                DecisionFact(d.submission_id, d.decided_on, d.approved) for d in decs.get(engagement.id, ())
            ),
            notices=tuple(
                NoticeFact(
                    n.id,
                    f"notice {n.number} ({n.event})",
                    n.aware_on,
                    n.filed_on,
                    certification=n.event == CERTIFICATION_EVENT,
                )
                for n in notes.get(engagement.id, ())
            ),
            entries=tuple(
                EntryFact(r.id, r.title, r.agreed_on, r.implemented_on)
                for r in entries.get(engagement.id, ())
            ),
            lapses=tuple(lost),
            isms_submitted_on=engagement.isms_submitted_on,
        )
        try:
            deadlines = compute(history, prof, calendar, today=today, variations=agreed, closures=closed)
        except Exception:
            if skipped is None:
                raise
            log.exception("deadlines of engagement %s (%s) skipped", engagement.id, engagement.reference)
            skipped.append(f"engagement {engagement.reference} ({engagement.id})")
            continue
        out[engagement.id] = Timeline(deadlines, variations=agreed, closures=closed)
    return out
