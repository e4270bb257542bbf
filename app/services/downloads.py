"""Big exports made in the background (issue 17 item 8): each person's Downloads list.

A request with `?background=1` (pages) or `Prefer: respond-async` (API) for the engagement
workbook, a register, the Statement of Applicability or an evidence bundle records a
`Download` row for the person who asked (`request_download`, audited `download_requested`) and
queues the job `attest.downloads.make`, which calls `make` here. The job checks again that the
person may still see what they asked for, calls the same use case as the immediate download
(app.services.exports / bundles, which audits the export as it always does), writes the file
into the evidence store as the named object `downloads/<id>.<extension>` (in chunks: a bundle is
never held whole in memory), and records progress as it goes, each step in a short transaction
of its own (no write transaction is held while a file is written).

States: queued -> running (progress in per cent) -> ready (the link) or failed (a message the
person can act on, and a retry). Only the person who asked may see or fetch a download; anyone
else gets "not found", audited (`refuse`). Fetching the file is audited (`download_fetched`).
A ready file is kept for KEEP_DAYS; the hourly sweep (`sweep`) removes the file and marks the
row expired. Small requests (no `background`) still answer at once, as before.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine
from sqlmodel import Session, col, select

from app import clock
from app.adapters import documents, named_files, plan_docx
from app.adapters.spreadsheets import XLSX_TYPE, Sheet, csv_text, xlsx_bytes
from app.adapters.storage import EvidenceStore
from app.db import session_scope
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Role, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import AttestError, Conflict, Denied, NotFound, Refused
from app.models import Download, Engagement, Submission, User, utcnow
from app.services import approvals, audit, bundles, exports, imports, plan_document, statement_files
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, organisation_names, parties
from app.services.statement import download_statement

log = logging.getLogger("attest.downloads")

QUEUED, RUNNING, READY, FAILED, EXPIRED = "queued", "running", "ready", "failed", "expired"
ACTIVE = (QUEUED, RUNNING)
KEEP_DAYS = 7
MAX_ACTIVE = 10  # files one person may have waiting or being made at once
LIST_LIMIT = 100
FOLDER = "downloads/"
PROGRESS_EVERY_SECONDS = 0.5

ENGAGEMENT, REGISTER, SOA, ENGAGEMENT_BUNDLE, SUBMISSION_BUNDLE = (
    "engagement",
    "register",
    "soa",
    "engagement_bundle",
    "submission_bundle",
)
PLAN = "plan"  # the whole Security Management Plan (PDF or Word), as the plan page's links make it
IMPORT = "import"  # an answers import too big for the request (app.services.imports.BACKGROUND_ROWS)
IMPORT_FOLDER = "import-jobs/"  # the checked file, kept until its job has run
FORMATS = {
    IMPORT: ("csv",),  # the import's report: every row and its change
    ENGAGEMENT: ("xlsx", "csv"),
    REGISTER: ("xlsx", "csv"),
    SOA: ("xlsx", "csv", "pdf"),
    ENGAGEMENT_BUNDLE: ("zip",),
    SUBMISSION_BUNDLE: ("zip",),
    PLAN: ("pdf", "docx"),
}
REGISTER_TITLES = {
    "portfolio": "Certificate portfolio",
    "certificates": "Certificate register",
    "evidence": "Evidence library",
}
MEDIA_TYPES = {
    "xlsx": XLSX_TYPE,
    "csv": "text/csv; charset=utf-8",
    "pdf": "application/pdf",
    "zip": "application/zip",
    "docx": plan_docx.MEDIA_TYPE,
}
MISSING_FILE = (
    "A file the bundle needs is missing from the evidence store. An administrator can check the "
    "store with `attest verify-evidence`; then try again."
)
UNEXPECTED = (
    "The file could not be made because of an unexpected error (the worker's log has the details). "
    "Try again; if it fails again, tell your administrator."
)
UNQUEUED = "The job queue could not be reached. Try again in a moment."
GONE_ACCESS = "You can no longer see what this file was made from, so it was not made."
GONE_ANSWER = "You can no longer answer this engagement, so nothing was imported."
IMPORT_NOT_AGAIN = (
    "An import is not run again from this list: check the file again on the engagement's import page, "
    "then import it."
)


@dataclass(frozen=True, slots=True)
class Wanted:
    """What a person asks to be made: the kind, its parameters (format, which register, which
    submission) and the engagement it is about (None for a register)."""

    kind: str
    fmt: str
    engagement_id: str | None = None
    what: str = ""  # the register
    submission_id: str = ""

    def params(self) -> dict[str, str]:
        out = {"format": self.fmt}
        if self.what:
            out["what"] = self.what
        if self.submission_id:
            out["submission_id"] = self.submission_id
        return out


def params_of(row: Download) -> dict[str, str]:
    value = json.loads(row.params or "{}")
    return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}


def _title(session: Session, wanted: Wanted) -> str:
    fmt = wanted.fmt.upper()
    if wanted.kind == REGISTER:
        return f"{REGISTER_TITLES.get(wanted.what, wanted.what)} ({fmt})"
    engagement = session.get(Engagement, wanted.engagement_id) if wanted.engagement_id else None
    reference = engagement.reference if engagement else ""
    if wanted.kind == ENGAGEMENT:
        return f"{reference}: engagement {'workbook' if wanted.fmt == 'xlsx' else 'answers'} ({fmt})"
    if wanted.kind == SOA:
        return f"{reference}: Statement of Applicability ({fmt})"
    if wanted.kind == PLAN:
        return f"{reference}: Security Management Plan ({fmt})"
    if wanted.kind == SUBMISSION_BUNDLE:
        submission = session.get(Submission, wanted.submission_id)
        version = f" version {submission.version}" if submission else ""
        return f"{reference}: evidence of the plan{version} (ZIP)"
    return f"{reference}: evidence bundle (ZIP)"


def check_register(actor: Actor, what: str) -> None:
    """Refuse a register the actor may not read, as its page and its immediate export do
    (app.services.certificates.portfolio.portfolio, app.services.evidence.library_page), before
    anything is queued."""
    if what == "portfolio" and actor.role is not Role.BUYER_ADVISOR:
        raise Denied(
            "The certificate portfolio is for buyer security advisors.",
            action=AuditAction.PORTFOLIO,
            object_type="page",
            object_id="/portfolio",
        )
    if what == "evidence" and actor.role not in SUPPLIER_ROLES:
        raise Refused(
            "There is nothing at this address.",
            action=AuditAction.EVIDENCE_LIBRARY,
            object_type="page",
            object_id="/evidence",
        )


def request_download(session: Session, caller: Caller, wanted: Wanted) -> tuple[Download, bool]:
    """Record a file to be made for the caller (who the route has already let see its subject);
    (the row, whether it is new). The same file already waiting or being made for them is
    returned instead of a second one; more than MAX_ACTIVE waiting files is a conflict."""
    if wanted.fmt not in FORMATS.get(wanted.kind, ()):
        raise NotFound("There is nothing at this address.")
    if wanted.kind == REGISTER:
        check_register(caller.actor, wanted.what)
    if wanted.kind == SOA and exports.ISO_CATALOGUE not in catalogue_ids(session, wanted.engagement_id or ""):
        raise NotFound(exports.NOT_ASSESSED)  # as the immediate download answers
    params = json.dumps(wanted.params(), sort_keys=True)
    active = list(
        session.exec(
            select(Download).where(Download.user_id == caller.actor.user_id, col(Download.state).in_(ACTIVE))
        )
    )
    for row in active:
        if row.kind == wanted.kind and row.params == params and row.engagement_id == wanted.engagement_id:
            return row, False
    if len(active) >= MAX_ACTIVE:
        raise Conflict(
            f"You already have {len(active)} files being prepared. "
            "Wait for one of them to finish, then ask again."
        )
    row = Download(
        user_id=caller.actor.user_id,
        engagement_id=wanted.engagement_id,
        kind=wanted.kind,
        params=params,
        title=_title(session, wanted),
        requested_from=caller.who.address[:100],
    )
    session.add(row)
    session.flush()
    _audit_request(session, caller, row, retry=False)
    return row, True


def _audit_request(session: Session, caller: Caller, row: Download, *, retry: bool) -> None:
    caller.record(
        session,
        AuditAction.DOWNLOAD_REQUESTED,
        object_type="download",
        object_id=row.id,
        engagement_id=row.engagement_id,
        details={"kind": row.kind, **params_of(row), **({"retry": True} if retry else {})},
    )


def own_download(session: Session, caller: Caller, download_id: str, action: AuditAction) -> Download:
    """The caller's own download; anyone else's (or none) is "not found", audited as a refusal
    of `action`. Nobody else, not even an administrator, sees another person's files."""
    row = session.get(Download, download_id)
    if row is None or row.user_id != caller.actor.user_id:
        raise Refused(
            "No such download.",
            action=str(action),
            object_type="download",
            object_id=download_id,
            engagement_id=None,
        )
    return row


