"""The Security Management Plan as a Word document (issue 17 item 4), written by python-docx
from the same content as the PDF (app.services.plan_document.plan_document): the cover with the
parties, contract and version hash, the security roles, the readiness summary, the responses by
catalogue, the risk register, the Required Changes Register, the Incident Management Process and
the evidence index with each file's SHA-256.

Accessible structure: the title uses Word's "Title" style and every part a real "Heading 1" /
"Heading 2" style (so the navigation pane and screen readers list them); every table's first row
is marked as a header row that repeats on each page. Where the PDF draws the readiness ring, the
bars and the two heat maps as SVG, this document gives the same figures as tables (a Word
document has no place for the pages' inline SVG without turning it into pictures). The
protective marking is in the header and the footer of every page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Pt

TIMES = "\u00d7"  # the multiplication sign, as the PDF prints a score

MARKING = "OFFICIAL-SENSITIVE"
MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


def _day(value: date | None, empty: str = "") -> str:
    return value.strftime("%d %B %Y") if value else empty


def _table(document: Any, headers: Sequence[str], rows: Sequence[Sequence[str]], empty: str) -> None:
    """A table whose first row is a header row (repeated on every page, read as headers)."""
    table: Any = document.add_table(rows=1, cols=len(headers))
    table.style = "Table Grid"
    head = table.rows[0]
    properties = head._tr.get_or_add_trPr()
    marker = OxmlElement("w:tblHeader")
    marker.set(qn("w:val"), "true")
    properties.append(marker)
    for cell, text in zip(head.cells, headers, strict=True):
        cell.text = ""
        cell.paragraphs[0].add_run(text).bold = True
    if not rows:
        cells = table.add_row().cells
        merged = cells[0].merge(cells[-1]) if len(cells) > 1 else cells[0]
        merged.text = empty
    for values in rows:
        for cell, text in zip(table.add_row().cells, values, strict=True):
            cell.text = text


def _pairs(document: Any, pairs: Sequence[tuple[str, str]]) -> None:
    """A two-column table of labels (bold) and values, as the PDF's cover."""
    table = document.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in pairs:
        cells = table.add_row().cells
        cells[0].paragraphs[0].add_run(label).bold = True
        cells[1].text = value


def _marking(document: Any, version_label: str) -> None:
    section = document.sections[0]
    header = section.header.paragraphs[0]
    header.text = MARKING
    header.alignment = WD_ALIGN_PARAGRAPH.CENTER
    footer = section.footer.paragraphs[0]
    footer.text = f"{MARKING} · Security Management Plan, {version_label}"
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    for paragraph in (header, footer):
        for run in paragraph.runs:
            run.bold = True
            run.font.size = Pt(9)


def _cover(document: Any, context: dict[str, Any]) -> None:
    engagement, version, today = context["engagement"], context["version"], context["today"]
    document.add_paragraph(f"{engagement.reference}: {engagement.title}")
    if version.draft:
        plan = (
            "Draft: not submitted. The SHA-256 below is the one the plan would have if it were "
            f"submitted as it stands on {_day(today)}."
        )
    elif version.decision is not None:
        outcome = "approved, ISAS" if version.decision.approved else "rejected, notice"
        plan = (
            f"Security Management Plan {version.label}; {outcome} {version.decision.number} "
            f"of {_day(version.decision.decided_on)}."
        )
    else:
        plan = f"Security Management Plan {version.label}; awaiting the buyer's decision."
    pairs = [
        ("Buyer", context["buyer"]),
        ("Supplier", context["supplier"]),
        ("Contract", f"{engagement.reference}, effective {_day(engagement.effective_on)}"),
        ("Terms", context["profile"].title),
        ("Plan", plan),
        ("Plan SHA-256", version.sha256),
    ]
    if not version.draft:
        short = version.label.split(",")[0]
        if version.changed:
            pairs.append(
                (
                    "This document",
                    f"Prints the plan as it stands on {_day(today)}, which has changed since {short}.",
                )
            )
            pairs.append(("SHA-256 now", f"{version.live_sha256} (if it were submitted as it stands)"))
        else:
            pairs.append(("This document", f"Prints {short}: nothing has changed since it was submitted."))
    pairs.append(("Printed", f"{_day(today)} by Attest, from the plan as recorded that day"))
    _pairs(document, pairs)


