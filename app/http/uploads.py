"""Streaming multipart/form-data: form fields in memory (small, bounded), the one file part
straight into an evidence store upload, so no upload is ever held in memory.

Every body that is not well-formed multipart is refused with 400 and a message that says
what is wrong: broken boundaries, a part header that is not `Name: value`, part headers
longer than MAX_PART_HEADER_BYTES or more than MAX_PART_HEADERS of them, and a body that
ends before its closing boundary (a cut-off upload is never stored as complete). A body
that stalls for the idle timeout, or arrives slower than the minimum rate once the grace
period is over, is cut with 408. The caller discards whatever it stored on any of these.

`receive_file` is the HTTP half of an upload for every face: refuse a body declared too big,
end the request's transaction, stream the file part into the evidence store; the other half,
checking and registering it, is `app.services.evidence.store_upload`. `file_response` sends a
stored file back.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import StreamingResponse

from app.adapters.storage import EvidenceStore, TooLarge, Upload
from app.config import Settings
from app.domain.catalogue import Library
from app.domain.errors import Forbidden, InvalidInput, NotFound, PayloadTooLarge, UnsupportedType
from app.domain.files import download_name, safe_filename
from app.domain.text import first_refused, refusal_message
from app.http import csrf
from app.http.date_fields import date_value, date_wording
from app.http.deps import writer
from app.http.statements import _jobs as app_jobs
from app.models import Engagement, Evidence
from app.services import evidence as evidence_service
from app.services import scanning
from app.services.caller import Caller

log = logging.getLogger("attest.uploads")
MAX_FIELDS = 300
MAX_FIELD_BYTES = 20_000
MAX_PART_HEADER_BYTES = 4096  # one header line: room for a long UTF-8 file name, not for abuse
MAX_PART_HEADERS = 8
MULTIPART_OVERHEAD = 1024 * 1024
INLINE_TYPES = ("application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp")
CLOSE = {"Connection": "close"}  # the rest of the body is never read: the connection cannot be reused


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...


@dataclass
class ParsedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    file_name: str | None = None

    def first(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default


@dataclass(frozen=True, slots=True)
class Pace:
    """How slow a body may arrive: at most `idle_seconds` between chunks and, once
    `grace_seconds` have passed, at least `min_bytes_per_second` on average (0: no minimum)."""

    idle_seconds: float = 30.0
    min_bytes_per_second: int = 1024
    grace_seconds: float = 60.0

    @classmethod
    def of(cls, settings: Settings) -> Pace:
        return cls(
            settings.upload_idle_seconds,
            settings.upload_min_bytes_per_second,
            settings.upload_rate_grace_seconds,
        )


def malformed(reason: str) -> HTTPException:
    return HTTPException(400, f"The upload is not well-formed multipart/form-data: {reason}.", headers=CLOSE)


def too_slow(message: str) -> HTTPException:
    return HTTPException(408, f"{message} Nothing was stored; send it again.", headers=CLOSE)


def parse_problem(error: FormParserError) -> str:
    """A person's reason for python-multipart's (offset-laden, internal) message."""
    text = str(error)
    if "header size" in text:
        return f"a part header is longer than {MAX_PART_HEADER_BYTES} bytes"
    if "header count" in text:
        return f"a part has more than {MAX_PART_HEADERS} headers"
    if "header" in text:
        return "a part header is not of the form 'Name: value'"
    if "oundary" in text:
        return "its boundaries are broken"
    return "it could not be parsed"


async def paced(request: Request, pace: Pace) -> AsyncIterator[bytes]:
    """The request body, cut with 408 when it stalls or crawls (a slow-loris never holds a worker)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    received = 0
    chunks = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(pace.idle_seconds):
                chunk = await anext(chunks)
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise too_slow(f"The upload sent nothing for {pace.idle_seconds:g} seconds.") from None
        except ClientDisconnect:
            raise malformed("the connection closed before the body ended") from None
        received += len(chunk)
        elapsed = loop.time() - started
        crawling = received < pace.min_bytes_per_second * elapsed
        if pace.min_bytes_per_second and elapsed > pace.grace_seconds and crawling:
            raise too_slow(f"The upload arrived slower than {pace.min_bytes_per_second} bytes a second.")
        yield chunk


