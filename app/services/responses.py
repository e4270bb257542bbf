"""Answering controls: set a response (with history), and offer the answer to mapped controls."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import Action, Actor, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Control, Library, may_copy_answer
from app.domain.errors import Denied, InvalidInput, NotFound
from app.domain.readiness import Status
from app.domain.text import MAX_TEXT
from app.models import ControlResponse, Engagement, EvidenceLink, ResponseChange, User, utcnow
from app.services import versioning
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, parties

STATUSES: tuple[Status, ...] = tuple(Status)
STATUS_LABELS = {
    "met": "Met",
    "partially_met": "Partially met",
    "not_met": "Not met",
    "not_applicable": "Not applicable",
}
WHAT = "control's answer"


@dataclass(frozen=True, slots=True)
class ResponseInput:
    status: str
    statement: str = ""
    justification: str = ""
    owner_id: str | None = None
    planned_change: str = ""
    target_date: str | None = None
    expected_version: int | None = None  # optimistic concurrency: reject if someone saved since


def engagement_control(
    library: Library, session: Session, engagement: Engagement, control_id: str
) -> Control:
    control = library.controls.get(control_id)
    if control is None or control.catalogue_id not in catalogue_ids(session, engagement.id):
        raise NotFound("No such control in this engagement.")
    return control


def snapshot(row: ControlResponse | None) -> dict[str, Any]:
    if row is None:
        return {}
    return {
        "status": row.status,
        "statement": row.statement,
        "justification": row.justification,
        "owner_id": row.owner_id,
        "planned_change": row.planned_change,
        "target_date": row.target_on.isoformat() if row.target_on else None,
    }


def validate(
    session: Session, engagement: Engagement, data: ResponseInput
) -> tuple[dict[str, str], date | None]:
    problems: dict[str, str] = {}
    if data.status not in STATUSES:
        problems["status"] = "Choose met, partially met, not met or not applicable."
    if data.status == "not_applicable" and not data.justification.strip():
        problems["justification"] = "Say why this control does not apply."
    for field in ("statement", "justification", "planned_change"):
        if len(getattr(data, field)) > MAX_TEXT:
            problems[field] = f"Keep this under {MAX_TEXT} characters."
    target = dates.read(data.target_date, "target_date", "Target date", problems)
    if data.owner_id:
        owner = session.get(User, data.owner_id)
        if owner is None or owner.organisation_id != engagement.supplier_org_id or owner.disabled_at:
            problems["owner_id"] = "The owner must be an active member of the supplier."
    return problems, target


def set_response(
    session: Session,
    library: Library,
    engagement: Engagement,
    actor: Actor,
    control_id: str,
    data: ResponseInput,
) -> ControlResponse:
    """Save the supplier's answer to one control; every change is kept as history."""
    if not can(actor, Action.ANSWER_CONTROL, parties(engagement)):
        raise Denied(
            "Only the supplier answers controls.",
            action="response_saved",
            object_type="control",
            object_id=control_id,
            engagement_id=engagement.id,
        )
    engagement_control(library, session, engagement, control_id)
    problems, target = validate(session, engagement, data)
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    key = [
        col(ControlResponse.engagement_id) == engagement.id,
        col(ControlResponse.control_id) == control_id,
    ]
    # The lock makes concurrent saves of one control queue on PostgreSQL (SQLite write sessions
    # already hold the write lock); the conditional UPDATE below is what guarantees no save is lost.
    row = session.exec(
        select(ControlResponse).where(*key).with_for_update().execution_options(populate_existing=True)
    ).first()
    based_on = row.version if row else 0
    versioning.check(WHAT, based_on, data.expected_version)
    planning = data.status in ("not_met", "partially_met")
    values: dict[str, Any] = {
        "status": data.status,
        "statement": data.statement.strip(),
        "justification": data.justification.strip() if data.status == "not_applicable" else "",
        "owner_id": data.owner_id or None,
        "planned_change": data.planned_change.strip() if planning else "",
        "target_on": target if planning else None,
    }
    before = snapshot(row)
    after = _snapshot_of(values)
    if row is not None and before == after:
        return row  # nothing changed: no new version and no history line
    values.update(updated_by_id=actor.user_id, updated_at=utcnow())
    if row is None:
        row = ControlResponse(engagement_id=engagement.id, control_id=control_id, version=1, **values)
        versioning.insert_first(session, row, key, WHAT)
    else:
        versioning.update(session, row, [col(ControlResponse.id) == row.id], based_on, values, WHAT)
    # Exactly one history line per acknowledged save: it is written only after the save won.
    session.add(
        ResponseChange(
            engagement_id=engagement.id,
            control_id=control_id,
            changed_by_id=actor.user_id,
            before=json.dumps(before, sort_keys=True),
            after=json.dumps(after, sort_keys=True),
        )
    )
    session.flush()
    return row