def _roles(document: Any, context: dict[str, Any]) -> None:
    document.add_heading("Security roles", level=1)
    kinds = context["role_kinds"]
    rows = [
        [kinds.get(r.kind, r.kind), r.name + (" (board level)" if r.board_level else ""), r.email, r.phone]
        for r in context["roles"]
    ]
    _table(document, ("Role", "Name", "Email", "Phone"), rows, "No one named yet.")


def _readiness(document: Any, context: dict[str, Any]) -> None:
    readiness, may = context["readiness"], context["may"]
    document.add_heading("Readiness summary", level=1)
    document.add_paragraph(
        f"Readiness {readiness.score}% ({readiness.earned} of {readiness.possible} points). "
        f"May process buyer data: {'yes' if may.allowed else 'no'}. "
        "(The PDF draws these figures as a ring and bars; here they are a table.)"
    )
    rows = [
        [cat.title, f"{cat.score}%", str(cat.counts.get("unanswered", 0))] for cat in readiness.catalogues
    ]
    _table(document, ("Catalogue", "Score", "Unanswered"), rows, "No catalogue in scope.")
    document.add_heading(f"Blockers ({len(readiness.blockers)})", level=2)
    for blocker in readiness.blockers:
        document.add_paragraph(blocker.message, style="List Bullet")
    if not readiness.blockers:
        document.add_paragraph("None.")


def _responses(document: Any, context: dict[str, Any]) -> None:
    document.add_heading("Information Assurance Assessment: responses by catalogue", level=1)
    for cat in context["catalogues"]:
        document.add_heading(f"{cat.title} ({len(cat.answers)} controls)", level=2)
        rows = []
        for a in cat.answers:
            if not a.applicable:
                text = a.scoping_reason
            else:
                parts = [a.statement]
                if a.justification:
                    parts.append(f"Why not applicable: {a.justification}")
                if a.planned_change:
                    by = f" by {_day(a.target_on)}" if a.target_on else ""
                    parts.append(f"Planned change: {a.planned_change}{by}")
                text = "\n".join(p for p in parts if p)
            rows.append(
                [
                    f"{a.control_id}\n{a.title} ({a.clause})",
                    a.status if a.applicable else "out of scope",
                    text,
                    a.owner,
                    "\n".join(f"{e.title} (v{e.version})" for e in a.evidence),
                ]
            )
        headers = (
            "Control",
            "Status",
            "Implementation, justification or planned change",
            "Owner",
            "Evidence",
        )
        _table(document, headers, rows, "No controls.")


def _heat(document: Any, title: str, grid: list[list[int]]) -> None:
    document.add_heading(title, level=2)
    rows = [[f"Impact {5 - i}", *(str(n) for n in row)] for i, row in enumerate(grid)]
    _table(document, ("Risks per cell", *(f"Likelihood {n}" for n in range(1, 6))), rows, "")


def _risks(document: Any, context: dict[str, Any]) -> None:
    risks, score = context["risks"], context["score"]
    document.add_heading(f"Risk register ({len(risks)})", level=1)
    rows = [
        [
            r.title + (f"\n{r.description}" if r.description else ""),
            r.control_ids,
            f"{r.likelihood} {TIMES} {r.impact} = {score(r.likelihood, r.impact)}",
            r.treatment,
            r.owner,
            f"{r.residual_likelihood} {TIMES} {r.residual_impact} = "
            f"{score(r.residual_likelihood, r.residual_impact)}",
        ]
        for r in risks
    ]
    headers = ("Risk", "Controls", f"Likelihood {TIMES} impact", "Treatment", "Owner", "Residual")
    _table(document, headers, rows, "No risks recorded.")
    _heat(document, "Inherent risk (heat map as a table)", context["heat"])
    _heat(document, "Residual risk (heat map as a table)", context["residual_heat"])


