"""Answers from a spreadsheet, for the pages and the API alike (the rules: app.services.imports).

The file arrives as multipart (`file`, then the column choices `column_<field>`), with no
transaction open while it streams, held in memory up to MAX_IMPORT_MB (a spreadsheet of 5,000
answers is far smaller). A dry run keeps the file as the person's one import draft for that
engagement, a small named object in the evidence store (`import-drafts/<engagement>.<user>`,
replaced by their next dry run), so the page's "Import these answers" needs no second upload:
it names the draft's SHA-256, and nothing is imported unless the draft is still that file.
"""

from __future__ import annotations

from collections.abc import Mapping

from anyio import to_thread
from sqlmodel import Session
from starlette.requests import Request

from app.domain import imports as rules
from app.domain.catalogue import Library
from app.domain.errors import InvalidInput
from app.http.deps import writer
from app.http.exports import queue_job
from app.http.uploads import ParsedForm, receive_small_file, store_of
from app.models import Download, Engagement
from app.services import downloads, imports, plan_imports
from app.services.caller import Caller

MAX_IMPORT_MB = 10
TOO_LARGE = f"The file is larger than {MAX_IMPORT_MB} MB: import at most 5,000 answers at a time."
NO_DRAFT = "There is no checked file to import: choose the file and check it again."


async def receive_sheet(request: Request, db: Session) -> tuple[ParsedForm, bytes | None]:
    """The form's fields and the `file` part's bytes (None when no file was chosen)."""
    return await receive_small_file(request, db, limit=MAX_IMPORT_MB * 1024 * 1024, too_large=TOO_LARGE)


def mapping_of(form: ParsedForm, layout: rules.Layout = rules.ANSWERS) -> dict[str, str]:
    """The person's column choices: field -> heading (`column_status=Compliance`)."""
    return {name: value for name in layout.fields if (value := form.first(f"column_{name}").strip())}


def draft_name(engagement: Engagement, caller: Caller, kind: str = "answers") -> str:
    """The caller's one draft per engagement and kind (answers keep their name of before)."""
    suffix = "" if kind == "answers" else f".{kind}"
    return f"import-drafts/{engagement.id}.{caller.actor.user_id}{suffix}"


def draft_of(
    request: Request, engagement: Engagement, caller: Caller, data: bytes | None, kind: str = "answers"
) -> bytes:
    """`data`, or (no file sent) the caller's import draft for the engagement."""
    if data is not None:
        return data
    try:
        return store_of(request).get_bytes(draft_name(engagement, caller, kind))
    except FileNotFoundError:
        raise InvalidInput(NO_DRAFT, details={"file": "no_draft"}) from None


def dry_run(
    request: Request,
    db: Session,
    library: Library,
    caller: Caller,
    engagement: Engagement,
    data: bytes | None,
    mapping: Mapping[str, str],
    *,
    from_draft: bool = False,
    kind: str = "answers",
) -> imports.Plan:
    """What importing `data` (or, `from_draft`, the draft) would change, row by row; a file sent
    is kept as the caller's draft. Writes nothing else."""
    if data is None and not from_draft:
        raise InvalidInput("Choose a file to import.", details={"file": "missing"})
    sheet = draft_of(request, engagement, caller, data, kind)
    if kind == "answers":
        result = imports.plan(db, library, engagement, sheet, mapping)
    else:
        result = plan_imports.plan(db, library, engagement, sheet, mapping, kind)
    db.rollback()  # a read: hold no lock while the draft is stored
    if data is not None:
        store_of(request).put_bytes(draft_name(engagement, caller, kind), data)
    if mapping and not result.mapping_problems:  # the person's choices found every column
        layout = rules.ANSWERS if kind == "answers" else plan_imports.layout_of(kind)
        imports.remember_mapping(db, engagement, caller, result, layout)
        db.commit()
    return result


def import_now(
    request: Request,
    db: Session,
    library: Library,
    caller: Caller,
    engagement: Engagement,
    data: bytes | None,
    mapping: Mapping[str, str],
    *,
    expected_sha256: str = "",
    kind: str = "answers",
) -> imports.Plan | Download:
    """Import `data`, or (no file sent) the caller's checked draft if its SHA-256 is
    `expected_sha256`; all of it or nothing, committed here. More than BACKGROUND_ROWS rows
    read (blank rows aside), and the import is queued for the worker instead (the download row
    is returned)."""
    if data is None and not expected_sha256:
        raise InvalidInput("Choose a file to import.", details={"file": "missing"})
    if kind != "answers":
        return import_plan_rows(
            request,
            db,
            library,
            caller,
            engagement,
            data,
            mapping,
            expected_sha256=expected_sha256,
            kind=kind,
        )
    sheet = draft_of(request, engagement, caller, data)
    checked = imports.plan(db, library, engagement, sheet, mapping)
    imports.refuse(checked, expected_sha256)  # errors answer at once, in the worker's words
    if len(checked.rows) > imports.BACKGROUND_ROWS:
        return queue_import(request, db, caller, engagement, checked, sheet)
    result = imports.apply(db, library, engagement, caller, sheet, mapping, expected_sha256=expected_sha256)
    db.commit()
    return result


def import_plan_rows(
    request: Request,
    db: Session,
    library: Library,
    caller: Caller,
    engagement: Engagement,
    data: bytes | None,
    mapping: Mapping[str, str],
    *,
    expected_sha256: str,
    kind: str,
) -> imports.Plan:
    """Risks or register entries (at most MAX_ROWS, a register rather than a catalogue): imported
    in the request, all or nothing, committed here; the person's column choices kept."""
    sheet = draft_of(request, engagement, caller, data, kind)
    result = plan_imports.apply(
        db, library, engagement, caller, sheet, mapping, kind, expected_sha256=expected_sha256
    )
    if mapping:
        imports.remember_mapping(db, engagement, caller, result, plan_imports.layout_of(kind))
    db.commit()
    return result


def queue_import(
    request: Request, db: Session, caller: Caller, engagement: Engagement, checked: imports.Plan, sheet: bytes
) -> Download:
    """A big import for the worker: the checked file stored for its job (outside any
    transaction), the download row recorded (audited `download_requested`) and committed, then
    the job queued; its result shows on the person's Downloads list."""
    db.rollback()  # the plan was a read: hold no lock while the file is stored
    store_of(request).put_bytes(downloads.import_object(caller, checked.sha256), sheet)
    with writer(request, db) as audited:
        row, new = downloads.request_import(audited, caller, engagement, checked)
    db.commit()
    if new:
        queue_job(request, row)
    return row


async def run_import(
    request: Request,
    db: Session,
    library: Library,
    caller: Caller,
    engagement: Engagement,
    *,
    dry_run_only: bool,
    kind: str = "answers",
) -> imports.Plan | Download:
    """Receive the file and check or import it (`kind`: answers, risks or register); database
    work runs in the thread pool. A dry run always gives the plan; an import gives it too, or
    the download row of a queued big import of answers."""
    layout = rules.ANSWERS if kind == "answers" else plan_imports.layout_of(kind)
    form, data = await receive_sheet(request, db)
    mapping = mapping_of(form, layout)
    expected = form.first("sha256").strip()
    if dry_run_only:
        return await to_thread.run_sync(
            lambda: dry_run(
                request, db, library, caller, engagement, data, mapping, from_draft=bool(expected), kind=kind
            )
        )
    return await to_thread.run_sync(
        lambda: import_now(
            request, db, library, caller, engagement, data, mapping, expected_sha256=expected, kind=kind
        )
    )