def listing(session: Session, user_id: str) -> list[Download]:
    """The person's downloads, newest first (the latest LIST_LIMIT)."""
    query = (
        select(Download)
        .where(Download.user_id == user_id)
        .order_by(col(Download.requested_at).desc(), col(Download.id).desc())
        .limit(LIST_LIMIT)
    )
    return list(session.exec(query))


def retry(session: Session, caller: Caller, download_id: str) -> Download:
    """Queue a failed (or expired) download again for the person who asked for it."""
    row = own_download(session, caller, download_id, AuditAction.DOWNLOAD_REQUESTED)
    if row.kind == IMPORT:
        raise Conflict(IMPORT_NOT_AGAIN)
    if row.state not in (FAILED, EXPIRED):
        raise Conflict("Only a file that failed or has expired can be asked for again.")
    row.state, row.progress, row.message = QUEUED, 0, ""
    row.started_at = row.finished_at = row.expires_at = None
    row.requested_at = utcnow()
    session.add(row)
    session.flush()
    _audit_request(session, caller, row, retry=True)
    return row


def fetch(session: Session, caller: Caller, download_id: str) -> Download:
    """The ready download the caller may now fetch, the fetch audited (`download_fetched`)."""
    row = own_download(session, caller, download_id, AuditAction.DOWNLOAD_FETCHED)
    if row.state == EXPIRED:
        raise NotFound(f"This file was kept for {KEEP_DAYS} days and has been removed. Ask for it again.")
    if row.state != READY:
        raise Conflict(
            "This file is not ready yet." if row.state in ACTIVE else "This file could not be made."
        )
    caller.record(
        session,
        AuditAction.DOWNLOAD_FETCHED,
        object_type="download",
        object_id=row.id,
        engagement_id=row.engagement_id,
        details={"kind": row.kind, **params_of(row), "size": row.size},
    )
    return row


