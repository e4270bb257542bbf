"""Change notices after approval (Schedule 2.4 para 5.2 events (a) to (i), and loss of a
required certification, para 6.6): each is numbered, flagged late when filed more than 2
Working Days after the supplier became aware, and opens a Required Changes Register entry
that must be updated and submitted within 10 Working Days (para 5.3)."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, func, select

from app.domain import dates
from app.domain.access import Action, Actor, can
from app.domain.errors import Denied, InvalidInput
from app.domain.workflow import profile
from app.models import ChangeNotice, Engagement, RegisterEntry
from app.services.calendars import calendar_for
from app.services.engagements import parties

EVENTS = {
    "a": "Change to the system's components or architecture outside change control (5.2(a))",
    "b": "New risk to the system's components or architecture (5.2(b))",
    "c": "Critical, High or Medium vulnerability in the service (5.2(c))",
    "d": "Change in the threat profile (5.2(d))",
    "e": "Change to any risk component (5.2(e))",
    "f": "Change in the quantity of personal data held outside change control (5.2(f))",
    "g": "Proposal to change a site the services are provided from (5.2(g))",
    "h": "Emerging change in Good Industry Practice (5.2(h))",
    "i": "ISO 27001 audit report raising concerns about the service's controls (5.2(i))",
    "certification": "Supplier or sub-contractor no longer meets a Certification Requirement (6.6)",
}


def notices(session: Session, engagement_id: str) -> list[ChangeNotice]:
    query = (
        select(ChangeNotice)
        .where(ChangeNotice.engagement_id == engagement_id)
        .order_by(col(ChangeNotice.number))
    )
    return list(session.exec(query))


def file_notice(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    *,
    event: str,
    description: str,
    aware_on: str,
    today: date,
) -> ChangeNotice:
    if not can(actor, Action.NOTIFY_CHANGE, parties(engagement)):
        raise Denied(
            "Only the supplier's security lead files change notices.",
            action="change_notice_filed",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    prof = profile(engagement.workflow_profile)
    if prof.change_notice is None:
        raise InvalidInput(
            "Under Call Off Schedule 7 changes to the plan go through the Variation Procedure,"
            " not change notices."
        )
    problems: dict[str, str] = {}
    if event not in EVENTS:
        problems["event"] = "Choose which para 5.2 event (or loss of certification) this notice is about."
    description = description.strip()
    if not 1 <= len(description) <= 10_000:
        problems["description"] = "Describe the change (up to 10,000 characters)."
    aware = dates.read(
        aware_on, "aware_on", "Date you became aware", problems, required=True, not_after=today
    )
    if problems or aware is None:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    due = calendar_for(session, engagement).add(aware, prof.change_notice.working_days)
    number = (
        session.exec(
            select(func.max(ChangeNotice.number)).where(ChangeNotice.engagement_id == engagement.id)
        ).one()
        or 0
    ) + 1
    notice = ChangeNotice(
        engagement_id=engagement.id,
        number=number,
        event=event,
        description=description,
        aware_on=aware,
        filed_on=today,
        late=today > due,
        filed_by_id=actor.user_id,
    )
    session.add(notice)
    session.flush()
    first_line = " ".join(description.split())
    session.add(
        RegisterEntry(
            engagement_id=engagement.id,
            title=f"Change notice {number}: {first_line}"[:200],
            description=f"{EVENTS[event]}\n\n{description}",
            source="change_notice",
            change_notice_id=notice.id,
            updated_by_id=actor.user_id,
        )
    )
    session.flush()
    return notice