def save_response(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    control_id: str,
    data: ResponseInput,
) -> ControlResponse:
    """The use case "answer a control": `set_response`, audited as `response_saved`."""
    row = set_response(session, library, engagement, caller.actor, control_id, data)
    caller.record(
        session,
        AuditAction.RESPONSE_SAVED,
        object_type="control",
        object_id=control_id,
        engagement_id=engagement.id,
        details={"status": row.status, "version": row.version},
    )
    session.flush()
    return row


@dataclass(frozen=True, slots=True)
class BulkChange:
    """What a bulk edit sets on every chosen control; None leaves that field as it is."""

    status: str | None = None
    justification: str = ""
    owner_id: str | None = None
    target_date: str | None = None


MAX_BULK = 500
PLANNING = ("not_met", "partially_met")


def bulk_update(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    control_ids: list[str],
    change: BulkChange,
) -> list[ControlResponse]:
    """The use case "set status, owner or target date on several controls at once".

    Each control goes through the same save rule as a single answer (`set_response`), so a bulk
    edit cannot store what one save would refuse; every changed control gets its history line and
    its own `response_saved` event. All or nothing: when any control is refused the whole edit is
    (InvalidInput, its details naming each refused control), and the caller rolls back."""
    chosen = list(dict.fromkeys(c for c in control_ids if c))
    if not chosen:
        raise InvalidInput("Choose at least one control.", details={"control_ids": "none chosen"})
    if len(chosen) > MAX_BULK:
        raise InvalidInput(
            f"Choose at most {MAX_BULK} controls at once.", details={"control_ids": "too many"}
        )
    if change.status is None and change.owner_id is None and change.target_date is None:
        raise InvalidInput(
            "Choose a status, an owner or a target date to set.", details={"change": "nothing to set"}
        )
    existing = responses_by_control(session, engagement.id)
    problems: dict[str, str] = {}
    saved: list[ControlResponse] = []
    for control_id in chosen:
        before = existing.get(control_id)
        status = change.status or (before.status if before else "")
        if not status:
            problems[control_id] = f"{control_id} has no answer yet: choose a status as well."
            continue
        target = change.target_date
        if target is not None and status not in PLANNING:
            problems[control_id] = (
                f"{control_id} is {STATUS_LABELS.get(status, status).lower()}: a target date is kept "
                "only for not met or partially met answers."
            )
            continue
        data = ResponseInput(
            status=status,
            statement=before.statement if before else "",
            justification=(
                change.justification if change.status else (before.justification if before else "")
            ),
            owner_id=(before.owner_id if before else None) if change.owner_id is None else change.owner_id,
            planned_change=before.planned_change if before else "",
            target_date=target
            if target is not None
            else (before.target_on.isoformat() if before and before.target_on else None),
        )
        try:
            row = set_response(session, library, engagement, caller.actor, control_id, data)
        except InvalidInput as refused:
            problems[control_id] = f"{control_id}: {refused.message}"
            continue
        except NotFound:
            problems[control_id] = f"{control_id} is not a control of this engagement."
            continue
        caller.record(
            session,
            AuditAction.RESPONSE_SAVED,
            object_type="control",
            object_id=control_id,
            engagement_id=engagement.id,
            details={"status": row.status, "version": row.version, "bulk": True},
        )
        saved.append(row)
    if problems:
        first = next(iter(problems.values()))
        more = f" ({len(problems)} controls refused; nothing was saved.)" if len(problems) > 1 else ""
        raise InvalidInput(first + more, details=problems)
    session.flush()
    return saved


def supplier_people(session: Session, engagement: Engagement) -> list[User]:
    """The supplier's people: who may own a control's answer."""
    return list(session.exec(select(User).where(User.organisation_id == engagement.supplier_org_id)))


def _snapshot_of(values: dict[str, Any]) -> dict[str, Any]:
    target = values["target_on"]
    fields = ("status", "statement", "justification", "owner_id", "planned_change")
    return {**{name: values[name] for name in fields}, "target_date": target.isoformat() if target else None}


def responses_by_control(session: Session, engagement_id: str) -> dict[str, ControlResponse]:
    rows = session.exec(select(ControlResponse).where(ControlResponse.engagement_id == engagement_id))
    return {row.control_id: row for row in rows}


