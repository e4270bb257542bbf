"""Streaming multipart/form-data: form fields in memory (small, bounded), the one file part
straight into an evidence store upload, so no upload is ever held in memory.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from app.domain.errors import InvalidInput, UnsupportedType

MAX_FIELDS = 300
MAX_FIELD_BYTES = 20_000


class Sink(Protocol):
    def write(self, chunk: bytes) -> None: ...


@dataclass
class ParsedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    file_name: str | None = None

    def first(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default


async def read_multipart(
    request: Request, open_sink: Callable[[str], Sink], file_field: str = "file"
) -> ParsedForm:
    """Parse the body as it arrives; the `file_field` part is written to the sink `open_sink()` gives."""
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    boundary = params.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedType("Send the file as multipart/form-data.")
    form = ParsedForm()
    state: dict[str, object] = {}
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
            form.fields.setdefault(str(state["name"]), []).append(value.decode("utf-8", "replace"))

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
        },
    )
    async for chunk in request.stream():
        parser.write(chunk)
    parser.finalize()
    return form
