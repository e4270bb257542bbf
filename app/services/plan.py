"""The Security Management Plan's parts the supplier lead keeps: the risk register (part of the
Information Assurance Assessment), the Required Changes Register, the Incident Management
Process and the security roles (Schedule 2.4 definitions, paras 3.4, 3.5, 4.4).

Each use case a person or a script performs (`save_risk`, `delete_risk`, `save_entry`,
`entries_from_gaps`, `save_incident_process`, `save_security_roles`) takes the `Caller`, applies
the rule, records its one audit event and flushes; the HTTP layer only commits. The `store_*`
functions are the rule and the write without the audit event, for seeding (demo data) and for
tests that exercise the rule alone; no route calls them."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

from sqlmodel import Session, col, select

from app.domain import dates
from app.domain.access import Action, Actor, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import Denied, InvalidInput, NotFound, Refused
from app.domain.readiness import Status
from app.domain.register import EntrySource, EntryStatus
from app.domain.text import MAX_TEXT
from app.models import (
    ControlResponse,
    Engagement,
    IncidentProcess,
    RegisterEntry,
    Risk,
    SecurityRole,
    SecurityRoleSet,
    utcnow,
)
from app.services import versioning
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, parties

ROLE_KINDS = {
    "designated_security_contact": "Designated security contact (Schedule 2.4 para 3.5)",
    "day_to_day_contact": "Day-to-day security contact (SPOC, Schedule 2.4 para 3.5)",
    "information_assurance": "Responsible for information assurance (Schedule 2.4 para 3.4)",
}
ENTRY_STATUSES: tuple[EntryStatus, ...] = tuple(EntryStatus)
ENTRY_SOURCES: tuple[EntrySource, ...] = tuple(EntrySource)
InEngagement = TypeVar("InEngagement", Risk, RegisterEntry)


def _require(actor: Actor, engagement: Engagement, action: str) -> None:
    if not can(actor, Action.MANAGE_PLAN, parties(engagement)):
        raise Denied(
            "Only the supplier's security lead keeps the Security Management Plan.",
            action=action,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )


def _in_engagement(
    found: InEngagement | None, engagement: Engagement, action: str, object_type: str, message: str
) -> InEngagement:
    """A missing object is 'not found'; another engagement's (or tenant's) is refused the same
    way to the caller, and audited (Refused)."""
    if found is None:
        raise NotFound(message)
    if found.engagement_id != engagement.id:
        raise Refused(
            message, action=action, object_type=object_type, object_id=found.id, engagement_id=engagement.id
        )
    return found


def _clean(text: str, limit: int) -> str:
    return text.strip()[:limit]


DATE_LABELS = {"agreed_on": "Agreed date", "implemented_on": "Implemented date"}


def _date(value: str | None, name: str, problems: dict[str, str]) -> date | None:
    """A register date, inside the window of app.domain.dates (problems name the field)."""
    return dates.read(value, name, DATE_LABELS.get(name, "Date"), problems)


def _fail(problems: dict[str, str]) -> None:
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)


# Risk register ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RiskInput:
    title: str
    likelihood: int
    impact: int
    residual_likelihood: int
    residual_impact: int
    description: str = ""
    control_ids: list[str] = field(default_factory=list)
    treatment: str = ""
    owner: str = ""
    expected_version: int | None = None  # optimistic concurrency for edits (ignored for new risks)


def risks(session: Session, engagement_id: str) -> list[Risk]:
    query = select(Risk).where(Risk.engagement_id == engagement_id).order_by(col(Risk.updated_at))
    return list(session.exec(query))


def score(likelihood: int, impact: int) -> int:
    return likelihood * impact


def store_risk(
    session: Session,
    library: Library,
    engagement: Engagement,
    actor: Actor,
    data: RiskInput,
    *,
    risk_id: str | None = None,
) -> Risk:
    _require(actor, engagement, "risk_saved")
    problems: dict[str, str] = {}
    title = " ".join(data.title.split())
    if not 1 <= len(title) <= 200:
        problems["title"] = "Name the risk (up to 200 characters)."
    for name in ("likelihood", "impact", "residual_likelihood", "residual_impact"):
        value = getattr(data, name)
        if not isinstance(value, int) or not 1 <= value <= 5:
            problems[name] = f"{name.replace('_', ' ').capitalize()} must be a whole number from 1 to 5."
    in_scope = set(catalogue_ids(session, engagement.id))
    unknown = [
        c
        for c in data.control_ids
        if (ctl := library.controls.get(c)) is None or ctl.catalogue_id not in in_scope
    ]
    if unknown:
        problems["control_ids"] = f"Not controls of this engagement: {', '.join(unknown)}."
    if len(data.description) > MAX_TEXT or len(data.treatment) > MAX_TEXT:
        problems["treatment"] = f"Keep the description and treatment under {MAX_TEXT} characters."
    _fail(problems)
    values: dict[str, Any] = {
        "title": title,
        "description": data.description.strip(),
        "control_ids": " ".join(dict.fromkeys(data.control_ids)),
        "likelihood": data.likelihood,
        "impact": data.impact,
        "residual_likelihood": data.residual_likelihood,
        "residual_impact": data.residual_impact,
        "treatment": data.treatment.strip(),
        "owner": _clean(data.owner, 200),
        "updated_by_id": actor.user_id,
        "updated_at": utcnow(),
    }
    if risk_id is None:
        risk = Risk(engagement_id=engagement.id, version=1, **values)
        session.add(risk)
        session.flush()
        return risk
    found = _in_engagement(
        _fresh(session, Risk, risk_id), engagement, "risk_saved", "risk", "No such risk in this engagement."
    )
    versioning.check("risk", found.version, data.expected_version)
    versioning.update(session, found, [col(Risk.id) == found.id], found.version, values, "risk")
    return found


def _fresh(session: Session, model: type[InEngagement], object_id: str) -> InEngagement | None:
    """The row as committed now (not an older copy from this session), locked on PostgreSQL."""
    query = select(model).where(col(model.id) == object_id).with_for_update()
    return session.exec(query.execution_options(populate_existing=True)).first()


def delete_risk(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    risk_id: str,
    *,
    expected_version: int | None = None,
) -> None:
    """Remove a risk; with `expected_version`, only if nobody saved it since (a conflict otherwise)."""
    _require(caller.actor, engagement, AuditAction.RISK_DELETED)
    risk = _in_engagement(
        _fresh(session, Risk, risk_id), engagement, "risk_deleted", "risk", "No such risk in this engagement."
    )
    versioning.check("risk", risk.version, expected_version)
    versioning.delete(session, Risk, [col(Risk.id) == risk.id], risk.version, "risk")
    session.expunge(risk)
    caller.record(
        session,
        AuditAction.RISK_DELETED,
        object_type="risk",
        object_id=risk_id,
        engagement_id=engagement.id,
    )
    session.flush()


def save_risk(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    data: RiskInput,
    *,
    risk_id: str | None = None,
) -> Risk:
    """Add a risk, or edit one (`risk_id`, guarded by `data.expected_version`), audited."""
    risk = store_risk(session, library, engagement, caller.actor, data, risk_id=risk_id)
    caller.record(
        session, AuditAction.RISK_SAVED, object_type="risk", object_id=risk.id, engagement_id=engagement.id
    )
    session.flush()
    return risk


def heat_map(items: list[Risk], *, residual: bool = False) -> list[list[int]]:
    """Counts per cell: rows are impact 5..1, columns likelihood 1..5."""
    grid = [[0] * 5 for _ in range(5)]
    for risk in items:
        likelihood = risk.residual_likelihood if residual else risk.likelihood
        impact = risk.residual_impact if residual else risk.impact
        grid[5 - impact][likelihood - 1] += 1
    return grid


# Required Changes Register --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryInput:
    title: str
    description: str = ""
    control_id: str | None = None
    agreed_on: str | None = None
    implemented_on: str | None = None
    status: str = "planned"
    expected_version: int | None = None  # optimistic concurrency for edits (ignored for new entries)


def register_entries(session: Session, engagement_id: str) -> list[RegisterEntry]:
    query = (
        select(RegisterEntry)
        .where(RegisterEntry.engagement_id == engagement_id)
        .order_by(col(RegisterEntry.agreed_on), col(RegisterEntry.title))
    )
    return list(session.exec(query))


def store_entry(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    data: EntryInput,
    *,
    entry_id: str | None = None,
    source: EntrySource = EntrySource.MANUAL,
    change_notice_id: str | None = None,
) -> RegisterEntry:
    _require(actor, engagement, "register_entry_saved")
    problems: dict[str, str] = {}
    title = " ".join(data.title.split())
    if not 1 <= len(title) <= 200:
        problems["title"] = "Describe the change in a short title (up to 200 characters)."
    if data.status not in ENTRY_STATUSES:
        problems["status"] = "Status must be planned, in progress or implemented."
    agreed = _date(data.agreed_on, "agreed_on", problems)
    implemented = _date(data.implemented_on, "implemented_on", problems)
    if data.status == "implemented" and implemented is None:
        problems.setdefault("implemented_on", "Enter the date the change was implemented.")
    if implemented is not None and data.status != "implemented":
        problems["status"] = "A change with an implemented date has the status implemented."
    _fail(problems)
    values: dict[str, Any] = {
        "title": title,
        "description": data.description.strip()[:MAX_TEXT],
        "agreed_on": agreed,
        "implemented_on": implemented,
        "status": data.status,
        "updated_by_id": actor.user_id,
        "updated_at": utcnow(),
    }
    if entry_id is None:
        entry = RegisterEntry(
            engagement_id=engagement.id,
            source=source,
            change_notice_id=change_notice_id,
            control_id=data.control_id,
            version=1,
            **values,
        )
        session.add(entry)
        session.flush()
        return entry
    message = "No such entry in the Required Changes Register."
    found = _in_engagement(
        _fresh(session, RegisterEntry, entry_id),
        engagement,
        "register_entry_saved",
        "register_entry",
        message,
    )
    what = "entry of the Required Changes Register"
    versioning.check(what, found.version, data.expected_version)
    values["control_id"] = data.control_id or found.control_id
    versioning.update(session, found, [col(RegisterEntry.id) == found.id], found.version, values, what)
    return found


def save_entry(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    data: EntryInput,
    *,
    entry_id: str | None = None,
) -> RegisterEntry:
    """Add an entry to the Required Changes Register by hand, or edit one, audited."""
    entry = store_entry(session, engagement, caller.actor, data, entry_id=entry_id)
    caller.record(
        session,
        AuditAction.REGISTER_ENTRY_SAVED,
        object_type="register_entry",
        object_id=entry.id,
        engagement_id=engagement.id,
    )
    session.flush()
    return entry


def entries_from_gaps(session: Session, engagement: Engagement, caller: Caller) -> list[RegisterEntry]:
    """One register entry per control answered not met or partially met with a planned change,
    unless that control already has one. The planned change and target date carry over."""
    actor = caller.actor
    _require(actor, engagement, AuditAction.REGISTER_ENTRIES_FROM_GAPS)
    have = {e.control_id for e in register_entries(session, engagement.id)}
    query = select(ControlResponse).where(
        ControlResponse.engagement_id == engagement.id,
        col(ControlResponse.status).in_((Status.NOT_MET, Status.PARTIALLY_MET)),
    )
    created = []
    for response in session.exec(query):
        if response.control_id in have or not response.planned_change.strip():
            continue
        entry = RegisterEntry(
            engagement_id=engagement.id,
            title=f"{response.control_id}: {' '.join(response.planned_change.split())}"[:200],
            description=response.planned_change,
            source=EntrySource.GAP,
            control_id=response.control_id,
            agreed_on=response.target_on,
            updated_by_id=actor.user_id,
        )
        session.add(entry)
        created.append(entry)
    session.flush()
    caller.record(
        session,
        AuditAction.REGISTER_ENTRIES_FROM_GAPS,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"created": len(created)},
    )
    session.flush()
    return created


# Incident Management Process and security roles --------------------------------------------------


@dataclass(frozen=True, slots=True)
class IncidentLimits:
    """Hours a contract in the engagement sets for lost buyer material, as upper bounds."""

    report_hours: int
    trace_hours: int
    clause: str


CPS_CATALOGUE = "cps-security-policy"
# CPS Security Policy 4.9 (seed 000): trace lost material within 48 hours, report within 24.
CPS_INCIDENT_LIMITS = IncidentLimits(report_hours=24, trace_hours=48, clause="CPS Security Policy 4.9")
MAX_INCIDENT_HOURS = 8_760  # a year: anything above is a typing slip, and it keeps the column in range


def incident_limits(session: Session, engagement_id: str) -> IncidentLimits | None:
    """CPS 4.9's limits when the CPS Security Policy catalogue is in the engagement, else None.
    Schedule 2.4 (its para 10 is redacted in the seed) and Call Off Schedule 7 (long form 8.1,
    short form 5.1: incidents are handled under the agreed security incident management
    process) set no hours, so the agreed process stands without invented ones."""
    return CPS_INCIDENT_LIMITS if CPS_CATALOGUE in catalogue_ids(session, engagement_id) else None


def incident_process(session: Session, engagement_id: str) -> IncidentProcess | None:
    return session.get(IncidentProcess, engagement_id)


def contacts_of(process: IncidentProcess | None) -> list[dict[str, str]]:
    return json.loads(process.contacts) if process else []


def store_incident_process(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    *,
    document: str,
    contacts: list[dict[str, str]],
    report_loss_hours: int | None = None,
    trace_loss_hours: int | None = None,
    expected_version: int | None = None,
) -> IncidentProcess:
    """Save the Incident Management Process. The hours are upper bounds only where the contract
    sets them (`incident_limits`): with the CPS Security Policy in scope, omitted hours take the
    CPS 4.9 maxima and slower ones are refused; otherwise any positive hours, or none, stand as
    agreed. `expected_version` (0: not written yet) refuses the save with a conflict if someone
    else saved the process since."""
    _require(actor, engagement, "incident_process_saved")
    problems: dict[str, str] = {}
    if not document.strip():
        problems["document"] = "Describe how incidents are detected, reported and handled."
    if len(document) > 50_000:
        problems["document"] = "Keep the process under 50,000 characters."
    limits = incident_limits(session, engagement.id)
    if limits is not None:
        report_loss_hours = limits.report_hours if report_loss_hours is None else report_loss_hours
        trace_loss_hours = limits.trace_hours if trace_loss_hours is None else trace_loss_hours
    for name, hours, what in (
        ("report_loss_hours", report_loss_hours, "reported"),
        ("trace_loss_hours", trace_loss_hours, "traced"),
    ):
        if limits is not None:
            maximum = limits.report_hours if name == "report_loss_hours" else limits.trace_hours
            if hours is not None and not 1 <= hours <= maximum:
                problems[name] = (
                    f"Lost buyer material must be {what} within {maximum} hours ({limits.clause}):"
                    f" enter 1 to {maximum}."
                )
        elif hours is not None and not 1 <= hours <= MAX_INCIDENT_HOURS:
            problems[name] = f"Enter whole hours from 1 to {MAX_INCIDENT_HOURS:,}, or leave it empty."
    cleaned = []
    for index, contact in enumerate(contacts):
        name = _clean(contact.get("name", ""), 200)
        if not name:
            continue
        reach = _clean(contact.get("email", ""), 254) or _clean(contact.get("phone", ""), 40)
        if not reach:
            problems[f"contacts.{index}"] = f"Give an email address or phone number for {name}."
        cleaned.append(
            {
                "name": name,
                "role": _clean(contact.get("role", ""), 200),
                "email": _clean(contact.get("email", ""), 254),
                "phone": _clean(contact.get("phone", ""), 40),
            }
        )
    if not cleaned:
        problems["contacts"] = "Name at least one incident contact."
    _fail(problems)
    values: dict[str, Any] = {
        "document": document.strip(),
        "contacts": json.dumps(cleaned),
        "report_loss_hours": report_loss_hours,
        "trace_loss_hours": trace_loss_hours,
        "updated_by_id": actor.user_id,
        "updated_at": utcnow(),
    }
    key = [col(IncidentProcess.engagement_id) == engagement.id]
    what = "Incident Management Process"
    query = select(IncidentProcess).where(*key).with_for_update()
    process = session.exec(query.execution_options(populate_existing=True)).first()
    versioning.check(what, process.version if process else 0, expected_version)
    if process is None:
        process = IncidentProcess(engagement_id=engagement.id, version=1, **values)
        versioning.insert_first(session, process, key, what)
    else:
        versioning.update(session, process, key, process.version, values, what)
    return process


def save_incident_process(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    *,
    document: str,
    contacts: list[dict[str, str]],
    report_loss_hours: int | None = None,
    trace_loss_hours: int | None = None,
    expected_version: int | None = None,
) -> IncidentProcess:
    """Save the Incident Management Process (rules in `store_incident_process`), audited."""
    process = store_incident_process(
        session,
        engagement,
        caller.actor,
        document=document,
        contacts=contacts,
        report_loss_hours=report_loss_hours,
        trace_loss_hours=trace_loss_hours,
        expected_version=expected_version,
    )
    caller.record(
        session,
        AuditAction.INCIDENT_PROCESS_SAVED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    session.flush()
    return process


def security_roles(session: Session, engagement_id: str) -> list[SecurityRole]:
    query = select(SecurityRole).where(SecurityRole.engagement_id == engagement_id)
    return sorted(session.exec(query), key=lambda r: (list(ROLE_KINDS).index(r.kind), r.name))


def roles_version(session: Session, engagement_id: str) -> int:
    """The version of the list of security roles (0 until it is first saved)."""
    found = session.get(SecurityRoleSet, engagement_id)
    return found.version if found else 0


def store_security_roles(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    people: list[dict[str, Any]],
    *,
    expected_version: int | None = None,
) -> list[SecurityRole]:
    """Replace the list of people in security roles. Exactly one designated security contact;
    if the contact is not at board level, para 3.5 asks for a board-level route (recorded in
    the declaration at submission). The list is one versioned object (`SecurityRoleSet`): its
    conditional version bump also serialises two replacements of the same list."""
    _require(actor, engagement, "security_roles_saved")
    problems: dict[str, str] = {}
    rows = []
    for index, person in enumerate(people):
        name = _clean(str(person.get("name", "")), 200)
        if not name:
            continue
        kind = str(person.get("kind", ""))
        if kind not in ROLE_KINDS:
            problems[f"people.{index}.kind"] = f"Choose a role for {name}."
        email = _clean(str(person.get("email", "")), 254)
        if email and "@" not in email:
            problems[f"people.{index}.email"] = f"Enter a valid email address for {name}."
        rows.append(
            SecurityRole(
                engagement_id=engagement.id,
                kind=kind,
                name=name,
                email=email,
                phone=_clean(str(person.get("phone", "")), 40),
                board_level=bool(person.get("board_level")),
            )
        )
    contacts = [r for r in rows if r.kind == "designated_security_contact"]
    if len(contacts) != 1:
        problems["people"] = "Name exactly one designated security contact (Schedule 2.4 para 3.5)."
    _fail(problems)
    key = [col(SecurityRoleSet.engagement_id) == engagement.id]
    what = "list of security roles"
    query = select(SecurityRoleSet).where(*key).with_for_update()
    head = session.exec(query.execution_options(populate_existing=True)).first()
    versioning.check(what, head.version if head else 0, expected_version)
    stamp: dict[str, Any] = {"updated_by_id": actor.user_id, "updated_at": utcnow()}
    if head is None:
        versioning.insert_first(
            session, SecurityRoleSet(engagement_id=engagement.id, version=1, **stamp), key, what
        )
    else:
        versioning.update(session, head, key, head.version, stamp, what)
    for old in session.exec(select(SecurityRole).where(SecurityRole.engagement_id == engagement.id)):
        session.delete(old)
    session.flush()
    session.add_all(rows)
    session.flush()
    return rows


def save_security_roles(
    session: Session,
    engagement: Engagement,
    caller: Caller,
    people: list[dict[str, Any]],
    *,
    expected_version: int | None = None,
) -> list[SecurityRole]:
    """Replace the people in security roles (rules in `store_security_roles`), audited."""
    rows = store_security_roles(session, engagement, caller.actor, people, expected_version=expected_version)
    caller.record(
        session,
        AuditAction.SECURITY_ROLES_SAVED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
    )
    session.flush()
    return rows
