"""The only module that knows htmx's HX-* headers."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response


def is_htmx(request: Request) -> bool:
    """True for a request htmx made (and not a history restore, which wants a full page)."""
    return (
        request.headers.get("hx-request") == "true"
        and request.headers.get("hx-history-restore-request") != "true"
    )


def trigger(response: Response, *events: str) -> Response:
    """Ask the page to fire `events` (e.g. 'readiness-changed') after the swap."""
    response.headers["HX-Trigger"] = json.dumps({event: True for event in events})
    return response


def vary_on_htmx(response: Response) -> Response:
    """The same URL serves a page or a fragment, so caches must key on HX-Request."""
    response.headers.append("Vary", "HX-Request")
    return response
