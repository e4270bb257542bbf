"""Change notices (Schedule 2.4 only; Call Off Schedule 7 changes go through the Variation
Procedure), each numbered and audited:

- a para 5.2 event (a) to (i): flagged late when filed more than 2 Working Days after the
  supplier became aware (para 5.2); it opens a Required Changes Register entry, to be updated
  and submitted within 10 Working Days (para 5.3);
- loss of certification (para 6.6): "if the Supplier or any Sub-contractor ceases to be
  compliant with any of the Certification Requirements", notified within 2 Working Days of the
  day compliance ceased (the date the notice gives, `aware_on`); flagged late after that. Para
  6.6 imposes no register update, so this notice opens no register entry (a para 5.2 event, if
  there is one too, is notified on its own). A certificate lapse the register shows creates
  its para 6.6 deadline by itself (app.domain.deadlines); the notice meets it."""

from __future__ import annotations

from datetime import date

from sqlmodel import Session, col, func, select

from app.domain import dates
from app.domain.access import Action, can
from app.domain.audit import AuditAction
from app.domain.errors import Denied, InvalidInput
from app.domain.register import EntrySource
from app.models import ChangeNotice, Engagement, RegisterEntry
from app.services import events
from app.services.calendars import calendar_for
from app.services.caller import Caller
from app.services.deadlines import CERTIFICATION_EVENT, profile_of
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
    CERTIFICATION_EVENT: "Supplier or sub-contractor no longer meets a Certification Requirement (6.6)",
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
    caller: Caller,
    *,
    event: str,
    description: str,
    aware_on: str,
    today: date,
) -> ChangeNotice:
    """File a change notice, audited: a para 5.2 event opens its register entry; a loss of
    certification (`certification`, para 6.6) opens none, and `aware_on` is then the day
    compliance ceased."""
    actor = caller.actor
    if not can(actor, Action.NOTIFY_CHANGE, parties(engagement)):
        raise Denied(
            "Only the supplier's security lead files change notices.",
            action="change_notice_filed",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    prof = profile_of(engagement)
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
    certification = event == CERTIFICATION_EVENT
    period = prof.certification_notice if certification and prof.certification_notice else prof.change_notice
    due = calendar_for(session, engagement).add(aware, period.working_days)
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
    if not certification:  # para 5.3 follows a para 5.2 notice only
        first_line = " ".join(description.split())
        session.add(
            RegisterEntry(
                engagement_id=engagement.id,
                title=f"Change notice {number}: {first_line}"[:200],
                description=f"{EVENTS[event]}\n\n{description}",
                source=EntrySource.CHANGE_NOTICE,
                change_notice_id=notice.id,
                updated_by_id=actor.user_id,
            )
        )
    caller.record(
        session,
        AuditAction.CHANGE_NOTICE_FILED,
        object_type="change_notice",
        object_id=notice.id,
        engagement_id=engagement.id,
        details={"number": notice.number, "late": notice.late},
    )
    events.notify(session, events.notice_filed(session, engagement, notice))
    session.flush()
    return notice
