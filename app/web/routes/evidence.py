"""Evidence: upload (streamed), the supplier's library, versions, and audited downloads."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session, select
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response, StreamingResponse

from app import clock
from app.domain.access import Action
from app.domain.catalogue import Library
from app.domain.errors import InvalidInput, NotFound, PayloadTooLarge, UnsupportedType
from app.domain.files import download_name, safe_filename
from app.models import Engagement, Evidence
from app.services import evidence as evidence_service
from app.storage import EvidenceStore, TooLarge, Upload
from app.web import auth
from app.web.deps import LibraryDep, SessionDep, writer
from app.web.htmx import trigger
from app.web.loaders import engagement_for
from app.web.templating import render
from app.web.uploads import Pace, read_multipart

router = APIRouter(include_in_schema=False, dependencies=[Depends(auth.require_principal)])
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
MULTIPART_OVERHEAD = 1024 * 1024


def store_of(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.store
    return store


def refuse_oversized(request: Request) -> None:
    """413 before reading the body when the declared length is already too big."""
    limit = request.app.state.settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(
            f"The file is larger than the {request.app.state.settings.max_upload_mb} MB limit."
        )


def release(db: Session) -> None:
    """End the request's transaction, and with it the SQLite write lock, before a body streams
    in: nothing is held while bytes cross the network. Rows loaded so far stay usable."""
    db.commit()


async def receive_upload(
    request: Request,
    db: Session,
    library: Library,
    principal: auth.Principal,
    engagement: Engagement,
    *,
    supersedes: Evidence | None = None,
) -> Evidence:
    """Stream one file into the store while hashing, then record it; nothing is kept if anything fails.

    No transaction is open while the body arrives (a slow upload holds no lock; a stalled one is
    cut, see `Pace`). After the last byte the checks run in a short transaction, the object is
    made durable with none open, and the write lock is taken again only to insert the rows.
    Database work runs in the thread pool: waiting for the lock never blocks the event loop.
    """
    refuse_oversized(request)
    store = store_of(request)
    settings = request.app.state.settings
    await run_in_threadpool(release, db)
    uploads: list[Upload] = []

    def open_sink(filename: str) -> Upload:
        uploads.append(store.begin(filename=safe_filename(filename)))
        return uploads[-1]

    def abort_all() -> None:
        for item in uploads:
            item.abort()

    try:
        form = await read_multipart(request, open_sink, pace=Pace.of(settings))
    except TooLarge:
        abort_all()
        raise PayloadTooLarge(f"The file is larger than the {settings.max_upload_mb} MB limit.") from None
    except BaseException:
        abort_all()
        raise
    if not uploads or form.file_name is None:
        abort_all()
        raise InvalidInput("Choose a file to upload.", details={"file": "missing"})
    upload = uploads[0]
    control_ids = [c for c in form.fields.get("control_ids", []) if c.strip()] or [
        c for c in [request.query_params.get("control_id")] if c
    ]
    name = safe_filename(form.file_name)
    meta = evidence_service.EvidenceMeta(
        title=form.first("title") or name,
        kind=form.first("kind", "other") or "other",
        marking=form.first("marking", "OFFICIAL") or "OFFICIAL",
        effective_on=form.first("effective_on"),
        expires_on=form.first("expires_on"),
    )

    def check() -> tuple[date | None, date | None]:
        try:
            return evidence_service.check_upload(db, library, engagement, principal.actor, meta, control_ids)
        finally:
            release(db)  # a read: keep no lock while the object is made durable (S3: a network put)

    try:
        effective, expires = await run_in_threadpool(check)
        media_type = await run_in_threadpool(upload.sniff)
        if media_type is None:
            raise UnsupportedType(
                "That kind of file is not accepted: use PDF, Office, OpenDocument, images, text, CSV, "
                "email or zip."
            )
        if upload.size == 0:
            raise InvalidInput("The file is empty.", details={"file": "empty"})
        stored = await run_in_threadpool(upload.finish)
    except BaseException:
        upload.abort()
        raise

    def insert() -> Evidence:
        if supersedes is not None:
            db.refresh(supersedes, with_for_update=True)  # another version may have landed meanwhile
            if supersedes.superseded_at is not None:
                raise InvalidInput("A newer version was uploaded meanwhile: upload against that one.")
        row = evidence_service.register(
            db,
            engagement,
            principal.actor,
            evidence_service.StoredFile(stored.key, stored.size, stored.media_type or media_type, name),
            meta,
            control_ids,
            effective_on=effective,
            expires_on=expires,
            supersedes=supersedes,
        )
        auth.record(
            request,
            db,
            principal,
            "evidence_uploaded",
            object_type="evidence",
            object_id=row.id,
            engagement_id=engagement.id,
            details={"sha256": stored.key, "size": stored.size, "controls": control_ids},
        )
        db.commit()
        return row

    def undo() -> None:
        db.rollback()
        forget(db, store, stored.key)
        db.commit()

    try:
        return await run_in_threadpool(insert)
    except Exception:
        await run_in_threadpool(undo)
        raise


def forget(db: Session, store: EvidenceStore, key: str) -> None:
    """Remove a stored object that no evidence row refers to (identical bytes are shared)."""
    if db.exec(select(Evidence.id).where(Evidence.sha256 == key)).first() is None:
        store.delete(key)


@router.post("/engagements/{engagement_id}/evidence", name="evidence:upload")
async def upload(
    request: Request,
    engagement_id: str,
    db: SessionDep,
    library: LibraryDep,
    principal: auth.CurrentPrincipal,
) -> Response:
    engagement = engagement_for(request, db, principal, engagement_id, Action.UPLOAD_EVIDENCE)
    row = await receive_upload(request, db, library, principal, engagement)
    if request.headers.get("accept", "").startswith("application/json"):
        from starlette.responses import JSONResponse

        return trigger(
            JSONResponse({"id": row.id, "title": row.title, "sha256": row.sha256}, status_code=201),
            "readiness-changed",
        )
    control_id = request.query_params.get("control_id")
    if control_id:
        target = request.url_for("assessment:control", engagement_id=engagement.id, control_id=control_id)
    else:
        target = request.url_for("evidence:show", evidence_id=row.id)
    return RedirectResponse(str(target), status_code=303)


@router.get("/evidence", name="evidence:index")
def index(
    request: Request,
    db: SessionDep,
    principal: auth.CurrentPrincipal,
    q: str = Query("", max_length=200),
    kind: str = Query("", max_length=20),
    expiry: str = Query("", max_length=10),
) -> Response:
    from app.domain.access import SUPPLIER_ROLES

    if principal.user.role not in SUPPLIER_ROLES:
        auth.record_denied(
            request, db, principal, "evidence_library", object_type="page", object_id="/evidence"
        )
        raise NotFound("There is nothing at this address.")
    items = evidence_service.library_items(
        db, principal.user.organisation_id, q=q, kind=kind, expiry=expiry, today=clock.today()
    )
    context = {"items": items, "q": q, "kind": kind, "expiry": expiry, "kinds": evidence_service.KINDS}
    return render(request, "evidence/index.html", context)


def readable(
    request: Request, db: Session, principal: auth.Principal, evidence_id: str, action: str
) -> Evidence:
    try:
        return evidence_service.readable(db, principal.actor, evidence_id)
    except NotFound:
        auth.record_denied(request, db, principal, action, object_type="evidence", object_id=evidence_id)
        raise


@router.get("/evidence/{evidence_id}", name="evidence:show")
def show(request: Request, evidence_id: str, db: SessionDep, principal: auth.CurrentPrincipal) -> Response:
    row = readable(request, db, principal, evidence_id, "evidence_viewed")
    context = {
        "evidence": row,
        "versions": evidence_service.versions(db, row),
        "is_owner": row.supplier_org_id == principal.user.organisation_id,
    }
    return render(request, "evidence/show.html", context)


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name and a plain ASCII fallback."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/evidence/{evidence_id}/content", name="evidence:download")
def download(
    request: Request, evidence_id: str, db: SessionDep, principal: auth.CurrentPrincipal, inline: bool = False
) -> Response:
    row = readable(request, db, principal, evidence_id, "evidence_downloaded")
    # Audited, and committed, before a single byte leaves: in a write transaction of its own,
    # since a read never upgrades to a write (deps.get_session). The read has ended too, so
    # nothing is held while the bytes go out.
    with writer(request, db) as audit_db:
        auth.record(
            request,
            audit_db,
            principal,
            "evidence_downloaded",
            object_type="evidence",
            object_id=row.id,
            details={"sha256": row.sha256, "inline": inline},
        )
    store = store_of(request)
    if not store.exists(row.sha256):
        raise NotFound("The file for this evidence is missing from the store; tell your administrator.")
    show_inline = inline and row.media_type in INLINE_TYPES
    headers = {
        "Content-Disposition": content_disposition(
            "inline" if show_inline else "attachment", download_name(row.file_name, row.media_type)
        ),
        "Content-Length": str(row.size),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'",
        "Cache-Control": "private, no-store",
    }

    def chunks() -> Iterator[bytes]:
        yield from store.open(row.sha256)

    return StreamingResponse(chunks(), media_type=row.media_type, headers=headers)


@router.post("/evidence/{evidence_id}/versions", name="evidence:new-version")
async def new_version(
    request: Request, evidence_id: str, db: SessionDep, library: LibraryDep, principal: auth.CurrentPrincipal
) -> Response:
    try:
        old = evidence_service.owned(db, principal.actor, evidence_id)
    except NotFound:
        auth.record_denied(
            request, db, principal, "evidence_versioned", object_type="evidence", object_id=evidence_id
        )
        raise
    if old.superseded_at is not None:
        raise InvalidInput("Upload new versions against the newest version.")
    engagement = db.exec(select(Engagement).where(Engagement.supplier_org_id == old.supplier_org_id)).first()
    if engagement is None:
        raise InvalidInput("Link this evidence to an engagement first.")
    row = await receive_upload(request, db, library, principal, engagement, supersedes=old)
    return RedirectResponse(str(request.url_for("evidence:show", evidence_id=row.id)), status_code=303)