async def read_multipart(
    request: Request,
    open_sink: Callable[[str], Sink],
    file_field: str = "file",
    *,
    pace: Pace | None = None,
    into: ParsedForm | None = None,
) -> ParsedForm:
    """Parse the body as it arrives; the `file_field` part is written to the sink `open_sink()` gives.
    The fields go into `into` when given, so a caller still has those read before a failure
    (a page whose file part comes last can show its form again after a file that is too big).

    A plain (no-JavaScript) browser form carries its CSRF token as the body's first field
    (app.http.csrf.check left `csrf_body_check` for it): a first part that is not a valid
    `csrf_token` field is refused with 403 before any later part is read, so nothing is stored or
    spooled."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedType("Send the file as multipart/form-data.")
    form = into if into is not None else ParsedForm()
    state: dict[str, object] = {"ended": False}
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    value = bytearray()
    sink: Sink | None = None
    body_check: Callable[[str], None] | None = getattr(request.state, "csrf_body_check", None)

    def on_part_begin() -> None:
        headers.clear()
        value.clear()
        state["name"], state["is_file"] = "", False

    def on_header_field(data: bytes, start: int, end: int) -> None:
        header_field.extend(data[start:end])

    def on_header_value(data: bytes, start: int, end: int) -> None:
        header_value.extend(data[start:end])

    def on_header_end() -> None:
        headers[bytes(header_field).lower()] = bytes(header_value)
        header_field.clear()
        header_value.clear()

    def on_headers_finished() -> None:
        nonlocal sink
        _, disposition = parse_options_header(headers.get(b"content-disposition", b""))
        name = disposition.get(b"name", b"").decode("utf-8", "replace")
        state["name"] = name
        if body_check is not None and (name != csrf.FORM_FIELD or b"filename" in disposition):
            raise Forbidden(csrf.FAILED)  # the first part must be the token: nothing else is read
        if name == file_field and b"filename" in disposition:
            if sink is not None:
                raise InvalidInput("Send one file per request.", details={"file": "more than one"})
            form.file_name = disposition[b"filename"].decode("utf-8", "replace")
            sink = open_sink(form.file_name)
            state["is_file"] = True
        elif sum(len(v) for v in form.fields.values()) >= MAX_FIELDS:
            raise InvalidInput("Too many form fields.")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.get("is_file"):
            assert sink is not None
            sink.write(data[start:end])
            return
        value.extend(data[start:end])
        if len(value) > MAX_FIELD_BYTES:
            raise InvalidInput(f"The field {state.get('name')!r} is too long.")

    def on_part_end() -> None:
        nonlocal body_check
        if body_check is not None:
            body_check(value.decode("utf-8", "replace"))  # raises Forbidden unless it is valid
            body_check = None
            return
        if not state.get("is_file") and state.get("name"):
            name, text = str(state["name"]), value.decode("utf-8", "replace")
            char = first_refused(text)
            if char is not None:  # the same rule as every other body, before any byte is stored
                message = refusal_message(name, char)
                raise InvalidInput(message, details={name: message})
            form.fields.setdefault(name, []).append(text)

    def on_end() -> None:
        state["ended"] = True

    try:
        parser = MultipartParser(
            boundary,
            {
                "on_part_begin": on_part_begin,
                "on_part_data": on_part_data,
                "on_part_end": on_part_end,
                "on_header_field": on_header_field,
                "on_header_value": on_header_value,
                "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished,
                "on_end": on_end,
            },
            max_header_count=MAX_PART_HEADERS,
            max_header_size=MAX_PART_HEADER_BYTES,
        )
        async for chunk in paced(request, pace or Pace()):
            parser.write(chunk)
        parser.finalize()
    except FormParserError as error:
        raise malformed(parse_problem(error)) from None
    if body_check is not None:
        raise Forbidden(csrf.FAILED)  # no part at all, so no token
    if not state["ended"]:
        raise malformed("the body ended before its closing boundary, so the upload may have been cut off")
    return form


def store_of(request: Request) -> EvidenceStore:
    store: EvidenceStore = request.app.state.store
    return store


def refuse_oversized(request: Request) -> None:
    """413 before reading the body when the declared length is already too big."""
    limit = request.app.state.settings.max_upload_mb * 1024 * 1024
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(evidence_service.too_large_message(request.app.state.settings.max_upload_mb))


@dataclass
class Received:
    """A streamed upload: the form fields, the file in the store (not yet finished), its safe name."""

    form: ParsedForm
    upload: Upload | None
    file_name: str


async def receive_file(request: Request, db: Session) -> Received:
    """Stream the `file` part of the body into the evidence store, with no transaction open
    (`db`'s ends first: a slow upload holds no lock; a stalled one is cut, see `Pace`).
    Whatever was stored is discarded when the body is refused."""
    refuse_oversized(request)
    store = store_of(request)
    settings: Settings = request.app.state.settings
    await run_in_threadpool(evidence_service.release, db)
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
        raise PayloadTooLarge(evidence_service.too_large_message(settings.max_upload_mb)) from None
    except BaseException:
        abort_all()
        raise
    if not uploads or form.file_name is None:
        abort_all()
        return Received(form, None, "")
    return Received(form, uploads[0], safe_filename(form.file_name))


TRUE = ("true", "1", "yes", "on")


def allow_duplicate(request: Request, form: ParsedForm) -> bool:
    """`allow_duplicate=true`, as a form field or in the query: keep a second copy of identical bytes."""
    value = form.first("allow_duplicate") or request.query_params.get("allow_duplicate", "")
    return value.strip().lower() in TRUE


def evidence_input(request: Request, received: Received) -> evidence_service.UploadIn:
    """An evidence upload's fields: title (default: from the file name, see
    `evidence_service.default_title`), kind, marking, dates, the controls to link (repeated
    `control_ids`, or one `control_id` in the query) and `allow_duplicate`."""
    form = received.form
    control_ids = [c for c in form.fields.get("control_ids", []) if c.strip()] or [
        c for c in [request.query_params.get("control_id")] if c
    ]
    fields = first_values(form)
    meta = evidence_service.EvidenceMeta(
        title=form.first("title").strip() or evidence_service.default_title(received.file_name),
        kind=form.first("kind", "other") or "other",
        marking=form.first("marking", "OFFICIAL") or "OFFICIAL",
        effective_on=date_value(fields, "effective_on"),  # GOV.UK date input, or ISO (the API)
        expires_on=date_value(fields, "expires_on"),
    )
    return evidence_service.UploadIn(
        meta,
        control_ids,
        received.file_name,
        allow_duplicate=allow_duplicate(request, form),
        queue_scan=scan_queue(request),
    )


def scan_queue(request: Request) -> Callable[[str], None] | None:
    """With malware scanning on: what queues an object's scan once its upload has committed. A
    queue that cannot be reached is logged: the file stays pending (never downloadable) until the
    worker's sweep queues it again (app.services.scanning)."""
    if not scanning.scanning_on(request.app.state.settings):
        return None

    def queue(sha256: str) -> None:
        try:
            app_jobs(request.app.state).scan(sha256, queued_at=time.time())
        except Exception:  # the queue's storage failed; see the docstring
            log.warning("could not queue the malware scan of %s", sha256, exc_info=True)

    return queue


