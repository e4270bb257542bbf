"""The supplier's evidence library: uploads (streamed, then registered), versions, links to
controls, who may read, audited downloads, and the library listing.

`store_upload` is the upload use case for every face (pages, API, certificate files reuse its
parts `release` and `forget`): the bytes arrive with no transaction open, the checks run in a
short one, the object is made durable with none open, and the rows and the audit event are
written and committed in a last one. It is the one service that commits, because the object
store and the database must agree: an upload is acknowledged only once its row is committed,
and an object no row refers to is removed again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from anyio import to_thread
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from app import clock
from app.adapters.storage import EmptyFile, EvidenceStore, Upload
from app.domain import dates
from app.domain.access import SUPPLIER_ROLES, Action, Actor, Role, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Library
from app.domain.errors import Conflict, Denied, InvalidInput, NotFound, Refused, UnsupportedType
from app.domain.evidence import Kind, Marking
from app.models import Engagement, Evidence, EvidenceLink, utcnow
from app.services import scanning
from app.services.caller import Caller
from app.services.engagements import catalogue_ids, parties
from app.services.responses import engagement_control

KINDS = tuple(Kind)
MARKINGS = tuple(Marking)


@dataclass(frozen=True, slots=True)
class EvidenceMeta:
    title: str
    kind: str = "other"
    marking: str = "OFFICIAL"
    effective_on: str = ""
    expires_on: str = ""


@dataclass(frozen=True, slots=True)
class StoredFile:
    sha256: str
    size: int
    media_type: str
    file_name: str


def parse_meta(meta: EvidenceMeta) -> tuple[dict[str, str], date | None, date | None]:
    problems: dict[str, str] = {}
    if not 1 <= len(meta.title.strip()) <= 200:
        problems["title"] = "Give the evidence a title (up to 200 characters)."
    if meta.kind not in KINDS:
        problems["kind"] = f"Kind must be one of {', '.join(KINDS)}."
    if meta.marking not in MARKINGS:
        problems["marking"] = "Protective marking must be OFFICIAL or OFFICIAL-SENSITIVE."
    effective = dates.read(meta.effective_on, "effective_on", "Effective date", problems)
    expires = dates.read(meta.expires_on, "expires_on", "Expiry date", problems)
    if effective and expires and expires <= effective:
        problems["expires_on"] = "The expiry date must be after the effective date."
    return problems, effective, expires


def check_upload(
    session: Session,
    library: Library,
    engagement: Engagement,
    actor: Actor,
    meta: EvidenceMeta,
    control_ids: list[str],
) -> tuple[date | None, date | None]:
    """Everything about an upload that can be refused before any byte is stored."""
    if not can(actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier uploads evidence.",
            action="evidence_uploaded",
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    problems, effective, expires = parse_meta(meta)
    in_engagement = {
        c.id
        for cid in catalogue_ids(session, engagement.id)
        if (cat := library.catalogue(cid))
        for c in cat.controls
    }
    unknown = [c for c in control_ids if c not in in_engagement]
    if unknown:
        problems["control_ids"] = f"Not controls of this engagement: {', '.join(unknown[:5])}."
    if problems:
        raise InvalidInput(next(iter(problems.values())), details=problems)
    return effective, expires


def register(
    session: Session,
    engagement: Engagement,
    actor: Actor,
    stored: StoredFile,
    meta: EvidenceMeta,
    control_ids: list[str],
    *,
    effective_on: date | None,
    expires_on: date | None,
    supersedes: Evidence | None = None,
) -> Evidence:
    """Record a stored file as evidence of the engagement's supplier and link it to controls."""
    evidence = Evidence(
        supplier_org_id=engagement.supplier_org_id,
        family_id="",
        title=" ".join(meta.title.split()),
        kind=Kind(meta.kind),
        marking=Marking(meta.marking),
        file_name=stored.file_name,
        media_type=stored.media_type,
        size=stored.size,
        sha256=stored.sha256,
        effective_on=effective_on,
        expires_on=expires_on,
        uploaded_by_id=actor.user_id,
    )
    if supersedes is not None:
        evidence.family_id, evidence.version = supersedes.family_id, supersedes.version + 1
        supersedes.superseded_at = utcnow()
        session.add(supersedes)
    else:
        evidence.family_id = evidence.id
    session.add(evidence)
    session.flush()
    for control_id in dict.fromkeys(control_ids):
        session.add(
            EvidenceLink(
                engagement_id=engagement.id,
                control_id=control_id,
                evidence_id=evidence.id,
                linked_by_id=actor.user_id,
            )
        )
    if supersedes is not None:
        take_over_links(session, supersedes.id, evidence, actor.user_id)
    session.flush()
    return evidence


