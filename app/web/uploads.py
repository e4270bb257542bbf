"""Streaming multipart/form-data: form fields in memory (small, bounded), the one file part
straight into an evidence store upload, so no upload is ever held in memory.

Every body that is not well-formed multipart is refused with 400 and a message that says
what is wrong: broken boundaries, a part header that is not `Name: value`, part headers
longer than MAX_PART_HEADER_BYTES or more than MAX_PART_HEADERS of them, and a body that
ends before its closing boundary (a cut-off upload is never stored as complete). A body
that stalls for the idle timeout, or arrives slower than the minimum rate once the grace
period is over, is cut with 408. The caller discards whatever it stored on any of these.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Protocol

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request

from app.config import Settings
from app.domain.errors import InvalidInput, UnsupportedType
from app.domain.text import first_refused, refusal_message

MAX_FIELDS = 300
MAX_FIELD_BYTES = 20_000
MAX_PART_HEADER_BYTES = 4096  # one header line: room for a long UTF-8 file name, not for abuse
MAX_PART_HEADERS = 8
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
) -> ParsedForm:
    """Parse the body as it arrives; the `file_field` part is written to the sink `open_sink()` gives."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedType("Send the file as multipart/form-data.")
    form = ParsedForm()
    state: dict[str, object] = {"ended": False}
    header_field = bytearray()
    header_value = bytearray()
    headers: dict[bytes, bytes] = {}
    value = bytearray()
    sink: Sink | None = None

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
    if not state["ended"]:
        raise malformed("the body ended before its closing boundary, so the upload may have been cut off")
    return form
