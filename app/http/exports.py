"""Exports as downloads, for the pages and the API alike: each one audited in a short write
transaction of its own (a GET reads; app.http.deps.writer), then the file."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app import clock
from app.adapters import documents
from app.adapters.spreadsheets import XLSX_TYPE, Sheet, csv_text, xlsx_bytes
from app.domain.catalogue import Library
from app.http import statements
from app.http.deps import writer
from app.models import Download, Engagement, Submission
from app.services import approvals, bundles, downloads, exports
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, organisation_names

if TYPE_CHECKING:
    from app.jobs import Jobs

log = logging.getLogger("attest.downloads")


def _download(book: exports.Workbook, fmt: str, table: Sheet | None = None) -> Response:
    """The workbook as XLSX, or one table of it (`table`, else its first sheet) as CSV."""
    if fmt == "csv":
        # With a byte order mark, which tells spreadsheets the file is UTF-8.
        body: bytes = csv_text(table or book.sheets[0]).encode("utf-8-sig")
        media_type = "text/csv; charset=utf-8"
    else:
        body, media_type = xlsx_bytes(book.sheets, title=book.title), XLSX_TYPE
    return Response(
        body,
        media_type=media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{book.filename}.{fmt}"',
            "Cache-Control": "no-store",
        },
    )


def engagement_export(
    request: Request, db: Session, library: Library, caller: Caller, engagement: Engagement, fmt: str
) -> Response:
    """`fmt` "xlsx": the whole workbook; "csv": every catalogue's answers in one table."""
    with writer(request, db) as audited:
        book = exports.export_engagement(audited, library, engagement, caller, today=clock.today(), fmt=fmt)
        ids = catalogue_ids(audited, engagement.id)
    titles = [c.title if (c := library.catalogue(i)) else i for i in ids]
    return _download(book, fmt, exports.answers_sheet(book, titles) if fmt == "csv" else None)


def register_export(request: Request, db: Session, caller: Caller, what: str, fmt: str) -> Response:
    """The portfolio, the certificate register or the evidence library, as the caller may read it."""
    with writer(request, db) as audited:
        book = exports.export_register(audited, caller, what, today=clock.today(), fmt=fmt)
    return _download(book, fmt)


def soa_export(
    request: Request, db: Session, library: Library, caller: Caller, engagement: Engagement, fmt: str
) -> Response:
    """The Statement of Applicability as XLSX, CSV or a tagged PDF (404 when the engagement does
    not assess ISO/IEC 27001)."""
    with writer(request, db) as audited:
        book = exports.export_soa(audited, library, engagement, caller, today=clock.today(), fmt=fmt)
        supplier = organisation_names(audited, [engagement.supplier_org_id]).get(
            engagement.supplier_org_id, ""
        )
    if fmt != "pdf":
        return _download(book, fmt)
    pdf = documents.pdf_of(documents.soa_html({"book": book, "supplier": supplier, "today": clock.today()}))
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="{book.filename}.pdf"',
            "Cache-Control": "no-store",
        },
    )


def _zip_response(request: Request, bundle: bundles.Bundle) -> StreamingResponse:
    return StreamingResponse(
        bundles.zip_chunks(request.app.state.store, bundle),
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="{bundle.name}.zip"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def engagement_bundle(
    request: Request, db: Session, caller: Caller, engagement: Engagement
) -> StreamingResponse:
    """The evidence linked to the engagement as a zip with its manifest, streamed as it is built."""
    with writer(request, db) as audited:
        bundle = bundles.plan_engagement_bundle(audited, caller, engagement)
    return _zip_response(request, bundle)


def submission_bundle(
    request: Request, db: Session, caller: Caller, submission: Submission, engagement: Engagement
) -> StreamingResponse:
    """The evidence a submission was decided on, with the ISAS or rejection notice once decided."""
    with writer(request, db) as audited:
        bundle = bundles.plan_submission_bundle(audited, caller, engagement, submission)
        decided = approvals.decision_for(audited, submission.id) is not None
    if decided:
        pdf, name = statements.statement_pdf(request, db, caller, submission, engagement)
        bundle = bundles.with_statement(bundle, pdf, name)
    return _zip_response(request, bundle)


# --- big exports in the background (app.services.downloads) -------------------------------


def wants_background(request: Request) -> bool:
    """The page asked for the file to be made in the background (`?background=1`)."""
    return request.query_params.get("background") == "1"


def wants_async(request: Request) -> bool:
    """The API client asked for an asynchronous answer (RFC 7240 `Prefer: respond-async`)."""
    tokens = (part.split("=", 1)[0].strip().lower() for part in request.headers.get("prefer", "").split(","))
    return "respond-async" in set(tokens) or wants_background(request)


def queue_download(request: Request, db: Session, caller: Caller, wanted: downloads.Wanted) -> Download:
    """Record the download for the caller (audited, in a short write transaction committed
    before the job is queued, so the worker finds the row) and queue the job that makes it. A
    queue that cannot be reached leaves the row failed, with a message and a retry."""
    with writer(request, db) as audited:
        row, new = downloads.request_download(audited, caller, wanted)
    db.commit()  # a write request's own session (writer used it): committed before the job runs
    if new:
        queue_job(request, row)
    return row


def queue_job(request: Request, row: Download) -> None:
    try:
        _download_jobs(request.app.state).make_download(row.id, queued_at=time.time())
    except Exception:  # the queue's storage failed; see queue_download
        log.warning("could not queue download %s", row.id, exc_info=True)
        downloads.mark_unqueued(request.app.state.engine, row.id)
        row.state, row.message = (
            downloads.FAILED,
            "The job queue could not be reached. Try again in a moment.",
        )


def retry_download(request: Request, db: Session, caller: Caller, download_id: str) -> Download:
    """Ask again for a failed or expired download (only its owner may)."""
    with writer(request, db) as audited:
        row = downloads.retry(audited, caller, download_id)
    db.commit()  # the POST's own session: committed before the job runs
    queue_job(request, row)
    return row


def download_content(request: Request, db: Session, caller: Caller, download_id: str) -> StreamingResponse:
    """The ready file, streamed from the store; the fetch audited first."""
    with writer(request, db) as audited:
        row = downloads.fetch(audited, caller, download_id)
    chunks = downloads.content(request.app.state.store, row)
    return StreamingResponse(
        chunks,
        media_type=row.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{row.filename}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


def _download_jobs(state: Any) -> Jobs:
    """The app's job-queue handle, made on first use for the app's current settings."""
    held = getattr(state, "download_jobs", None)
    if held is None or held[0] is not state.settings:
        from app.adapters.jobs import make_huey
        from app.jobs import Jobs

        jobs = Jobs(make_huey(state.settings), state.settings, engine=state.engine, store=state.store)
        held = (state.settings, jobs)
        state.download_jobs = held
    jobs_held: Jobs = held[1]
    return jobs_held