def take_over_links(session: Session, old_id: str, new: Evidence, user_id: str) -> None:
    """A new version of evidence takes over every control link of the old one (an evidence
    upload's new version and a certificate's new file alike)."""
    for link in list(session.exec(select(EvidenceLink).where(EvidenceLink.evidence_id == old_id))):
        session.add(
            EvidenceLink(
                engagement_id=link.engagement_id,
                control_id=link.control_id,
                evidence_id=new.id,
                linked_by_id=user_id,
            )
        )
        session.delete(link)


def _refused(action: str, evidence_id: str) -> Refused:
    return Refused("No such evidence.", action=action, object_type="evidence", object_id=evidence_id)


def owned(session: Session, actor: Actor, evidence_id: str, *, action: str | None = None) -> Evidence:
    """Evidence of the actor's own supplier organisation (anything else is 'not found').

    With `action`, a missing id is refused (and so audited) under that action too, and so is
    someone else's evidence; without, a missing id is a plain NotFound."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        if action is not None:
            raise _refused(action, evidence_id)
        raise NotFound("No such evidence.")
    if actor.role not in SUPPLIER_ROLES or evidence.supplier_org_id != actor.org_id:
        raise _refused(action or AuditAction.EVIDENCE_MANAGED, evidence.id)
    return evidence


def readable(session: Session, actor: Actor, evidence_id: str, *, action: str | None = None) -> Evidence:
    """Evidence the actor may read: their own supplier's, or linked into one of their buyer's
    engagements. `action` as for `owned`."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        if action is not None:
            raise _refused(action, evidence_id)
        raise NotFound("No such evidence.")
    if actor.role in SUPPLIER_ROLES and evidence.supplier_org_id == actor.org_id:
        return evidence
    if actor.role is Role.BUYER_ADVISOR:
        shared = session.exec(
            select(func.count())
            .select_from(EvidenceLink)
            .join(Engagement, col(Engagement.id) == EvidenceLink.engagement_id)
            .where(
                col(EvidenceLink.evidence_id).in_(
                    select(Evidence.id).where(Evidence.family_id == evidence.family_id)
                ),
                Engagement.buyer_org_id == actor.org_id,
            )
        ).one()
        if shared:
            return evidence
    raise _refused(action or AuditAction.EVIDENCE_VIEWED, evidence.id)


@dataclass(frozen=True, slots=True)
class Item:
    """One piece of evidence as its page and the API show it: the row, every version (newest
    first), and whether the caller's organisation owns it (may upload a new version)."""

    evidence: Evidence
    versions: list[Evidence]
    is_owner: bool


def item(session: Session, actor: Actor, evidence_id: str) -> Item:
    """One piece of evidence the actor may read, with its versions; anything else is refused."""
    row = readable(session, actor, evidence_id, action=AuditAction.EVIDENCE_VIEWED)
    return Item(row, versions(session, row), row.supplier_org_id == actor.org_id)


