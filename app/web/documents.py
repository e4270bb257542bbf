"""The ISAS and the rejection notice: one template, shown as a page and printed to PDF by
WeasyPrint (no external resources; fonts are the system's)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request

from app.domain.errors import NotFound
from app.domain.workflow import profile
from app.models import Decision, Engagement, Organisation, Submission
from app.services import approvals
from app.web.templating import templates


def statement_context(
    db: Session, request: Request, submission: Submission, engagement: Engagement
) -> dict[str, Any]:
    decision = approvals.decision_for(db, submission.id)
    if decision is None:
        raise NotFound("This submission has not been decided yet, so there is no statement.")
    buyer = db.get(Organisation, engagement.buyer_org_id)
    supplier = db.get(Organisation, engagement.supplier_org_id)
    data = approvals.data_of(submission)
    titles = {r["control_id"]: r["title"] for r in data["responses"]}
    return {
        "request": request,
        "decision": decision,
        "submission": submission,
        "engagement": engagement,
        "profile": profile(engagement.workflow_profile),
        "buyer": buyer.name if buyer else "",
        "supplier": supplier.name if supplier else "",
        "risks": data["risks"],
        "control_reasons": [
            (cid, titles.get(cid, ""), reason)
            for cid, reason in sorted(approvals.control_reasons_of(decision).items())
        ],
        "verify_url": str(request.url_for("approvals:verify"))
        + f"?number={decision.number}&sha256={submission.sha256}",
    }


def statement_html(context: dict[str, Any]) -> str:
    return templates.get_template("approvals/statement.html").render(context)


def statement_pdf(html: str) -> bytes:
    from weasyprint import HTML  # imported here: loading Pango takes a moment and most requests never print

    pdf: bytes = HTML(string=html, base_url=None, url_fetcher=_refuse).write_pdf()
    return pdf


def _refuse(url: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    """The service makes no external calls, and documents embed nothing from outside."""
    raise ValueError(f"documents load no external resources ({url[:40]})")


def filename(decision: Decision) -> str:
    return f"{decision.number}.pdf"