def owner_names(session: Session, responses: dict[str, ControlResponse]) -> dict[str, str]:
    """The names of the people who own these answers, by user id (one query, none when no owner)."""
    owner_ids = sorted({r.owner_id for r in responses.values() if r.owner_id})
    if not owner_ids:
        return {}
    return {u.id: u.name for u in session.exec(select(User).where(col(User.id).in_(owner_ids)))}


def assigned_to(session: Session, owner_id: str, engagement_ids: list[str]) -> list[ControlResponse]:
    """The answers `owner_id` owns in these engagements (one query), soonest target date first."""
    if not engagement_ids:
        return []
    query = (
        select(ControlResponse)
        .where(ControlResponse.owner_id == owner_id, col(ControlResponse.engagement_id).in_(engagement_ids))
        .order_by(
            col(ControlResponse.target_on).is_(None),
            col(ControlResponse.target_on),
            col(ControlResponse.control_id),
        )
    )
    return list(session.exec(query))


def history(
    session: Session, engagement_id: str, control_id: str, limit: int | None = None
) -> list[ResponseChange]:
    """The control's answer history, newest first; at most `limit` entries when given."""
    query = (
        select(ResponseChange)
        .where(ResponseChange.engagement_id == engagement_id, ResponseChange.control_id == control_id)
        .order_by(col(ResponseChange.id).desc())
    )
    if limit is not None:
        query = query.limit(limit)
    return list(session.exec(query))


def mapped_in_engagement(library: Library, catalogue_list: list[str], control_id: str) -> list[Control]:
    """Controls of the engagement's other catalogues this control's answer may be copied to:
    along `equivalent` either way, along `covers` only from the covering control to the covered
    one, never along `related` (`catalogue.may_copy_answer`)."""
    wanted = set(catalogue_list)
    out = []
    for link in library.links.get(control_id, ()):
        other = library.controls[link.control_id]
        if (
            other.catalogue_id in wanted
            and other.catalogue_id != library.controls[control_id].catalogue_id
            and may_copy_answer(link.relation, link.declared_here)
        ):
            out.append(other)
    return out


def apply_to_mapped(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    control_id: str,
    target_ids: list[str],
) -> list[str]:
    """Copy this control's answer and evidence links to chosen mapped controls (never silently),
    audited once as `response_applied_to_mapped` with the targets."""
    actor = caller.actor
    source = responses_by_control(session, engagement.id).get(control_id)
    if source is None:
        raise InvalidInput("Answer this control first, then apply the answer to its mapped controls.")
    allowed = {c.id for c in mapped_in_engagement(library, catalogue_ids(session, engagement.id), control_id)}
    refused = [t for t in dict.fromkeys(target_ids) if t not in allowed]
    if refused:
        raise InvalidInput(
            "An answer is copied only to an equivalent control or one this control covers: "
            f"{', '.join(refused)} is not one.",
            details={"targets": f"not an equivalent or covered control: {', '.join(refused)}"},
        )
    chosen = list(dict.fromkeys(target_ids))
    if not chosen:
        raise InvalidInput("Choose at least one mapped control.", details={"targets": "none chosen"})
    links = session.exec(
        select(EvidenceLink).where(
            EvidenceLink.engagement_id == engagement.id, EvidenceLink.control_id == control_id
        )
    ).all()
    existing_links = {
        (link.control_id, link.evidence_id)
        for link in session.exec(
            select(EvidenceLink).where(
                EvidenceLink.engagement_id == engagement.id, col(EvidenceLink.control_id).in_(chosen)
            )
        )
    }
    for target in chosen:
        set_response(
            session,
            library,
            engagement,
            actor,
            target,
            ResponseInput(
                status=source.status,
                statement=source.statement,
                justification=source.justification,
                owner_id=source.owner_id,
                planned_change=source.planned_change,
                target_date=source.target_on.isoformat() if source.target_on else None,
            ),
        )
        for link in links:
            if (target, link.evidence_id) not in existing_links:
                session.add(
                    EvidenceLink(
                        engagement_id=engagement.id,
                        control_id=target,
                        evidence_id=link.evidence_id,
                        linked_by_id=actor.user_id,
                    )
                )
    caller.record(
        session,
        AuditAction.RESPONSE_APPLIED_TO_MAPPED,
        object_type="control",
        object_id=control_id,
        engagement_id=engagement.id,
        details={"targets": chosen},
    )
    session.flush()
    return chosen