def content(store: EvidenceStore, row: Download) -> Iterator[bytes]:
    """The ready file's bytes, in chunks, from the store."""
    try:
        return named_files.open_chunks(store, row.object_name)
    except FileNotFoundError:
        raise NotFound("The file is no longer in the store. Ask for it again.") from None


# --- big imports (app.services.imports) -------------------------------------------------


def import_object(caller: Caller, sha256: str) -> str:
    """Where the checked file waits for its job: one name per person and file."""
    return f"{IMPORT_FOLDER}{caller.actor.user_id}.{sha256}"


def request_import(
    session: Session, caller: Caller, engagement: Engagement, result: imports.Plan
) -> tuple[Download, bool]:
    """Record an import of the checked `result` (its file already stored at `import_object`) for
    the worker; (the row, whether it is new). The same file with the same columns already waiting
    for the caller is returned instead of a second import; more than MAX_ACTIVE is a conflict."""
    params = json.dumps(
        {
            "format": "csv",
            "sha256": result.sha256,
            "mapping": json.dumps(result.mapping, sort_keys=True),
            "object": import_object(caller, result.sha256),
        },
        sort_keys=True,
    )
    active = list(
        session.exec(
            select(Download).where(Download.user_id == caller.actor.user_id, col(Download.state).in_(ACTIVE))
        )
    )
    for row in active:
        if row.kind == IMPORT and row.params == params and row.engagement_id == engagement.id:
            return row, False
    if len(active) >= MAX_ACTIVE:
        raise Conflict(
            f"You already have {len(active)} files being prepared. "
            "Wait for one of them to finish, then ask again."
        )
    count, read = len(result.changes), len(result.rows)
    row = Download(
        user_id=caller.actor.user_id,
        engagement_id=engagement.id,
        kind=IMPORT,
        params=params,
        title=f"{engagement.reference}: import of {read:,} rows ({count:,} answers to save)",
        requested_from=caller.who.address[:100],
    )
    session.add(row)
    session.flush()
    _audit_request(session, caller, row, retry=False)
    return row, True