async def upload_evidence(
    request: Request,
    db: Session,
    library: Library,
    caller: Caller,
    engagement: Engagement,
    *,
    supersedes: Evidence | None = None,
) -> Evidence:
    """An evidence upload (or a new version of `supersedes`) for every face: stream the body in,
    then `app.services.evidence.store_upload` checks, registers, audits and commits it."""
    received = await receive_file(request, db)
    try:
        return await evidence_service.store_upload(
            db,
            library,
            store_of(request),
            engagement,
            caller,
            received.upload,
            evidence_input(request, received),
            supersedes=supersedes,
        )
    except InvalidInput as problem:
        reworded = in_the_words_of_the_form(problem, first_values(received.form))
        if reworded is problem:
            raise
        raise reworded from None


def first_values(form: ParsedForm) -> dict[str, str]:
    """Each field's first value, by name."""
    return {name: values[0] for name, values in form.fields.items() if values}


def in_the_words_of_the_form(problem: InvalidInput, fields: dict[str, str]) -> InvalidInput:
    """A refused date typed into the day, month and year boxes asks for those, not for the
    ISO text the API takes (see `app.http.date_fields.date_wording`); anything else is unchanged."""
    if type(problem) is not InvalidInput or not isinstance(problem.details, dict):
        return problem
    details = {str(k): date_wording(str(k), str(v), fields) for k, v in problem.details.items()}
    if details == {str(k): str(v) for k, v in problem.details.items()}:
        return problem
    return InvalidInput(date_wording_of_message(problem.message, details, problem.details), details=details)


