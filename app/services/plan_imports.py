"""Data in (issue 17 item 2) for the plan's registers: risks and Required Changes Register
entries from a spreadsheet, with the answers import's machinery (app.services.imports: reading
and refusing bad files, the plan of changes, the refusal with every error, the remembered column
choices), the rows checked by app.domain.plan_imports.

`plan` says row by row what would change and every error, writing nothing. `apply` writes the
planned changes in the caller's transaction through the plan's own rules
(app.services.plan.store_risk / store_entry), each audited as the hand edit is (`risk_saved`,
`register_entry_saved`, with the import's file SHA-256 in its details: the plan's history of
that risk or entry), plus one `risks_imported` or `register_entries_imported` record; any error,
and nothing is written. A plan awaiting the buyer's decision is frozen for imports: both refuse
with a conflict until the buyer decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from sqlmodel import Session

from app.domain import imports as rules
from app.domain import plan_imports as checks
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import Conflict, InvalidInput
from app.domain.register import EntrySource
from app.domain.workflow import State
from app.models import Engagement, RegisterEntry, Risk
from app.services import approvals
from app.services import plan as plan_rules
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, engagement_controls
from app.services.imports import Plan, PlannedRow, PlanRefused, Table, read_sheets, refuse, remembered_mapping
from app.services.responses import supplier_people

LAYOUTS = {"risks": checks.RISKS, "register": checks.REGISTER}
OWN_HEADERS = {"risks": checks.RISK_HEADERS, "register": checks.REGISTER_HEADERS}
WHAT = {"risks": "risk register", "register": "Required Changes Register"}
FROZEN = (
    "The plan is with the buyer for a decision: its {what} cannot be imported into until the "
    "buyer approves or rejects this version. Nothing was imported."
)


def layout_of(kind: str) -> rules.Layout:
    if kind not in LAYOUTS:
        raise InvalidInput("Import answers, risks or register entries.", details={"kind": kind})
    return LAYOUTS[kind]


def require_open(session: Session, engagement: Engagement, kind: str) -> None:
    """A plan awaiting the buyer's decision (submitted, not yet decided) is frozen for imports."""
    if approvals.case_row(session, engagement.id).state == State.SUBMITTED:
        raise Conflict(FROZEN.format(what=WHAT[kind]), details={"plan": "submitted"})


def _tables(tables: list[Table], kind: str) -> list[Table]:
    """Attest's own export: only its sheet of this kind. Any other workbook: every sheet."""
    headers = OWN_HEADERS[kind]
    own = [t for t in tables if tuple(t.headers[: len(headers)]) == headers]
    return own or tables


def _existing(session: Session, engagement: Engagement, kind: str) -> list[Risk] | list[RegisterEntry]:
    if kind == "risks":
        return plan_rules.risks(session, engagement.id)
    return plan_rules.register_entries(session, engagement.id)


def values_of(item: Risk | RegisterEntry) -> dict[str, object]:
    """A stored risk or entry as the values a row gives, to compare them."""
    if isinstance(item, Risk):
        return {
            "title": item.title,
            "description": item.description,
            "control_ids": item.control_ids,
            "treatment": item.treatment,
            "owner": item.owner,
            **{name: getattr(item, name) for name in checks.SCORES},
        }
    return {
        "title": item.title,
        "description": item.description,
        "source": str(item.source),
        "control_id": item.control_id,
        "agreed_on": item.agreed_on.isoformat() if item.agreed_on else None,
        "implemented_on": item.implemented_on.isoformat() if item.implemented_on else None,
        "status": str(item.status),
    }


def plan(
    session: Session,
    library: Library,
    engagement: Engagement,
    data: bytes,
    mapping: Mapping[str, str] | None,
    kind: str,
) -> Plan:
    """What importing `data` as `kind` ("risks" or "register") would do. Writes nothing."""
    layout = layout_of(kind)
    require_open(session, engagement, kind)
    tables = _tables(read_sheets(data), kind)
    remembered = False
    if not mapping and tables:
        mapping = remembered_mapping(session, engagement.supplier_org_id, tables[0].headers, layout)
        remembered = bool(mapping)
    controls = {c.id for c in engagement_controls(library, catalogue_ids(session, engagement.id))}
    members = {p.email.casefold(): p.name for p in supplier_people(session, engagement)}
    current: dict[str, list[Risk | RegisterEntry]] = {}
    for item in _existing(session, engagement, kind):
        current.setdefault(checks.title_key(item.title), []).append(item)
    rows: list[PlannedRow] = []
    seen: dict[str, int] = {}
    problems: dict[str, str] = {}
    used = 0
    for table in tables:
        columns = rules.map_headers(table.headers, mapping, layout)
        if columns.problems:
            problems = problems or columns.problems
            continue
        used += 1
        for offset, cells in enumerate(table.rows, start=2):
            row = rules.Row(offset, rules.row_values(cells, columns))
            if kind == "risks":
                checked = checks.check_risk(row, controls=controls, members=members, seen=seen)
            else:
                checked = checks.check_entry(row, controls=controls, seen=seen)
            if not checked.title and not checked.errors:
                continue  # a blank row
            errors = list(checked.errors)
            matches = current.get(checks.title_key(checked.title), [])
            if len(matches) > 1:
                errors.append(f"More than one in the plan is titled “{checked.title}”: rename one first.")
            elif matches and not errors and isinstance(matches[0], RegisterEntry):
                errors.extend(_entry_conflicts(matches[0], checked.values))
            if errors:
                rows.append(PlannedRow(table.name, offset, checked.title, "error", {}, tuple(errors)))
                continue
            seen[checks.title_key(checked.title)] = offset
            if matches:  # a column the sheet does not have keeps what the plan says
                stored = values_of(matches[0])
                for name in set(layout.fields) - set(columns.index) - {"title"}:
                    checked.values[name] = stored[name]
            if not matches:
                change = "new"
            else:
                change = "unchanged" if values_of(matches[0]) == checked.values else "changed"
            given = dict(checked.values)
            if matches:
                given |= {"id": matches[0].id, "version": matches[0].version}
            rows.append(PlannedRow(table.name, offset, checked.title, change, given))
    if not used:
        problems = problems or {"file": NOTHING_OF[kind]}
    first_headers = tables[0].headers if tables else []
    return Plan(
        hashlib.sha256(data).hexdigest(),
        rows,
        problems if not used else {},
        first_headers,
        dict(mapping or {}),
        remembered,
    )


