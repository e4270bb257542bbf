"""An OSCAL catalog or profile from an upload, for the catalogue page and the API alike (the
rules: app.services.catalogue_imports).

The document arrives as multipart (`file`, and optionally `catalogue_id` before it), with no
transaction open while it streams, held in memory up to 10 MB; then the import runs in the
thread pool in one write transaction and is committed here.
"""

from __future__ import annotations

from anyio import to_thread
from sqlmodel import Session
from starlette.requests import Request

from app.domain.catalogue import Catalogue
from app.domain.errors import InvalidInput
from app.http.uploads import ParsedForm, receive_small_file
from app.models import ImportedCatalogue
from app.services import catalogue_imports
from app.services.caller import Caller

NO_FILE = "Choose an OSCAL catalog or profile (a .json file) to import."


async def receive(request: Request, db: Session, form: ParsedForm) -> bytes:
    """The `file` part's bytes (the other fields go into `form`)."""
    limit = catalogue_imports.MAX_BYTES
    _, data = await receive_small_file(
        request, db, limit=limit, too_large=catalogue_imports.TOO_LARGE, into=form
    )
    if data is None:
        raise InvalidInput(NO_FILE, details=[{"field": "file", "message": NO_FILE}])
    return data


async def import_upload(
    request: Request, db: Session, caller: Caller, form: ParsedForm
) -> tuple[ImportedCatalogue, Catalogue]:
    """Refuse a caller who may not import before a byte is read; then receive, import, commit."""
    catalogue_imports.authorise(caller)
    data = await receive(request, db, form)
    files = request.app.state.library

    def run() -> tuple[ImportedCatalogue, Catalogue]:
        result = catalogue_imports.import_catalogue(
            db, caller, files, data, catalogue_id=form.first("catalogue_id")
        )
        db.commit()
        return result

    return await to_thread.run_sync(run)