def date_wording_of_message(message: str, new: dict[str, str], old: dict[object, object]) -> str:
    """The headline message follows its field's rewording (it is one of the field messages)."""
    for key, value in old.items():
        if str(value) == message:
            return new[str(key)]
    return message


def content_disposition(kind: str, name: str) -> str:
    """RFC 6266 with an RFC 5987 UTF-8 name and a plain ASCII fallback."""
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "'").replace("?", "_")
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def file_response(store: EvidenceStore, row: Evidence, *, inline: bool) -> StreamingResponse:
    """The stored bytes of `row` (already authorised and audited), sandboxed and never cached."""
    if not store.exists(row.sha256):
        raise NotFound("The file for this evidence is missing from the store; tell your administrator.")
    show_inline = inline and row.media_type in INLINE_TYPES
    headers = {
        "Content-Disposition": content_disposition(
            "inline" if show_inline else "attachment", download_name(row.file_name, row.media_type)
        ),
        "Content-Length": str(row.size),
        "X-Content-Type-Options": "nosniff",
        # Framed only by Attest's own pages (the review's inline preview), never by another site.
        "Content-Security-Policy": "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline';"
        " frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
        "Cache-Control": "private, no-store",
    }

    def chunks() -> Iterator[bytes]:
        yield from store.open(row.sha256)

    return StreamingResponse(chunks(), media_type=row.media_type, headers=headers)


def download_evidence(
    request: Request, db: Session, caller: Caller, evidence_id: str, *, inline: bool
) -> StreamingResponse:
    """The use case "download evidence", for the page and the API alike: authorised, audited and
    committed before a single byte leaves, in a write transaction of its own (a read never
    upgrades to a write, see deps.get_session); the read has ended too, so nothing is held while
    the bytes go out."""
    with writer(request, db) as audit_db:
        row = evidence_service.download(
            audit_db,
            caller,
            evidence_id,
            inline=inline,
            scanning_on=scanning.scanning_on(request.app.state.settings),
        )
    return file_response(store_of(request), row, inline=inline)


class _MemorySink:
    """A sink that keeps a file part in memory, refusing more than `limit` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()

    def write(self, chunk: bytes) -> None:
        if len(self.data) + len(chunk) > self.limit:
            raise TooLarge(self.limit)
        self.data += chunk


async def receive_small_file(
    request: Request, db: Session, *, limit: int, too_large: str, into: ParsedForm | None = None
) -> tuple[ParsedForm, bytes | None]:
    """A multipart form whose one file (an import: a sheet, an OSCAL document) is small enough
    to hold in memory: its fields (into `into` when given) and the file's bytes, None when no
    file was chosen. Over `limit` bytes, declared or sent, is 413 with `too_large`; the request's
    database connection is released while the body arrives."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + MULTIPART_OVERHEAD:
        raise PayloadTooLarge(too_large)
    await run_in_threadpool(evidence_service.release, db)
    sinks: list[_MemorySink] = []

    def open_sink(_filename: str) -> _MemorySink:
        sinks.append(_MemorySink(limit))
        return sinks[-1]

    try:
        form = await read_multipart(request, open_sink, pace=Pace.of(request.app.state.settings), into=into)
    except TooLarge:
        raise PayloadTooLarge(too_large) from None
    if not sinks or not form.file_name:  # browsers send an empty part when no file was chosen
        return form, None
    return form, bytes(sinks[0].data)
