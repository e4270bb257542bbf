"""The ISAS and the rejection notice as documents: one autoescaped template, shown as a page and
printed to PDF by WeasyPrint (no external resources; fonts are the system's)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, select_autoescape

from app.models import Decision

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
_documents = Environment(
    loader=FileSystemLoader(str(TEMPLATES_DIR)), autoescape=select_autoescape(["html"]), auto_reload=False
)


def statement_html(context: dict[str, Any]) -> str:
    return _documents.get_template("approvals/statement.html").render(context)


# Tagged PDF/UA-1 (ISO 14289-1): headings, tables and reading order reach a screen reader, and
# the document title and language come from the HTML's <title> and lang.
PDF_VARIANT = "pdf/ua-1"


def pdf_of(html: str) -> bytes:
    """Any of Attest's documents (autoescaped HTML, nothing from outside) as tagged PDF/UA-1."""
    from weasyprint import HTML  # imported here: loading Pango takes a moment and most requests never print

    pdf: bytes = HTML(string=html, base_url=None, url_fetcher=_refuse).write_pdf(pdf_variant=PDF_VARIANT)
    return pdf


def statement_pdf(html: str) -> bytes:
    return pdf_of(html)


def soa_html(context: dict[str, Any]) -> str:
    return _documents.get_template("exports/soa.html").render(context)


def plan_html(context: dict[str, Any]) -> str:
    """The Security Management Plan as one document (app.services.plan_document)."""
    return _documents.get_template("documents/plan.html").render(context)


def _refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The service makes no external calls, and documents embed nothing from outside."""
    raise ValueError(f"documents load no external resources ({url[:40]})")


def filename(decision: Decision) -> str:
    return f"{decision.number}.pdf"
