"""The plan document and the OSCAL exports as downloads, for the pages and the API alike: each
download audited in a short write transaction of its own (app.http.deps.writer), then the
rendering, outside it."""

from __future__ import annotations

import json

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import Response

from app import clock
from app.adapters import documents, plan_docx
from app.domain.catalogue import Library
from app.http.deps import writer
from app.models import Engagement
from app.services import oscal_exports, plan_document
from app.services.caller import Caller


def plan_pdf(
    request: Request, db: Session, library: Library, caller: Caller, engagement: Engagement
) -> Response:
    """The Security Management Plan as a tagged PDF, marked on every page."""
    with writer(request, db) as audited:
        context = plan_document.download_plan(audited, library, engagement, caller, today=clock.today())
        html = documents.plan_html(context)
        name = plan_document.filename(engagement, context["version"])
    pdf = documents.pdf_of(html)
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def plan_word(
    request: Request, db: Session, library: Library, caller: Caller, engagement: Engagement
) -> Response:
    """The Security Management Plan as a Word document: the PDF's content, another renderer."""
    with writer(request, db) as audited:
        context = plan_document.download_plan(
            audited, library, engagement, caller, today=clock.today(), fmt="docx"
        )
        name = plan_document.filename(engagement, context["version"], "docx")
    content = plan_docx.plan_docx(context)
    return Response(
        content,
        media_type=plan_docx.MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


def oscal_json(
    request: Request, db: Session, library: Library, caller: Caller, engagement: Engagement, kind: str
) -> Response:
    """One OSCAL 1.1 document of the engagement (app.services.oscal_exports.KINDS) as JSON."""
    with writer(request, db) as audited:
        document = oscal_exports.export_oscal(audited, library, engagement, caller, kind, now=clock.now())
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2),
        media_type="application/json",
        headers={"Cache-Control": "no-store"},
    )