def _register(document: Any, context: dict[str, Any]) -> None:
    entries = context["entries"]
    document.add_heading(f"Required Changes Register ({len(entries)})", level=1)
    rows = [
        [
            e.title + (f"\n{e.description}" if e.description else ""),
            str(e.source).replace("_", " "),
            e.control_id or "",
            _day(e.agreed_on, "not agreed"),
            _day(e.implemented_on),
            str(e.status).replace("_", " "),
        ]
        for e in entries
    ]
    headers = ("Change", "From", "Control", "Agreed date", "Implemented", "Status")
    _table(document, headers, rows, "No changes recorded.")


def _incidents(document: Any, context: dict[str, Any]) -> None:
    document.add_heading("Incident Management Process", level=1)
    limits, process = context["incident_limits"], context["process"]
    if limits:
        document.add_paragraph(
            f"{limits.clause} applies: lost buyer material is reported within {limits.report_hours} hours "
            f"and traced within {limits.trace_hours} hours at most."
        )
    else:
        document.add_paragraph(
            "The contracts in this engagement set no hours for reporting incidents: the agreed Incident "
            "Management Process sets the timings."
        )
    if process is None:
        document.add_paragraph("No Incident Management Process recorded yet.")
        return
    commits = []
    if process.report_loss_hours:
        commits.append(f"reporting loss of buyer material within {process.report_loss_hours} hours")
    if process.trace_loss_hours:
        commits.append(f"tracing lost buyer material within {process.trace_loss_hours} hours")
    if commits:
        document.add_paragraph(f"This process commits to {' and '.join(commits)}.")
    for line in process.document.splitlines() or [""]:
        document.add_paragraph(line)
    contacts = [
        [c.get("name", ""), c.get("role", ""), c.get("email", ""), c.get("phone", "")]
        for c in context["contacts"]
    ]
    if contacts:
        _table(document, ("Contact", "Role", "Email", "Phone"), contacts, "")


def _evidence(document: Any, context: dict[str, Any]) -> None:
    index = context["evidence"]
    document.add_heading(f"Evidence index ({len(index)})", level=1)
    rows = [
        [
            f"{i.evidence.title} (version {i.evidence.version})\n"
            f"{i.evidence.file_name}, {i.evidence.marking}",
            ", ".join(i.control_ids),
            i.evidence.effective_on.strftime("%d %b %Y") if i.evidence.effective_on else "",
            i.evidence.expires_on.strftime("%d %b %Y") if i.evidence.expires_on else "no expiry",
            i.evidence.sha256,
        ]
        for i in index
    ]
    _table(document, ("Evidence", "Controls", "Effective", "Expires", "SHA-256"), rows, "No evidence linked.")


def plan_docx(context: dict[str, Any]) -> bytes:
    """The plan document's content (app.services.plan_document.plan_document) as DOCX bytes."""
    engagement, version = context["engagement"], context["version"]
    document = Document()
    properties = document.core_properties
    properties.title = f"Security Management Plan: {engagement.reference} {engagement.title}"
    properties.subject = f"SHA-256 {version.sha256}"
    properties.language = "en-GB"
    properties.keywords = MARKING
    properties.author = "Attest"
    _marking(document, "draft" if version.draft else version.label.split(",")[0])
    document.add_heading("Security Management Plan", level=0)
    _cover(document, context)
    _roles(document, context)
    _readiness(document, context)
    _responses(document, context)
    _risks(document, context)
    _register(document, context)
    _incidents(document, context)
    _evidence(document, context)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()
