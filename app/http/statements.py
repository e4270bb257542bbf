"""The statement of a decided submission (the ISAS or the rejection notice), as the page shows
it and the API prints it: one audited download, in a short write transaction of its own; the
PDF comes from the evidence store when the render job has made it (app.services.statement_files)
and is otherwise rendered once here, after that transaction, and stored."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sqlmodel import Session
from starlette.requests import Request

from app.adapters import documents
from app.http.deps import writer
from app.models import Engagement, Submission
from app.services import statement_files
from app.services.caller import Caller
from app.services.statement import download_statement

if TYPE_CHECKING:
    from app.jobs import Jobs

log = logging.getLogger("attest.statements")


def statement_document(
    request: Request, db: Session, caller: Caller, submission: Submission, engagement: Engagement
) -> tuple[str, str]:
    """The statement as HTML and the file name to keep it under, its download audited for
    `caller` (404 until the submission is decided)."""
    verify_url = str(request.url_for("approvals:verify"))
    with writer(request, db) as audit_db:  # a read never upgrades to a write (see deps.get_session)
        context = download_statement(audit_db, submission, engagement, caller, verify_url=verify_url)
        html = documents.statement_html(context)
        name = documents.filename(context["decision"])
    return html, name


def statement_pdf(
    request: Request, db: Session, caller: Caller, submission: Submission, engagement: Engagement
) -> tuple[bytes, str]:
    """The statement as PDF and its file name, the download audited for `caller` (404 until the
    submission is decided). The write transaction holds only the audit record: a render that
    the store did not have runs after it, so it never holds the write lock."""
    settings = request.app.state.settings
    verify_url = statement_files.verify_url(settings.base_url)
    with writer(request, db) as audit_db:
        context = download_statement(audit_db, submission, engagement, caller, verify_url=verify_url)
        file = statement_files.statement_file(context)
    pdf, rendered = statement_files.pdf_bytes(request.app.state.store, file)
    if rendered:
        log.info("statement %s rendered in the request (the render job had not stored it)", file.filename)
    return pdf, file.filename


def queue_render(request: Request, submission_id: str) -> None:
    """After a decision commits: queue the job that renders its PDF into the store. A queue
    that cannot be reached is logged, not shown: the decision stands, and the first download
    renders the PDF itself."""
    try:
        _jobs(request.app.state).render_statement(submission_id, queued_at=time.time())
    except Exception:  # the queue's storage failed; see the docstring
        log.warning("could not queue the statement render of submission %s", submission_id, exc_info=True)


def _jobs(state: Any) -> Jobs:
    """The app's job-queue handle, made on first use for the app's current settings (the test
    suite points one app at new settings per test)."""
    held = getattr(state, "statement_jobs", None)
    if held is None or held[0] is not state.settings:
        from app.adapters.jobs import make_huey
        from app.jobs import Jobs

        jobs = Jobs(make_huey(state.settings), state.settings, engine=state.engine, store=state.store)
        held = (state.settings, jobs)
        state.statement_jobs = held
    jobs_held: Jobs = held[1]
    return jobs_held
