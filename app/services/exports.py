"""Data out (issue 17 item 1): an engagement as a workbook a security team can work in.

`engagement_workbook` composes, in a fixed number of queries whatever the engagement's size:
one sheet per catalogue in scope (each applicable or scoped-out control with its answer, owner,
planned change and the evidence linked to it, by title, SHA-256 and expiry), then the risk
register, the Required Changes Register, the supplier's certificate register and the
engagement's deadlines with the clause behind each. The pages and the API both call
`export_engagement`, which also audits the export. Rendering is app.adapters.spreadsheets.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from sqlmodel import Session

from app.adapters.spreadsheets import Cell, Sheet
from app.domain.access import Actor
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.certificates import SCHEME_LABELS
from app.domain.errors import NotFound
from app.models import Engagement
from app.services import plan
from app.services.caller import Caller
from app.services.certificates.access import visible_supplier_ids
from app.services.certificates.portfolio import portfolio
from app.services.certificates.register import Row
from app.services.certificates.register import rows as certificate_rows
from app.services.deadlines import engagement_deadlines
from app.services.engagements import (
    applicability,
    catalogue_ids,
    engagement_controls,
    organisation_names,
    scoping_answers,
)
from app.services.evidence import library_page, links_by_control
from app.services.readiness import clause_of
from app.services.responses import owner_names, responses_by_control

ANSWER_HEADERS = (
    "Control",
    "Title",
    "Source clause",
    "Applicable",
    "Scoping reason",
    "Status",
    "Implementation statement",
    "Justification",
    "Owner",
    "Planned change",
    "Target date",
    "Evidence",
    "Evidence SHA-256",
    "Evidence expires",
)
STATUS_LABELS = {
    "met": "met",
    "partially_met": "partially met",
    "not_met": "not met",
    "not_applicable": "not applicable",
}


@dataclass(frozen=True, slots=True)
class Workbook:
    title: str
    filename: str  # without extension
    sheets: list[Sheet]


def _status(value: object) -> str:
    """A closed-set value as people write it: `partially_met` is "partially met"."""
    return str(value).replace("_", " ")


def sheet_name(title: str, used: set[str]) -> str:
    """An Excel-legal sheet name (31 characters, none of []:*?/\\), unique in the workbook."""
    clean = "".join(" " if c in "[]:*?/\\" else c for c in title).strip()[:31] or "Sheet"
    name, n = clean, 2
    while name.lower() in used:
        suffix = f" ({n})"
        name, n = clean[: 31 - len(suffix)] + suffix, n + 1
    used.add(name.lower())
    return name


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text).strip("-")


def _joined(values: Sequence[str]) -> str:
    return "\n".join(v for v in values if v)


def engagement_workbook(
    session: Session, library: Library, engagement: Engagement, *, today: date
) -> Workbook:
    catalogues = catalogue_ids(session, engagement.id)
    answers = scoping_answers(session, engagement.id)
    responses = responses_by_control(session, engagement.id)
    evidence = links_by_control(session, engagement.id)
    owners = owner_names(session, responses)
    used: set[str] = set()
    sheets: list[Sheet] = []
    controls = engagement_controls(library, catalogues)
    for catalogue_id in catalogues:
        catalogue = library.catalogue(catalogue_id)
        rows: list[list[Cell]] = []
        for control in (c for c in controls if c.catalogue_id == catalogue_id):
            applicable, reason = applicability(control, answers, library)
            response = responses.get(control.id)
            files = evidence.get(control.id, [])
            rows.append(
                [
                    control.id,
                    control.title,
                    clause_of(control),
                    "yes" if applicable else "no",
                    reason,
                    STATUS_LABELS.get(str(response.status), str(response.status))
                    if response
                    else "unanswered",
                    response.statement if response else "",
                    response.justification if response else "",
                    owners.get(response.owner_id or "", "") if response else "",
                    response.planned_change if response else "",
                    response.target_on if response else None,
                    _joined([f.title for f in files]),
                    _joined([f.sha256 for f in files]),
                    _joined([f.expires_on.isoformat() if f.expires_on else "no expiry" for f in files]),
                ]
            )
        title = catalogue.title if catalogue else catalogue_id
        sheets.append(Sheet(sheet_name(title, used), ANSWER_HEADERS, rows))
    sheets.append(_risks(session, engagement, used))
    sheets.append(_register(session, engagement, used))
    sheets.append(_certificates(session, engagement, used, today=today))
    sheets.append(_deadlines(session, engagement, used, today=today))
    names = organisation_names(session, [engagement.supplier_org_id])
    return Workbook(
        title=f"{engagement.reference}: {engagement.title} ({names.get(engagement.supplier_org_id, '')})",
        filename=f"attest-{_slug(engagement.reference)}-{today}",
        sheets=sheets,
    )


def _risks(session: Session, engagement: Engagement, used: set[str]) -> Sheet:
    headers = (
        "Risk",
        "Description",
        "Controls",
        "Likelihood",
        "Impact",
        "Score",
        "Treatment",
        "Owner",
        "Residual likelihood",
        "Residual impact",
        "Residual score",
    )
    rows: list[list[Cell]] = [
        [
            r.title,
            r.description,
            r.control_ids,
            r.likelihood,
            r.impact,
            plan.score(r.likelihood, r.impact),
            r.treatment,
            r.owner,
            r.residual_likelihood,
            r.residual_impact,
            plan.score(r.residual_likelihood, r.residual_impact),
        ]
        for r in plan.risks(session, engagement.id)
    ]
    return Sheet(sheet_name("Risk register", used), headers, rows)


def _register(session: Session, engagement: Engagement, used: set[str]) -> Sheet:
    headers = ("Change", "Description", "Source", "Control", "Agreed on", "Implemented on", "Status")
    rows: list[list[Cell]] = [
        [
            e.title,
            e.description,
            str(e.source),
            e.control_id or "",
            e.agreed_on,
            e.implemented_on,
            str(e.status),
        ]
        for e in plan.register_entries(session, engagement.id)
    ]
    return Sheet(sheet_name("Required Changes Register", used), headers, rows)


CERTIFICATE_HEADERS = ("Holder", "Scheme", "Number", "Body", "Provider", "Issued", "Expires", "State")


def _certificate_cells(r: Row) -> list[Cell]:
    c = r.certificate
    return [
        r.holder.name,
        SCHEME_LABELS[c.scheme],
        c.number,
        c.body,
        c.provider,
        c.issued_on,
        c.expires_on,
        str(r.state),
    ]


def _certificates(session: Session, engagement: Engagement, used: set[str], *, today: date) -> Sheet:
    rows = [
        _certificate_cells(r) for r in certificate_rows(session, {engagement.supplier_org_id}, today=today)
    ]
    return Sheet(sheet_name("Certificates", used), CERTIFICATE_HEADERS, rows)


def _deadlines(session: Session, engagement: Engagement, used: set[str], *, today: date) -> Sheet:
    headers = ("What", "Due", "Who acts", "State", "Done on", "Rule", "Clause")
    rows: list[list[Cell]] = [
        [d.subject, d.due_on, d.party, str(d.state), d.done_on, d.rule, d.clause]
        for d in engagement_deadlines(session, engagement, today=today)
    ]
    return Sheet(sheet_name("Deadlines", used), headers, rows)


# --- the ISO/IEC 27001 Statement of Applicability ---------------------------------------

ISO_CATALOGUE = "iso27001-2022"
SOA_HEADERS = (
    "Annex A control",
    "ISO/IEC 27001:2013",
    "Control",
    "Theme",
    "Applicable",
    "Why included or excluded",
    "Implementation status",
    "How it is implemented",
    "Evidence",
    "Evidence SHA-256",
)
NOT_ASSESSED = "This engagement does not assess ISO/IEC 27001:2022, so it has no Statement of Applicability."


def soa_workbook(session: Session, library: Library, engagement: Engagement, *, today: date) -> Workbook:
    """ISO/IEC 27001:2022 clause 6.1.3 d): the Statement of Applicability, the 93 Annex A controls
    each with whether it applies and why (included: the risks it treats or the contract's scope;
    excluded: the supplier's justification or the scoping answer), whether it is implemented and
    how, and the evidence; with the 2013 Annex A numbers (ISO/IEC 27002:2022 Annex B)."""
    catalogue = library.catalogue(ISO_CATALOGUE)
    if catalogue is None or ISO_CATALOGUE not in catalogue_ids(session, engagement.id):
        raise NotFound(NOT_ASSESSED)
    answers = scoping_answers(session, engagement.id)
    responses = responses_by_control(session, engagement.id)
    evidence = links_by_control(session, engagement.id)
    treated: dict[str, list[str]] = {}
    for risk in plan.risks(session, engagement.id):
        for control_id in risk.control_ids.split():
            treated.setdefault(control_id, []).append(risk.title)
    rows: list[list[Cell]] = []
    for section in (s for s in catalogue.sections if s.id.startswith("A.")):
        for control in section.controls:
            in_scope, reason = applicability(control, answers, library)
            response = responses.get(control.id)
            excluded = not in_scope or (response is not None and str(response.status) == "not_applicable")
            if excluded:
                why = (response.justification if response else "") or reason
            elif control.id in treated:
                why = "Treats the risks: " + "; ".join(treated[control.id])
            else:
                why = "Required by the contract's security requirements and the supplier's risk assessment."
            files = evidence.get(control.id, [])
            rows.append(
                [
                    control.id.removeprefix("ISO-"),
                    ", ".join(control.aliases),
                    control.title,
                    section.title,
                    "no" if excluded else "yes",
                    why,
                    "not applicable" if excluded else _status(response.status) if response else "unanswered",
                    "" if excluded or response is None else response.statement,
                    _joined([f.title for f in files]),
                    _joined([f.sha256 for f in files]),
                ]
            )
    return Workbook(
        title=f"Statement of Applicability: {engagement.reference} {engagement.title}",
        filename=f"attest-soa-{_slug(engagement.reference)}-{today}",
        sheets=[Sheet("Statement of Applicability", SOA_HEADERS, rows)],
    )


def export_soa(
    session: Session, library: Library, engagement: Engagement, caller: Caller, *, today: date, fmt: str
) -> Workbook:
    book = soa_workbook(session, library, engagement, today=today)
    caller.record(
        session,
        AuditAction.ENGAGEMENT_EXPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"format": fmt, "what": "statement_of_applicability"},
    )
    return book


# --- the registers: portfolio, certificates, evidence library ------------------------------


def portfolio_workbook(session: Session, actor: Actor, *, today: date) -> Workbook:
    """The advisor's portfolio (buyer advisors only, refused as the page refuses): one row per
    required certificate per supplier, then every certificate of those suppliers."""
    view = portfolio(session, actor, today=today)
    used: set[str] = set()
    lines: list[list[Cell]] = [
        [
            s.organisation.name,
            ", ".join(e.reference for e in s.engagements),
            line.holder.name,
            line.requirement,
            line.clause,
            str(line.state),
            line.expires_on,
            "yes" if line.blocks else "no",
        ]
        for s in view.suppliers
        for line in s.lines
    ]
    requirement_headers = (
        "Supplier",
        "Engagements",
        "Holder",
        "Requirement",
        "Clauses",
        "State",
        "Expires",
        "Blocks",
    )
    certificates = [
        [s.organisation.name, *_certificate_cells(r)] for s in view.suppliers for r in s.certificates
    ]
    return Workbook(
        title="Certificate portfolio",
        filename=f"attest-portfolio-{today}",
        sheets=[
            Sheet(sheet_name("Required certificates", used), requirement_headers, lines),
            Sheet(sheet_name("Certificates", used), ("Supplier", *CERTIFICATE_HEADERS), certificates),
        ],
    )


def certificates_workbook(session: Session, actor: Actor, *, today: date) -> Workbook:
    """The certificate register the actor may read: their own supplier's, or their suppliers'."""
    org_ids = visible_supplier_ids(session, actor)
    names = organisation_names(session, sorted(org_ids)) if org_ids else {}
    rows: list[list[Cell]] = [
        [names.get(r.certificate.supplier_org_id, ""), *_certificate_cells(r)]
        for r in certificate_rows(session, org_ids, today=today)
    ]
    sheet = Sheet("Certificates", ("Supplier", *CERTIFICATE_HEADERS), rows)
    return Workbook(title="Certificate register", filename=f"attest-certificates-{today}", sheets=[sheet])


def evidence_workbook(session: Session, actor: Actor, *, today: date) -> Workbook:
    """The supplier's evidence library (current versions), with where each item is used."""
    page = library_page(session, actor, today=today)
    headers = (
        "Title",
        "File",
        "Kind",
        "Marking",
        "SHA-256",
        "Size (bytes)",
        "Uploaded",
        "Effective",
        "Expires",
        "Used in",
    )
    rows: list[list[Cell]] = [
        [
            e.title,
            e.file_name,
            _status(e.kind),
            _status(e.marking),
            e.sha256,
            e.size,
            e.uploaded_at.date(),
            e.effective_on,
            e.expires_on,
            _joined([f"{reference} {control}" for reference, control in used_in]),
        ]
        for e, used_in in page.items
    ]
    return Workbook(
        title="Evidence library",
        filename=f"attest-evidence-{today}",
        sheets=[Sheet("Evidence", headers, rows)],
    )


REGISTERS = {
    "portfolio": portfolio_workbook,
    "certificates": certificates_workbook,
    "evidence": evidence_workbook,
}


def export_register(session: Session, caller: Caller, what: str, *, today: date, fmt: str) -> Workbook:
    """One of REGISTERS for the caller, audited (a refusal is the page's own, audited there)."""
    book = REGISTERS[what](session, caller.actor, today=today)
    caller.record(
        session,
        AuditAction.REGISTER_EXPORTED,
        object_type="register",
        object_id=what,
        details={"format": fmt, "rows": sum(len(sheet.rows) for sheet in book.sheets)},
    )
    return book


def answers_sheet(book: Workbook, catalogue_titles: Sequence[str]) -> Sheet:
    """Every catalogue's answers in one table (the CSV export), the catalogue first."""
    rows: list[list[Cell]] = []
    for title, sheet in zip(catalogue_titles, book.sheets, strict=False):
        rows.extend([title, *row] for row in sheet.rows)
    return Sheet("Answers", ("Catalogue", *ANSWER_HEADERS), rows)


def export_engagement(
    session: Session, library: Library, engagement: Engagement, caller: Caller, *, today: date, fmt: str
) -> Workbook:
    """The engagement's workbook for a caller who may view it (the loader checked), audited."""
    book = engagement_workbook(session, library, engagement, today=today)
    caller.record(
        session,
        AuditAction.ENGAGEMENT_EXPORTED,
        object_type="engagement",
        object_id=engagement.id,
        engagement_id=engagement.id,
        details={"format": fmt, "sheets": len(book.sheets)},
    )
    return book
