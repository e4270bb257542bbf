"""Agreed variations (app.domain.variations): what the parties agreed in writing instead of a
contract's default rule, recorded by the buyer's security advisor with its reference and date.

- `deadline`: an agreed date for one deadline whose clause allows it ("or such other timescale
  as agreed": Schedule 2.4 paras 4.6, 5.3; "or such other period ... agree[d] in writing": Call
  Off Schedule 7 short form paras 4.3.1, 4.3.2 (revision and approval target), long form paras
  3.1 (ISMS) and 4.3 (approval target)). Any other deadline answers 422 naming its clause.
- `direction`: the Authority's written direction that processing may continue although a
  Required Changes Register entry is past its agreed date (Schedule 2.4 para 5.5(a) "unless
  directed otherwise by the Authority in writing"); the entry stays overdue.
- `calendar`: the parties agreed that the buyer's office closure days are not Working Days in
  this engagement (Call Off Schedule 7 definition of Working Day, "unless specified otherwise by
  Parties"; read the same way for Schedule 2.4).

Use cases: `listing` (any party of the engagement, and administrators); `record` and `remove`
(only the buyer advisors of the engagement's buyer). Anyone else is refused as not found, and
the refusal is audited; each recorded or removed variation is audited (`variation_recorded`,
`variation_removed`). Bad input answers 422 and writes nothing; a second variation of the same
thing answers 409 (remove the first one to record another). A removed variation stays on
record (`removed_at`), so the audit trail and the history of what was agreed survive.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.domain import dates
from app.domain.access import Action, can
from app.domain.audit import AuditAction
from app.domain.deadlines import KINDS, Deadline
from app.domain.errors import Conflict, InvalidInput, NotFound, Refused
from app.domain.variations import VariationKind
from app.models import AgreedVariation, Engagement, User, utcnow
from app.services.caller import Caller
from app.services.deadlines import engagement_deadlines, profile_of, variations_in_force
from app.services.engagements import parties

MAX_REFERENCE = 200
MAX_NOTE = 2000
ENTRY_DEADLINE = "register_entry_due"
KIND_NAMES = {
    VariationKind.DEADLINE: "Agreed date",
    VariationKind.DIRECTION: "Written direction",
    VariationKind.CALENDAR: "Agreed calendar",
}


@dataclass(frozen=True, slots=True)
class Listed:
    """A variation in force with what it varies, as the pages and the API show it."""

    row: AgreedVariation
    subject: str  # e.g. "Revised plan after the rejection of version 1"
    clause: str  # the clause that allows it
    rule: str  # the rule it varies
    rule_due_on: date | None  # kind=deadline: the date the rule gives


def _refused(engagement: Engagement, action: AuditAction, object_id: str) -> Refused:
    return Refused(
        "No such engagement.",
        action=action,
        object_type="agreed_variation",
        object_id=object_id,
        engagement_id=engagement.id,
    )


def _require_advisor(caller: Caller, engagement: Engagement, action: AuditAction, object_id: str) -> None:
    """Only the buyer advisors of the engagement's buyer record or remove variations."""
    if not can(caller.actor, Action.DECIDE_SUBMISSION, parties(engagement)):
        raise _refused(engagement, action, object_id)


def listing(session: Session, engagement: Engagement, caller: Caller, *, today: date) -> list[Listed]:
    """The engagement's variations in force, oldest first, each with the deadline it varies."""
    if not can(caller.actor, Action.VIEW_ENGAGEMENT, parties(engagement)):
        raise _refused(engagement, AuditAction.VARIATION_RECORDED, "")
    deadlines = engagement_deadlines(session, engagement, today=today)
    out = []
    for row in variations_in_force(session, engagement.id):
        varied = next((d for d in deadlines if d.variation is not None and d.variation.id == row.id), None)
        out.append(_listed(row, varied))
    return out


