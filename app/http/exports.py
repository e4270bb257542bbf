"""Exports as downloads, for the pages and the API alike: each one audited in a short write
transaction of its own (a GET reads; app.http.deps.writer), then the file."""

from __future__ import annotations

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app import clock
from app.adapters import documents
from app.adapters.spreadsheets import XLSX_TYPE, Sheet, csv_text, xlsx_bytes
from app.domain.catalogue import Library
from app.http import statements
from app.http.deps import writer
from app.models import Engagement, Submission
from app.services import approvals, bundles, exports
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, organisation_names


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
