"""What an Information Security Approval Statement or rejection notice says (Schedule 2.4 paras
4.5-4.7; Call Off Schedule 7 para 3.4): the decided submission, both parties, the risks accepted
and the advisor's reasons per control, with the address a reader checks it at. An approval given
with blockers still open lists them as outstanding conditions and does not say that the supplier
may process buyer data (app.services.approvals.decide)."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from app.domain.audit import AuditAction
from app.domain.errors import NotFound
from app.models import Engagement, Organisation, Submission
from app.services import approvals
from app.services.caller import Caller
from app.services.deadlines import profile_of


def statement_context(
    db: Session, submission: Submission, engagement: Engagement, *, verify_url: str
) -> dict[str, Any]:
    """The statement's content; `verify_url` is the public /verify page it links to."""
    decision = approvals.decision_for(db, submission.id)
    if decision is None:
        raise NotFound("This submission has not been decided yet, so there is no statement.")
    buyer = db.get(Organisation, engagement.buyer_org_id)
    supplier = db.get(Organisation, engagement.supplier_org_id)
    data = approvals.data_of(submission)
    titles = {r["control_id"]: r["title"] for r in data["responses"]}
    return {
        "decision": decision,
        "submission": submission,
        "engagement": engagement,
        "profile": profile_of(engagement),
        "buyer": buyer.name if buyer else "",
        "supplier": supplier.name if supplier else "",
        "risks": data["risks"],
        "control_reasons": [
            (cid, titles.get(cid, ""), reason)
            for cid, reason in sorted(approvals.control_reasons_of(decision).items())
        ],
        "outstanding": approvals.outstanding_of(decision),
        "verify_url": f"{verify_url}?number={decision.number}&sha256={submission.sha256}",
    }


def download_statement(
    db: Session, submission: Submission, engagement: Engagement, caller: Caller, *, verify_url: str
) -> dict[str, Any]:
    """The statement's content for the caller to keep (the HTML page or the PDF), audited as a
    download. A read request calls this in its short write transaction (app.http.deps.writer)."""
    context = statement_context(db, submission, engagement, verify_url=verify_url)
    caller.record(
        db,
        AuditAction.STATEMENT_DOWNLOADED,
        object_type="submission",
        object_id=submission.id,
        engagement_id=engagement.id,
        details={"number": context["decision"].number},
    )
    db.flush()
    return context