def _listed(row: AgreedVariation, varied: Deadline | None) -> Listed:
    if row.kind is VariationKind.CALENDAR:
        return Listed(
            row,
            "Office closure days are not Working Days in this engagement",
            "Call Off Schedule 7 definition of Working Day",
            "Working Days: Monday to Friday except public holidays",
            None,
        )
    if varied is None:  # its deadline no longer exists (e.g. the entry lost its agreed date)
        return Listed(row, row.deadline_kind.replace("_", " "), "", "", None)
    return Listed(row, varied.subject, varied.clause, varied.rule, varied.rule_due_on)


def record(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    *,
    kind: str,
    reference: str,
    agreed_on: str,
    deadline_kind: str = "",
    object_id: str = "",
    due_on: str = "",
    note: str = "",
    today: date,
) -> AgreedVariation:
    """Record an agreed variation (see the module docstring), audited as `variation_recorded`."""
    _require_advisor(caller, engagement, AuditAction.VARIATION_RECORDED, object_id)
    problems: dict[str, str] = {}
    try:
        chosen = VariationKind(kind)
    except ValueError:
        raise InvalidInput(
            "Choose what was agreed: deadline, direction or calendar.", details={"kind": kind}
        ) from None
    reference = " ".join(reference.split())
    if not 1 <= len(reference) <= MAX_REFERENCE:
        problems["reference"] = (
            "Give the reference of the written agreement (letter, minute or contract change),"
            f" up to {MAX_REFERENCE} characters."
        )
    agreed = dates.read(agreed_on, "agreed_on", "Date agreed", problems, required=True, not_after=today)
    note = note.strip()
    if len(note) > MAX_NOTE:
        problems["note"] = f"Keep the note to {MAX_NOTE:,} characters."
    due: date | None = None
    deadline: Deadline | None = None
    in_force = variations_in_force(session, engagement.id)
    if chosen is VariationKind.DEADLINE:
        due = dates.read(due_on, "due_on", "Agreed date", problems, required=True)
        deadline = _deadline_to_vary(session, engagement, deadline_kind, object_id, today=today)
        same = next(
            (
                v
                for v in in_force
                if v.kind is VariationKind.DEADLINE
                and v.deadline_kind == deadline_kind
                and v.object_id == object_id
            ),
            None,
        )
        if same is not None:
            raise Conflict(
                f"An agreed date is already recorded for this deadline ({same.reference}); remove it"
                " first to record another.",
                details={"variation_id": same.id},
            )
    else:
        if due_on.strip():
            problems["due_on"] = "Only an agreed date for a deadline has a date; leave it empty."
        if chosen is VariationKind.DIRECTION:
            if deadline_kind not in ("", ENTRY_DEADLINE):
                problems["deadline_kind"] = f"A written direction applies to {ENTRY_DEADLINE} only."
            deadline_kind = ENTRY_DEADLINE
            deadline = _entry_to_direct(session, engagement, object_id, today=today)
            same = next((v for v in in_force if v.kind is chosen and v.object_id == object_id), None)
            if same is not None:
                raise Conflict(
                    f"A written direction is already recorded for this entry ({same.reference}).",
                    details={"variation_id": same.id},
                )
        else:
            if deadline_kind or object_id:
                problems["deadline_kind"] = (
                    "An agreed calendar applies to the whole engagement: leave deadline_kind and"
                    " object_id empty."
                )
            same = next((v for v in in_force if v.kind is chosen), None)
            if same is not None:
                raise Conflict(
                    f"An agreed calendar is already recorded for this engagement ({same.reference}).",
                    details={"variation_id": same.id},
                )
    if problems or agreed is None:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    user = session.get(User, caller.actor.user_id)
    row = AgreedVariation(
        engagement_id=engagement.id,
        kind=chosen,
        deadline_kind=deadline_kind if deadline is not None else "",
        object_id=object_id if deadline is not None else "",
        due_on=due,
        reference=reference,
        agreed_on=agreed,
        note=note,
        recorded_by_id=caller.actor.user_id,
        recorded_by_name=user.name if user else "",
    )
    session.add(row)
    session.flush()
    caller.record(
        session,
        AuditAction.VARIATION_RECORDED,
        object_type="agreed_variation",
        object_id=row.id,
        engagement_id=engagement.id,
        details={
            "kind": chosen.value,
            "deadline_kind": row.deadline_kind,
            "object_id": row.object_id,
            "due_on": due.isoformat() if due else None,
            "rule_due_on": deadline.due_on.isoformat()
            if deadline and chosen is VariationKind.DEADLINE
            else None,
            "clause": deadline.clause if deadline else "",
            "reference": reference,
            "agreed_on": agreed.isoformat(),
        },
    )
    session.flush()
    return row


