"""Import an OSCAL catalog or profile as a new catalogue, and the library every worker serves:
the catalogue files plus the imported catalogues (issue 17 item 6).

Who may import: administrators (they manage catalogues) and buyer advisors (a buyer adds its own
policy), `Action.IMPORT_CATALOGUE`; anyone else is refused with 403 (who may import is public
knowledge), audited. An imported catalogue is shared reference data, like the files: every
signed-in user can read it and any engagement can use it. An import is all or nothing: a
document with any problem (not JSON, fails trestle's OSCAL model, a profile naming an unknown
catalogue or control, a catalogue id or control id already in the library, a broken catalogue
rule) is refused with every problem listed and no row written.

The library (`library`) costs one small query per request: the ids and SHA-256s of the imported
rows. It is rebuilt only when that list changes, so a worker never serves a stale list and a
page's statement count stays fixed.
"""

from __future__ import annotations

import hashlib
import logging
import re
import threading

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from app.adapters import catalogue_json, oscal_import
from app.adapters.oscal_import import ImportRefused, Problem
from app.domain.access import Action, can
from app.domain.audit import AuditAction
from app.domain.catalogue import Catalogue, Library, build_library, validate
from app.domain.errors import Denied, InvalidInput, PayloadTooLarge
from app.models import ImportedCatalogue
from app.services.caller import Caller

MAX_MB = 10
MAX_BYTES = MAX_MB * 1024 * 1024
TOO_LARGE = (
    f"The file is larger than {MAX_MB} MB: import an OSCAL catalog or profile in JSON of at most {MAX_MB} MB."
)
REFUSED = "The document cannot be imported: nothing was created. Each problem is listed with where it is."
CATALOGUE_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
log = logging.getLogger(__name__)

_lock = threading.Lock()
_built: dict[tuple[str, tuple[tuple[str, str], ...]], Library] = {}


def _versions(session: Session) -> tuple[tuple[str, str], ...]:
    query = select(ImportedCatalogue.id, ImportedCatalogue.sha256).order_by(
        col(ImportedCatalogue.imported_at), col(ImportedCatalogue.id)
    )
    return tuple((str(i), str(s)) for i, s in session.exec(query).all())


def library(session: Session, files: Library) -> Library:
    """The catalogue files' library plus every imported catalogue (in the order imported)."""
    versions = _versions(session)
    if not versions:
        return files
    key = (files.fingerprint, versions)
    found = _built.get(key)
    if found is not None:
        return found
    rows = session.exec(
        select(ImportedCatalogue.id, ImportedCatalogue.catalogue).order_by(
            col(ImportedCatalogue.imported_at), col(ImportedCatalogue.id)
        )
    ).all()
    catalogues = list(files.catalogues)
    for catalogue_id, text in rows:
        catalogue = catalogue_json.loads(text)
        if validate([*catalogues, catalogue], files.questions):
            # a catalogue file changed since the import and now clashes: the files win
            log.warning("imported catalogue %s clashes with the catalogue files: not served", catalogue_id)
            continue
        catalogues.append(catalogue)
    digest = hashlib.sha256(files.fingerprint.encode())
    for catalogue_id, sha256 in versions:
        digest.update(f"\0{catalogue_id}:{sha256}".encode())
    built = build_library(catalogues, files.questions, digest.hexdigest()[:32])
    with _lock:
        if len(_built) > 8:
            _built.clear()
        _built[key] = built
    return built


def _refused(problems: list[Problem]) -> InvalidInput:
    return InvalidInput(REFUSED, details=[{"field": p.path, "message": p.message} for p in problems])


def build(current: Library, data: bytes, catalogue_id: str) -> tuple[str, Catalogue]:
    """The document's kind and the catalogue it makes, checked against `current`; or
    InvalidInput whose details list every problem (`field`: where, `message`)."""
    if len(data) > MAX_BYTES:
        raise PayloadTooLarge(TOO_LARGE)
    try:
        kind, body = oscal_import.read_document(data)
        wanted = catalogue_id.strip() or oscal_import.suggested_id(body)
        id_problems = []
        if not CATALOGUE_ID.match(wanted):
            message = "Use 2 to 63 lower-case letters, digits and hyphens, starting with a letter or digit."
            id_problems.append(Problem("catalogue_id", f"{wanted!r} cannot be a catalogue id. {message}"))
        elif current.catalogue(wanted) is not None:
            id_problems.append(
                Problem("catalogue_id", f"There is already a catalogue {wanted!r}: choose another id.")
            )
        if id_problems:
            raise ImportRefused(id_problems)
        if kind == "catalog":
            catalogue = oscal_import.from_catalog(body, wanted, set(current.controls))
        else:
            catalogue = oscal_import.from_profile(body, wanted, current)
    except ImportRefused as refused:
        raise _refused(refused.problems) from None
    rules = validate([*current.catalogues, catalogue], current.questions)
    if rules:
        raise _refused([Problem(_where(p, wanted), p) for p in rules])
    return kind, catalogue


def _where(problem: str, catalogue_id: str) -> str:
    """The control a catalogue rule names ("<catalogue>: control <id>: ..."), as a path."""
    head = problem.split(": ")
    if len(head) > 2 and head[0] == catalogue_id and head[1].startswith("control "):
        return f"control {head[1].removeprefix('control ')}"
    return "catalogue"


def authorise(caller: Caller, catalogue_id: str = "") -> None:
    """Refuse (403, audited) anyone but administrators and buyer advisors."""
    if not can(caller.actor, Action.IMPORT_CATALOGUE):
        raise Denied(
            "Only administrators and buyer advisors import catalogues.",
            action=AuditAction.CATALOGUE_IMPORTED,
            object_type="catalogue",
            object_id=catalogue_id.strip()[:64],
        )


def import_catalogue(
    session: Session, caller: Caller, files: Library, data: bytes, *, catalogue_id: str = ""
) -> tuple[ImportedCatalogue, Catalogue]:
    """Import `data` (an OSCAL catalog or profile, JSON) as catalogue `catalogue_id` (default:
    from its title). Audited `catalogue_imported`; flushed, not committed."""
    authorise(caller, catalogue_id)
    current = library(session, files)
    kind, catalogue = build(current, data, catalogue_id)
    row = ImportedCatalogue(
        id=catalogue.id,
        kind=kind,
        title=catalogue.title[:300],
        sha256=hashlib.sha256(data).hexdigest(),
        size_bytes=len(data),
        control_count=len(catalogue.controls),
        document=data.decode("utf-8-sig"),
        catalogue=catalogue_json.dumps(catalogue),
        imported_by_id=caller.actor.user_id,
        organisation_id=caller.actor.org_id or None,
    )
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # another worker imported the same id a moment ago
        session.rollback()
        raise _refused([Problem("catalogue_id", f"There is already a catalogue {catalogue.id!r}.")]) from None
    caller.record(
        session,
        AuditAction.CATALOGUE_IMPORTED,
        object_type="catalogue",
        object_id=catalogue.id,
        details={"kind": kind, "sha256": row.sha256, "controls": row.control_count, "title": row.title},
    )
    session.flush()
    return row, catalogue
