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


def targets(request: Request, element_id: str) -> bool:
    """True when htmx asked for a swap into the element with this id (HX-Target)."""
    return is_htmx(request) and request.headers.get("hx-target") == element_id


def trigger(response: Response, *events: str) -> Response:
    """Ask the page to fire `events` (e.g. 'readiness-changed') after the swap."""
    response.headers["HX-Trigger"] = json.dumps({event: True for event in events})
    return response


def vary_on_htmx(response: Response) -> Response:
    """The same URL serves a page or a fragment, so caches must key on HX-Request."""
    response.headers.append("Vary", "HX-Request")
    return response


def retarget(response: Response, target: str, *, swap: str) -> Response:
    """Swap this response into `target` (a CSS selector) with `swap`, not where the request said."""
    response.headers["HX-Retarget"] = target
    response.headers["HX-Reswap"] = swap
    return response


def redirect(location: str) -> Response:
    """A full-page navigation to `location` from an htmx request (a 303 would be swapped in)."""
    return Response(status_code=204, headers={"HX-Redirect": location})