def download(
    session: Session, caller: Caller, evidence_id: str, *, inline: bool, scanning_on: bool = False
) -> Evidence:
    """The use case "download evidence": refuse unless readable, or while its malware scan
    forbids it (app.services.scanning.check_download), else audit `evidence_downloaded`.
    Run it in a write session that commits before a single byte leaves."""
    row = readable(session, caller.actor, evidence_id, action=AuditAction.EVIDENCE_DOWNLOADED)
    scanning.check_download(session, row, scanning_on=scanning_on)
    caller.record(
        session,
        AuditAction.EVIDENCE_DOWNLOADED,
        object_type="evidence",
        object_id=row.id,
        details={"sha256": row.sha256, "inline": inline},
    )
    session.flush()
    return row


def link(
    session: Session,
    library: Library,
    engagement: Engagement,
    caller: Caller,
    control_id: str,
    evidence_id: str,
) -> None:
    """Link a piece of the supplier's library to a control of the engagement, audited as
    `evidence_linked` (linking it again changes nothing but is audited the same)."""
    actor = caller.actor
    if not can(actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier links evidence.",
            action=AuditAction.EVIDENCE_LINKED,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    engagement_control(library, session, engagement, control_id)
    evidence = session.get(Evidence, evidence_id) if evidence_id else None
    if evidence is None or evidence.supplier_org_id != engagement.supplier_org_id:
        # The id comes from the form, not the address: a bad choice, not a missing page.
        raise InvalidInput(
            "Choose evidence from your organisation's library.", details={"evidence_id": "unknown"}
        )
    if evidence.superseded_at is not None:
        raise InvalidInput("Link the newest version of this evidence.")
    known = session.get(EvidenceLink, (engagement.id, control_id, evidence_id))
    if known is None:
        session.add(
            EvidenceLink(
                engagement_id=engagement.id,
                control_id=control_id,
                evidence_id=evidence_id,
                linked_by_id=actor.user_id,
            )
        )
    _record_link(session, caller, AuditAction.EVIDENCE_LINKED, engagement, control_id, evidence_id)


def unlink(
    session: Session, engagement: Engagement, caller: Caller, control_id: str, evidence_id: str
) -> None:
    """Remove a control's link to a piece of evidence, audited as `evidence_unlinked`."""
    if not can(caller.actor, Action.UPLOAD_EVIDENCE, parties(engagement)):
        raise Denied(
            "Only the supplier unlinks evidence.",
            action=AuditAction.EVIDENCE_UNLINKED,
            object_type="engagement",
            object_id=engagement.id,
            engagement_id=engagement.id,
        )
    row = session.get(EvidenceLink, (engagement.id, control_id, evidence_id))
    if row is None:
        raise NotFound("That evidence is not linked to this control.")
    session.delete(row)
    _record_link(session, caller, AuditAction.EVIDENCE_UNLINKED, engagement, control_id, evidence_id)


def _record_link(
    session: Session,
    caller: Caller,
    action: AuditAction,
    engagement: Engagement,
    control_id: str,
    evidence_id: str,
) -> None:
    caller.record(
        session,
        action,
        object_type="evidence",
        object_id=evidence_id,
        engagement_id=engagement.id,
        details={"control_id": control_id},
    )
    session.flush()


def linked_to(session: Session, engagement_id: str, control_id: str) -> list[Evidence]:
    """The evidence linked to one control of an engagement (oldest upload first)."""
    return links_by_control(session, engagement_id).get(control_id, [])


def links_by_control(session: Session, engagement_id: str) -> dict[str, list[Evidence]]:
    """Every control's linked evidence in one query."""
    rows = session.exec(
        select(EvidenceLink.control_id, Evidence)
        .join(Evidence, col(Evidence.id) == EvidenceLink.evidence_id)
        .where(EvidenceLink.engagement_id == engagement_id)
        .order_by(col(Evidence.uploaded_at))
    )
    out: dict[str, list[Evidence]] = defaultdict(list)
    for control_id, evidence in rows:
        out[control_id].append(evidence)
    return out


def versions(session: Session, evidence: Evidence) -> list[Evidence]:
    query = (
        select(Evidence)
        .where(Evidence.family_id == evidence.family_id)
        .order_by(col(Evidence.version).desc())
    )
    return list(session.exec(query))


def library_items(
    session: Session, org_id: str, *, q: str = "", kind: str = "", expiry: str = "", today: date | None = None
) -> list[tuple[Evidence, list[tuple[str, str]]]]:
    """Current versions of the supplier's evidence with where each is used (engagement ref, control)."""
    query = select(Evidence).where(Evidence.supplier_org_id == org_id, col(Evidence.superseded_at).is_(None))
    if q.strip():
        pattern = f"%{q.strip().lower()}%"
        query = query.where(
            or_(func.lower(Evidence.title).like(pattern), func.lower(Evidence.file_name).like(pattern))
        )
    if kind:
        if kind not in KINDS:
            return []  # no evidence is of a kind that does not exist
        query = query.where(Evidence.kind == Kind(kind))
    today = today or clock.today()
    if expiry == "expired":
        query = query.where(col(Evidence.expires_on) < today)
    elif expiry == "expiring":
        query = query.where(
            col(Evidence.expires_on) >= today,
            col(Evidence.expires_on) <= date.fromordinal(today.toordinal() + 30),
        )
    items = list(session.exec(query.order_by(col(Evidence.uploaded_at).desc())))
    usage: dict[str, list[tuple[str, str]]] = defaultdict(list)
    if items:
        rows = session.exec(
            select(EvidenceLink.evidence_id, Engagement.reference, EvidenceLink.control_id)
            .join(Engagement, col(Engagement.id) == EvidenceLink.engagement_id)
            .where(col(EvidenceLink.evidence_id).in_([e.id for e in items]))
        )
        for evidence_id, reference, control_id in rows:
            usage[evidence_id].append((reference, control_id))
    return [(e, sorted(usage.get(e.id, []))) for e in items]


def version_target(session: Session, actor: Actor, evidence_id: str) -> tuple[Evidence, Engagement]:
    """The newest version of the actor's own evidence and an engagement of its supplier to
    register the next version in (refused as 'not found' unless the actor owns it)."""
    old = owned(session, actor, evidence_id, action=AuditAction.EVIDENCE_VERSIONED)
    if old.superseded_at is not None:
        raise InvalidInput("Upload new versions against the newest version.")
    query = select(Engagement).where(Engagement.supplier_org_id == old.supplier_org_id)
    engagement = session.exec(query).first()
    if engagement is None:
        raise InvalidInput("Link this evidence to an engagement first.")
    return old, engagement


def release(session: Session) -> None:
    """End the session's transaction, and with it the SQLite write lock, before a body streams
    in or an object is made durable: nothing is held meanwhile. Rows loaded so far stay usable."""
    session.commit()


def forget(session: Session, store: EvidenceStore, key: str) -> None:
    """Remove a stored object that no evidence row refers to (identical bytes are shared)."""
    if session.exec(select(Evidence.id).where(Evidence.sha256 == key)).first() is None:
        store.delete(key)


@dataclass(frozen=True, slots=True)
class UploadIn:
    """What came with an upload besides its bytes (already parsed from the form).

    `allow_duplicate`: register the file even when the library already holds identical bytes.
    `queue_scan`: set when malware scanning is on: the object commits as pending
    (app.services.scanning) and this is called with its SHA-256 once the upload has committed."""

    meta: EvidenceMeta
    control_ids: list[str]
    file_name: str  # safe: app.domain.files.safe_filename
    allow_duplicate: bool = False
    queue_scan: Callable[[str], None] | None = None


# The refusal messages of an upload, in one place for the pages, the drop zone and the API.
ACCEPTED = "Upload a PDF, Office document, image or text file."
EMPTY = "The file is empty."
# What a refused file looks like, from its first bytes (checked in this order).
LOOKS_LIKE: tuple[tuple[tuple[bytes, ...], str], ...] = (
    ((b"MZ",), "a Windows program"),
    ((b"\x7fELF",), "a Linux program"),
    ((b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe"), "a Mac program"),
    ((b"#!",), "a script"),
    ((b"<svg", b"<?xml"), "an SVG or XML file (these can carry scripts)"),
    ((b"<!doctype html", b"<html", b"<script", b"<!--", b"<head", b"<body"), "a web page"),
)
# Zip (OOXML, OpenDocument) and OLE2 (older Office) containers that were still refused.
CONTAINERS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
UNCHECKABLE = (
    "This document cannot be checked: it may contain macros, be encrypted or be damaged. "
    "Save it without macros, or as a PDF, and upload that."
)
# What a file's name claims it is, by extension.
CLAIMED = {
    "pdf": "a PDF",
    "doc": "a Word document",
    "docx": "a Word document",
    "xls": "an Excel workbook",
    "xlsx": "an Excel workbook",
    "ppt": "a PowerPoint presentation",
    "pptx": "a PowerPoint presentation",
    "odt": "an OpenDocument file",
    "ods": "an OpenDocument file",
    "odp": "an OpenDocument file",
    "png": "an image",
    "jpg": "an image",
    "jpeg": "an image",
    "gif": "an image",
    "webp": "an image",
    "txt": "a text file",
    "csv": "a CSV file",
    "eml": "an email",
    "zip": "a zip file",
}


def default_title(file_name: str) -> str:
    """The title an upload gets when none is given: the file name without its extension,
    underscores as spaces ("access_control_policy.pdf" -> "access control policy")."""
    dot = file_name.rfind(".")
    stem = file_name[:dot] if dot > 0 else file_name  # ".profile" keeps its name
    return " ".join(stem.replace("_", " ").split())[:200] or file_name[:200]


def too_large_message(limit_mb: int) -> str:
    """413: the file passed `max_upload_mb` (while streaming, or already by its declared length)."""
    return f"This file is larger than the {limit_mb} MB limit. Upload a smaller file, or split it into parts."


def refused_type_message(head: bytes, file_name: str) -> str:
    """415, said the way a person can act on: what the content looks like, what its name claimed,
    and what is accepted (the allow-list itself is app.domain.files.sniff_media_type)."""
    if head.startswith(CONTAINERS):
        return UNCHECKABLE
    start = head.lstrip()[:64].lower()
    looks = next(
        (what for magic, what in LOOKS_LIKE if start.startswith(tuple(m.lower() for m in magic))), None
    )
    extension = file_name.rsplit(".", 1)[-1].lower() if "." in file_name else ""
    claimed = CLAIMED.get(extension)
    if looks and claimed:
        return f"This looks like {looks}, not {claimed}. {ACCEPTED}"
    if looks:
        return f"This looks like {looks}. {ACCEPTED}"
    if claimed:
        return f"This file's name ends in .{extension}, but its content is not {claimed}. {ACCEPTED}"
    return f"This type of file is not accepted. {ACCEPTED}"


class DuplicateUpload(Conflict):
    """409: the library already holds these exact bytes (same SHA-256, a current version); the
    details name that item so a page can offer it instead of a second copy."""

    def __init__(self, existing: Evidence) -> None:
        super().__init__(
            f"You already have this file: {existing.title}",
            details={"evidence_id": existing.id, "title": existing.title, "sha256": existing.sha256},
        )
        self.existing = existing


def existing_copy(session: Session, org_id: str, sha256: str) -> Evidence | None:
    """The current version in `org_id`'s library with exactly these bytes, if any (oldest first)."""
    query = (
        select(Evidence)
        .where(
            Evidence.supplier_org_id == org_id,
            Evidence.sha256 == sha256,
            col(Evidence.superseded_at).is_(None),
        )
        .order_by(col(Evidence.uploaded_at))
    )
    return session.exec(query).first()


async def store_upload(
    session: Session,
    library: Library,
    store: EvidenceStore,
    engagement: Engagement,
    caller: Caller,
    upload: Upload | None,
    data: UploadIn,
    *,
    supersedes: Evidence | None = None,
) -> Evidence:
    """The use case "upload evidence" (or a new version of it), once its body has streamed into
    `upload` with no transaction open: check, make durable, register, audit
    `evidence_uploaded`, commit. Nothing is kept if anything fails. Identical bytes already in the
    supplier's library are refused as `DuplicateUpload` (409) unless `data.allow_duplicate`; a new
    version is never refused for that (it may restore an older file on purpose).

    Database work runs in the thread pool: waiting for the write lock never blocks the event loop.
    """
    if upload is None:
        raise InvalidInput("Choose a file to upload.", details={"file": "missing"})

    def check() -> tuple[date | None, date | None]:
        try:
            return check_upload(session, library, engagement, caller.actor, data.meta, data.control_ids)
        finally:
            release(session)  # a read: keep no lock while the object is made durable (S3: a network put)

    try:
        effective, expires = await to_thread.run_sync(check)
        try:
            media_type = await to_thread.run_sync(upload.sniff)
        except EmptyFile:
            media_type = None
        if upload.size == 0:
            raise InvalidInput(EMPTY, details={"file": "empty"})
        if media_type is None:
            raise UnsupportedType(refused_type_message(upload.head, data.file_name))
        stored = await to_thread.run_sync(upload.finish)
    except BaseException:
        upload.abort()
        raise

    def insert() -> Evidence:
        if supersedes is not None:
            session.refresh(supersedes, with_for_update=True)  # another version may have landed meanwhile
            if supersedes.superseded_at is not None:
                raise InvalidInput("A newer version was uploaded meanwhile: upload against that one.")
        elif not data.allow_duplicate:
            existing = existing_copy(session, engagement.supplier_org_id, stored.key)
            if existing is not None:
                raise DuplicateUpload(existing)  # offer the library item, not a second copy
        row = register(
            session,
            engagement,
            caller.actor,
            StoredFile(stored.key, stored.size, stored.media_type or media_type, data.file_name),
            data.meta,
            data.control_ids,
            effective_on=effective,
            expires_on=expires,
            supersedes=supersedes,
        )
        caller.record(
            session,
            AuditAction.EVIDENCE_UPLOADED,
            object_type="evidence",
            object_id=row.id,
            engagement_id=engagement.id,
            details={"sha256": stored.key, "size": stored.size, "controls": data.control_ids},
        )
        if data.queue_scan is not None:
            scanning.mark_pending(session, stored.key)
        session.commit()  # acknowledged only once committed (see the module docstring)
        return row

    def undo() -> None:
        session.rollback()
        forget(session, store, stored.key)
        session.commit()

    try:
        row = await to_thread.run_sync(insert)
    except Exception:
        await to_thread.run_sync(undo)
        raise
    if data.queue_scan is not None:
        data.queue_scan(row.sha256)
    return row


@dataclass(frozen=True, slots=True)
class LibraryPage:
    """One page of the supplier's library, and the cursor of the next (None: the last page)."""

    items: list[tuple[Evidence, list[tuple[str, str]]]]
    next_cursor: str | None


def library_page(
    session: Session,
    actor: Actor,
    *,
    q: str = "",
    kind: str = "",
    expiry: str = "",
    today: date,
    limit: int | None = None,
    cursor: str | None = None,
) -> LibraryPage:
    """The use case "the evidence library": suppliers only (anyone else is refused as 'not
    found'), newest upload first, `limit` items (None: all) after `cursor` (the last id of the
    previous page)."""
    if actor.role not in SUPPLIER_ROLES:
        raise Refused(
            "There is nothing at this address.",
            action=AuditAction.EVIDENCE_LIBRARY,
            object_type="page",
            object_id="/evidence",
        )
    items = library_items(session, actor.org_id, q=q, kind=kind, expiry=expiry, today=today)
    start = 0
    if cursor:
        ids = [e.id for e, _ in items]
        if cursor not in ids:
            raise InvalidInput("The cursor is not valid for this list.", details={"cursor": "unknown"})
        start = ids.index(cursor) + 1
    end = len(items) if limit is None else start + limit
    chosen, more = items[start:end], end < len(items)
    return LibraryPage(chosen, chosen[-1][0].id if more and chosen else None)
