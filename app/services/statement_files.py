"""The statement of a decided submission (ISAS or rejection notice) as a PDF file, rendered once
and kept in the evidence store (Schedule 2.4 paras 4.5-4.7: the document the supplier keeps).

WeasyPrint takes seconds and loads Pango, so the PDF is rendered on the job queue when the
decision is recorded (job `attest.statements.render`) and stored as a named object
`statements/<plan SHA-256>-<variant>.pdf`. The variant digests the renderer's version and the
statement's HTML, so a changed template, renderer or wording renders a new file while the
same statement always finds the file already made. A download takes the stored file; when
there is none (the worker is stopped or has not reached the job yet) the request renders it
once and stores it, so nobody is left without a PDF. Two processes rendering one file at the
same moment both write the same bytes (WeasyPrint's output is a function of its input), and a
store write is atomic (a rename on disk, one PUT on S3): the second write changes nothing.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from sqlmodel import Session

from app.adapters import documents
from app.adapters.storage import EvidenceStore
from app.domain.errors import NotFound
from app.models import Engagement, Submission
from app.services.statement import statement_context

# Bump when the rendering changes in a way the HTML does not show (for example the PDF options).
RENDERER_VERSION = "1"
FOLDER = "statements/"
VERIFY_PATH = "/verify"  # the public verification page (web route approvals:verify)

# Striped locks (bounded, unlike one per file): renders of one file in one process take turns.
_LOCKS = tuple(threading.Lock() for _ in range(32))


@dataclass(frozen=True, slots=True)
class StatementFile:
    """One statement as the store keeps it: its store name, its HTML and its download name."""

    name: str
    html: str
    filename: str


def verify_url(base_url: str) -> str:
    """The verification address a PDF prints: the configured base URL's, never a request's
    Host header, so the job and a request render the same bytes and the address is canonical."""
    return base_url.rstrip("/") + VERIFY_PATH


def _renderer() -> str:
    try:
        weasyprint = metadata.version("weasyprint")
    except metadata.PackageNotFoundError:  # pragma: no cover - a dependency of the package
        weasyprint = "absent"
    return f"attest-statement-{RENDERER_VERSION}/weasyprint-{weasyprint}"


def cache_name(plan_sha256: str, html: str) -> str:
    """The store name of the PDF of `html`, a statement over the plan with `plan_sha256`."""
    variant = hashlib.sha256(f"{_renderer()}\n{html}".encode()).hexdigest()[:32]
    return f"{FOLDER}{plan_sha256}-{variant}.pdf"


def statement_file(context: dict[str, Any]) -> StatementFile:
    """The file for a statement's content (app.services.statement.statement_context)."""
    html = documents.statement_html(context)
    submission: Submission = context["submission"]
    return StatementFile(
        name=cache_name(submission.sha256, html),
        html=html,
        filename=documents.filename(context["decision"]),
    )


def cached_pdf(store: EvidenceStore, name: str) -> bytes | None:
    """The stored PDF, or None when it has not been rendered yet."""
    try:
        return store.get_bytes(name)
    except FileNotFoundError:
        return None


def _lock_for(name: str) -> threading.Lock:
    return _LOCKS[int(hashlib.sha256(name.encode()).hexdigest()[:8], 16) % len(_LOCKS)]


def pdf_bytes(store: EvidenceStore, file: StatementFile) -> tuple[bytes, bool]:
    """The PDF and whether it was rendered now (False: it came from the store). Within one
    process a second caller waits for the first's render instead of rendering again."""
    found = cached_pdf(store, file.name)
    if found is not None:
        return found, False
    with _lock_for(file.name):
        found = cached_pdf(store, file.name)
        if found is not None:
            return found, False
        pdf = documents.statement_pdf(file.html)
        store.put_bytes(file.name, pdf)
        return pdf, True


def file_for_submission(session: Session, submission_id: str, *, base_url: str) -> StatementFile | None:
    """The render job's use case: the file of the decided submission's statement, or None when
    there is nothing to render (no such submission, or not decided: nothing to retry either).
    Reads only, so the caller can end its transaction before the seconds-long render; the
    download, not the render, is what the audit log records."""
    submission = session.get(Submission, submission_id)
    engagement = session.get(Engagement, submission.engagement_id) if submission else None
    if submission is None or engagement is None:
        return None
    try:
        context = statement_context(session, submission, engagement, verify_url=verify_url(base_url))
    except NotFound:
        return None
    return statement_file(context)
