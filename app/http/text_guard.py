"""Refuse control characters where they enter, naming the field as the person sent it.

An app-wide dependency (installed in create_app next to the CSRF guard, so every route,
old or new, runs it): path and query parameters, url-encoded forms and JSON bodies.
The database engine refuses the same characters in anything it is asked to store or
match (app/db.py), which covers multipart fields, the CLI and jobs; this earlier check
names `contacts.0.name` rather than a column, and also covers text that is stored as
JSON inside a column (contacts, audit details), where a NUL would arrive escaped.
"""

from __future__ import annotations

import json
import re

from starlette.requests import Request

from app.domain.errors import InvalidInput
from app.domain.text import refusal_message, refused_in

# Raw bytes that may hide a refused character in a JSON body: \u escapes of C0, DEL and
# surrogates (pairs are fine, the parse tells), or a raw DEL. Only a hit costs a second parse.
_JSON_SUSPECT = re.compile(rb"\\u(?:00[01][0-9a-fA-F]|007[fF]|[dD][89a-fA-F][0-9a-fA-F]{2})|\x7f")


def _refuse(value: object, field: str) -> None:
    found = refused_in(value, field)
    if found:
        name, char = found
        message = refusal_message(name, char)
        raise InvalidInput(message, details={name: message})


async def refuse_control_characters(request: Request) -> None:
    """Raise InvalidInput (422) when a parameter or body field holds a refused character."""
    _refuse(dict(request.path_params), "")
    for key, value in request.query_params.multi_items():
        _refuse({key: value}, "")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/x-www-form-urlencoded":
        form = await request.form()  # cached on the request: the route reads the same parse
        for key, item in form.multi_items():
            _refuse({key: item}, "")
    elif content_type in ("", "application/json") or content_type.endswith("+json"):
        # FastAPI reads a body without a content type as JSON too.
        body = await request.body()  # cached; bounded by BodyLimitMiddleware
        if _JSON_SUSPECT.search(body):
            try:
                parsed = json.loads(body)
            except ValueError:
                return  # FastAPI answers malformed JSON with its own 422
            _refuse(parsed, "")