def _deadline_to_vary(
    session: Session, engagement: Engagement, deadline_kind: str, object_id: str, *, today: date
) -> Deadline:
    """The deadline a `deadline` variation names, if its clause allows an agreed date."""
    if deadline_kind not in KINDS:
        raise InvalidInput(
            "Choose the deadline the parties agreed another date for.",
            details={"deadline_kind": deadline_kind or "missing"},
        )
    found = next(
        (
            d
            for d in engagement_deadlines(session, engagement, today=today)
            if d.kind == deadline_kind and d.object_id == object_id
        ),
        None,
    )
    if found is None:
        raise InvalidInput(
            "This engagement has no such deadline.",
            details={"deadline_kind": deadline_kind, "object_id": object_id},
        )
    if not found.may_vary:
        raise InvalidInput(
            f"{found.clause} sets this deadline ({found.rule[:1].lower()}{found.rule[1:]}) without"
            " leaving another timescale"
            " to agree, so it cannot be varied. Only a clause that says 'or such other timescale (or"
            " period) as agreed' allows an agreed date.",
            details={"deadline_kind": deadline_kind, "clause": found.clause},
        )
    return found


def _entry_to_direct(session: Session, engagement: Engagement, entry_id: str, *, today: date) -> Deadline:
    """The register entry a `direction` names: it must have an agreed date (para 5.5)."""
    if profile_of(engagement).register_update is None:
        raise InvalidInput(
            "A written direction lifts the Schedule 2.4 para 5.5 duty to cease processing; this"
            " engagement's contract has no such duty.",
            details={"kind": "direction"},
        )
    found = next(
        (
            d
            for d in engagement_deadlines(session, engagement, today=today)
            if d.kind == ENTRY_DEADLINE and d.object_id == entry_id
        ),
        None,
    )
    if found is None:
        raise InvalidInput(
            "Choose a Required Changes Register entry with an agreed implementation date"
            " (Schedule 2.4 para 5.5).",
            details={"object_id": entry_id or "missing"},
        )
    return found


def remove(session: Session, engagement: Engagement, caller: Caller, variation_id: str) -> AgreedVariation:
    """Take back a variation (the contract's rule applies again), audited as `variation_removed`.
    One of another engagement is refused as not found (audited)."""
    _require_advisor(caller, engagement, AuditAction.VARIATION_REMOVED, variation_id)
    row = session.get(AgreedVariation, variation_id)
    if row is None or row.removed_at is not None:
        raise NotFound("No such agreed variation.")
    if row.engagement_id != engagement.id:
        raise Refused(
            "No such agreed variation.",
            action=AuditAction.VARIATION_REMOVED,
            object_type="agreed_variation",
            object_id=variation_id,
            engagement_id=engagement.id,
        )
    row.removed_at = utcnow()
    session.add(row)
    session.flush()
    caller.record(
        session,
        AuditAction.VARIATION_REMOVED,
        object_type="agreed_variation",
        object_id=row.id,
        engagement_id=engagement.id,
        details={"kind": row.kind.value, "reference": row.reference},
    )
    session.flush()
    return row