REPORT_HEADERS = ("Sheet", "Row", "Control", "Change", "Status")


def _drop_import_file(store: EvidenceStore, row: Download) -> None:
    """An import's checked file, once its job has run (either way)."""
    name = params_of(row).get("object", "")
    if row.kind == IMPORT and name.startswith(IMPORT_FOLDER):
        named_files.remove(store, name)


def _import(engine: Engine, store: EvidenceStore, library: Library, caller: Caller, row: Download) -> Made:
    """The import job: the same use case as an import in the request (app.services.imports.apply)
    in one write transaction, from the checked file; all of it or nothing. The report lists
    every row and what it changed."""
    params = params_of(row)
    mapping = json.loads(params.get("mapping", "{}") or "{}")
    with _writing(engine) as session:
        engagement = session.get(Engagement, row.engagement_id) if row.engagement_id else None
        if engagement is None or not can(caller.actor, Action.ANSWER_CONTROL, parties(engagement)):
            raise NotFound(GONE_ANSWER)
        try:
            data = store.get_bytes(params.get("object", ""))
        except FileNotFoundError:
            raise NotFound(imports.GONE_FILE) from None
        result = imports.apply(
            session, library, engagement, caller, data, mapping, expected_sha256=params.get("sha256", "")
        )
        session.commit()
    report = Sheet(
        "Import",
        REPORT_HEADERS,
        [
            (r.sheet, r.number, r.control_id, r.change, str(r.answer.get("status", "")).replace("_", " "))
            for r in result.rows
            if r.change != "skipped"
        ],
    )
    count = len(result.changes)
    return Made(
        f"attest-import-{row.id}.csv",
        MEDIA_TYPES["csv"],
        [csv_text(report).encode("utf-8-sig")],
        summary=f"{count:,} answer{'' if count == 1 else 's'} imported; the report lists every row.",
    )


# --- the job ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Made:
    filename: str
    media_type: str
    chunks: Iterable[bytes]
    summary: str = ""  # shown with the ready file (an import: how many answers it saved)