def _entry_conflicts(entry: RegisterEntry, given: dict[str, object]) -> list[str]:
    """What a row may not change in an entry already in the register: where it came from (a
    gap, a change notice or typed in), which the register records, not edits. A blank control
    keeps the entry's control, as a hand edit does."""
    if given["control_id"] is None:
        given["control_id"] = entry.control_id
    if not given["source"]:
        given["source"] = str(entry.source)
    if given["source"] != str(entry.source):
        return [
            f"“{entry.title}” came from {str(entry.source).replace('_', ' ')}: an import cannot change "
            "where an entry came from."
        ]
    return []


NOTHING_OF = {
    "risks": "No sheet in this file has columns for the risk, its likelihood and impact, and their "
    "residual values.",
    "register": "No sheet in this file has a column for the change and one for its status.",
}


def to_dict(result: Plan) -> dict[str, Any]:
    """The dry run's answer for the API: as the answers import's, each row naming its title."""
    return {
        "sha256": result.sha256,
        "changes": len(result.changes),
        "errors": len(result.errors),
        "mapping_problems": result.mapping_problems,
        "mapping": result.mapping,
        "remembered": result.remembered,
        "rows": [
            {
                "sheet": r.sheet,
                "row": r.number,
                "title": r.control_id,
                "change": r.change,
                "values": {k: v for k, v in r.answer.items() if k not in ("id", "version")},
                "errors": list(r.errors),
            }
            for r in result.rows
        ],
    }


def apply(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    data: bytes,
    mapping: Mapping[str, str] | None,
    kind: str,
    *,
    expected_sha256: str = "",
) -> Plan:
    """Import for real: every planned change in the caller's transaction, or none."""
    result = plan(session, library, engagement, data, mapping, kind)
    try:
        refuse(result, expected_sha256)
    except PlanRefused as error:
        error.details = to_dict(result)  # each row naming its title, as the dry run does
        raise
    for row in result.changes:
        given = row.answer
        object_id = str(given["id"]) if "id" in given else None
        version = int(given["version"]) if "version" in given else None
        if kind == "risks":
            risk = plan_rules.store_risk(
                session,
                library,
                engagement,
                caller.actor,
                plan_rules.RiskInput(
                    title=str(given["title"]),
                    description=str(given["description"]),
                    control_ids=str(given["control_ids"]).split(),
                    treatment=str(given["treatment"]),
                    owner=str(given["owner"]),
                    expected_version=version,
                    **{name: int(str(given[name])) for name in checks.SCORES},
                ),
                risk_id=object_id,
            )
            action, object_type, saved_id = AuditAction.RISK_SAVED, "risk", risk.id
        else:
            entry = plan_rules.store_entry(
                session,
                engagement,
                caller.actor,
                plan_rules.EntryInput(
                    title=str(given["title"]),
                    description=str(given["description"]),
                    control_id=str(given["control_id"]) if given["control_id"] else None,
                    agreed_on=str(given["agreed_on"]) if given["agreed_on"] else None,
                    implemented_on=str(given["implemented_on"]) if given["implemented_on"] else None,
                    status=str(given["status"]),
                    expected_version=version,
                ),
                entry_id=object_id,
                source=EntrySource(str(given["source"]) or EntrySource.MANUAL),
            )
            action, object_type, saved_id = AuditAction.REGISTER_ENTRY_SAVED, "register_entry", entry.id
        caller.record(
            session,
            action,
            object_type=object_type,
            object_id=saved_id,
            engagement_id=engagement.id,
            details={"imported": result.sha256, "row": row.number, "change": row.change},
        )
    caller.record(
        session,
        AuditAction.RISKS_IMPORTED if kind == "risks" else AuditAction.REGISTER_ENTRIES_IMPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"sha256": result.sha256, "changed": [r.control_id for r in result.changes]},
    )
    session.flush()
    return result