class _Progress:
    """Records a running download's progress, at most every PROGRESS_EVERY_SECONDS, each in a
    short write transaction of its own."""

    def __init__(self, engine: Engine, download_id: str) -> None:
        self.engine, self.download_id, self.last = engine, download_id, 0.0

    def __call__(self, percent: int, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last < PROGRESS_EVERY_SECONDS:
            return
        self.last = now
        with _writing(self.engine) as session:
            row = session.get(Download, self.download_id)
            if row is not None and row.state == RUNNING:
                row.progress = max(row.progress, min(99, percent))
                session.add(row)
                session.commit()


def _writing(engine: Engine) -> AbstractContextManager[Session]:
    return session_scope(engine, write=True)


def _reading(engine: Engine) -> AbstractContextManager[Session]:
    return session_scope(engine, read_only=True)


def caller_for(user: User, row: Download, audit_key: bytes) -> Caller:
    """The person who asked, as the services see them, audited from the address they asked from."""
    actor = Actor(user.id, user.organisation_id, user.role)
    return Caller(
        actor,
        audit.Who(user_id=user.id, org_id=user.organisation_id, address=row.requested_from[:64]),
        audit_key,
    )


def _viewable(session: Session, caller: Caller, engagement_id: str | None) -> Engagement:
    engagement = session.get(Engagement, engagement_id) if engagement_id else None
    if engagement is None or not can(caller.actor, Action.VIEW_ENGAGEMENT, parties(engagement)):
        raise NotFound(GONE_ACCESS)
    return engagement


def _book_file(book: exports.Workbook, fmt: str, table: Sheet | None = None) -> Made:
    """The workbook as the immediate download writes it (app.http.exports._download)."""
    if fmt == "csv":
        body = csv_text(table or book.sheets[0]).encode("utf-8-sig")
    else:
        body = xlsx_bytes(book.sheets, title=book.title)
    return Made(f"{book.filename}.{fmt}", MEDIA_TYPES[fmt], [body])


def _build(
    engine: Engine,
    store: EvidenceStore,
    library: Library,
    caller: Caller,
    row: Download,
    *,
    base_url: str,
    progress: Callable[..., None],
) -> Made:
    """Make the file with the same use case as the immediate download (which audits the export),
    in one write transaction for its reads and its audit record; the bytes are written after it."""
    params = params_of(row)
    fmt = params.get("format", "")
    today = clock.today()
    if row.kind == IMPORT:
        return _import(engine, store, library, caller, row)
    with _writing(engine) as session:
        if row.kind == REGISTER:
            check_register(caller.actor, params.get("what", ""))
            book = exports.export_register(session, caller, params.get("what", ""), today=today, fmt=fmt)
            session.commit()
            return _book_file(book, fmt)
        engagement = _viewable(session, caller, row.engagement_id)
        if row.kind == ENGAGEMENT:
            book = exports.export_engagement(session, library, engagement, caller, today=today, fmt=fmt)
            ids = catalogue_ids(session, engagement.id)
            session.commit()
            titles = [c.title if (c := library.catalogue(i)) else i for i in ids]
            return _book_file(book, fmt, exports.answers_sheet(book, titles) if fmt == "csv" else None)
        if row.kind == SOA:
            book = exports.export_soa(session, library, engagement, caller, today=today, fmt=fmt)
            supplier = organisation_names(session, [engagement.supplier_org_id]).get(
                engagement.supplier_org_id, ""
            )
            session.commit()
            if fmt != "pdf":
                return _book_file(book, fmt)
            progress(30, force=True)
            pdf = documents.pdf_of(documents.soa_html({"book": book, "supplier": supplier, "today": today}))
            return Made(f"{book.filename}.pdf", MEDIA_TYPES["pdf"], [pdf])
        if row.kind == PLAN:
            context = plan_document.download_plan(session, library, engagement, caller, today=today, fmt=fmt)
            name = plan_document.filename(engagement, context["version"], fmt)
            session.commit()
            progress(30, force=True)
            body = (
                documents.pdf_of(documents.plan_html(context))
                if fmt == "pdf"
                else plan_docx.plan_docx(context)
            )
            return Made(name, MEDIA_TYPES[fmt], [body])
        statement: statement_files.StatementFile | None = None
        if row.kind == SUBMISSION_BUNDLE:
            submission = session.get(Submission, params.get("submission_id", ""))
            if submission is None or submission.engagement_id != engagement.id:
                raise NotFound(GONE_ACCESS)
            bundle = bundles.plan_submission_bundle(session, caller, engagement, submission)
            if approvals.decision_for(session, submission.id) is not None:
                verify_url = statement_files.verify_url(base_url)
                context = download_statement(session, submission, engagement, caller, verify_url=verify_url)
                statement = statement_files.statement_file(context)
        else:
            bundle = bundles.plan_engagement_bundle(session, caller, engagement)
        session.commit()
    if statement is not None:
        pdf, _ = statement_files.pdf_bytes(store, statement)
        bundle = bundles.with_statement(bundle, pdf, statement.filename)
    return Made(
        f"{bundle.name}.zip",
        MEDIA_TYPES["zip"],
        _counted(bundles.zip_chunks(store, bundle), bundle, progress),
    )


def _counted(
    chunks: Iterator[bytes], bundle: bundles.Bundle, progress: Callable[..., None]
) -> Iterator[bytes]:
    """The zip's chunks, reporting progress against the evidence's total size as they pass."""
    total = max(1, sum(e.size for e in bundle.entries))
    written = 0
    for chunk in chunks:
        written += len(chunk)
        progress(10 + int(85 * min(written, total) / total))
        yield chunk


def explain(error: BaseException) -> str:
    """The message a person sees for a failed file: the use case's own words where it has them."""
    if isinstance(error, AttestError):
        return error.message
    if isinstance(error, FileNotFoundError):
        return MISSING_FILE
    return UNEXPECTED


def make(
    engine: Engine,
    store: EvidenceStore,
    library: Library,
    audit_key: bytes,
    download_id: str,
    *,
    base_url: str,
    now: datetime | None = None,
) -> str:
    """The job: make one queued download into the store and mark it ready, or failed with a
    message. A job that runs again (a worker died mid-way) makes the file again from the start."""
    with _writing(engine) as session:
        row = session.get(Download, download_id)
        if row is None or row.state not in ACTIVE:
            return "nothing to do"
        row.state, row.progress, row.message = RUNNING, 5, ""
        row.started_at = now or utcnow()
        row.attempts += 1
        session.add(row)
        session.commit()
        user = session.get(User, row.user_id)
    progress = _Progress(engine, download_id)
    try:
        if user is None or not user.is_active:
            raise NotFound("Your account can no longer sign in, so the file was not made.")
        made = _build(
            engine,
            store,
            library,
            caller_for(user, row, audit_key),
            row,
            base_url=base_url,
            progress=progress,
        )
        progress(10, force=True)
        extension = made.filename.rsplit(".", 1)[-1]
        name = f"{FOLDER}{row.id}.{extension}"
        size = named_files.put_chunks(store, name, made.chunks)
    except Exception as error:
        message = explain(error)
        log.log(
            logging.INFO if isinstance(error, AttestError) else logging.ERROR,
            "download %s (%s) failed: %s",
            download_id,
            row.kind,
            error,
            exc_info=not isinstance(error, AttestError),
        )
        _drop_import_file(store, row)  # a failed import is not run again: the file is checked again
        _finish(engine, download_id, state=FAILED, message=message)
        return "failed"
    done = now or utcnow()
    _drop_import_file(store, row)
    _finish(
        engine,
        download_id,
        state=READY,
        message=made.summary,
        filename=made.filename,
        media_type=made.media_type,
        object_name=name,
        size=size,
        finished_at=done,
        expires_at=done + timedelta(days=KEEP_DAYS),
    )
    return "ready"


def _finish(engine: Engine, download_id: str, *, state: str, **fields: Any) -> None:
    with _writing(engine) as session:
        row = session.get(Download, download_id)
        if row is None:
            return
        row.state = state
        row.progress = 100 if state == READY else row.progress
        row.finished_at = fields.pop("finished_at", None) or utcnow()
        for key, value in fields.items():
            setattr(row, key, value)
        session.add(row)
        session.commit()


def mark_unqueued(engine: Engine, download_id: str) -> None:
    """The queue could not take the job: the row says so, and offers the retry."""
    _finish(
        engine,
        download_id,
        state=FAILED,
        message=UNQUEUED,
    )


def sweep(engine: Engine, store: EvidenceStore, *, now: datetime | None = None) -> int:
    """Remove every ready file whose KEEP_DAYS have passed and mark its row expired, one row per
    short transaction; how many were removed."""
    cutoff = now or utcnow()
    with _reading(engine) as session:
        query = select(Download.id).where(Download.state == READY, col(Download.expires_at) <= cutoff)
        ids = list(session.exec(query))
    removed = 0
    for download_id in ids:
        with _writing(engine) as session:
            row = session.get(Download, download_id)
            if row is None or row.state != READY:
                continue
            if row.object_name:
                named_files.remove(store, row.object_name)
            row.state, row.object_name = EXPIRED, ""
            session.add(row)
            session.commit()
            removed += 1
    if removed:
        log.info("removed %d prepared downloads older than %d days", removed, KEEP_DAYS)
    return removed
