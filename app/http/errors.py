"""One place that turns exceptions into responses.

/api gets `{"error": {"code", "message", "details"}}`; everything else gets what the web
layer's `ErrorPages` makes of it (the error page, or a toast fragment for htmx), registered
as `app.state.error_pages` by app/main.py; without one, plain text. This layer never imports
app.web. No stack trace ever reaches a user.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any, Protocol
from urllib.parse import urlencode

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.routing import iter_route_contexts
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.db import is_busy, is_unavailable
from app.domain.errors import (
    AttestError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Refusal,
    Unauthenticated,
    UnsupportedType,
)
from app.http.auth import record_refusal

log = logging.getLogger("attest.errors")

STATUS_BY_ERROR: dict[type[AttestError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    Conflict: 409,
    Forbidden: 403,
    Unauthenticated: 401,
    PayloadTooLarge: 413,
    UnsupportedType: 415,
}
CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    409: "conflict",
    413: "too_large",
    415: "unsupported_media_type",
    422: "invalid",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
    507: "storage_full",
}


class ErrorPages(Protocol):
    """How a browser sees an error: the web layer provides this (app.web.errors_page)."""

    def page(self, request: Request, status: int, context: dict[str, Any]) -> Response:
        """The error page (or fragment) for `context`: status, title, message, request_id."""
        ...

    def sign_in(self, request: Request, location: str) -> Response:
        """Send someone who is not signed in to `location`."""
        ...


class PlainErrorPages:
    """The fallback when no web layer registered its pages: plain text and a 303."""

    def page(self, request: Request, status: int, context: dict[str, Any]) -> Response:
        body = f"{context['title']}\n\n{context['message']}\n"
        return PlainTextResponse(body, status_code=status)

    def sign_in(self, request: Request, location: str) -> Response:
        return RedirectResponse(location, status_code=303)


def error_pages(request: Request) -> ErrorPages:
    pages: ErrorPages | None = getattr(request.app.state, "error_pages", None)
    return pages or PlainErrorPages()


def wants_json(request: Request) -> bool:
    return request.url.path == "/api" or request.url.path.startswith("/api/")


def error_response(
    request: Request,
    status: int,
    message: str,
    *,
    code: str | None = None,
    details: Any = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    code = code or CODE_BY_STATUS.get(status, "error")
    if wants_json(request):
        body = {"error": {"code": code, "message": message, "details": details}}
        return JSONResponse(body, status_code=status, headers=headers)
    context = {
        "status": status,
        "title": HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error",
        "message": message,
        "request_id": getattr(request.state, "request_id", ""),
    }
    response = error_pages(request).page(request, status, context)
    if headers:
        response.headers.update(headers)
    return response


async def _attest_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AttestError)
    if isinstance(exc, Unauthenticated) and not wants_json(request):
        return sign_in_redirect(request)
    if isinstance(exc, Refusal):  # every refusal a service raises is audited, here and only here
        await run_in_threadpool(record_refusal, request, exc)
    status = next((s for cls, s in STATUS_BY_ERROR.items() if isinstance(exc, cls)), 400)
    return error_response(request, status, exc.message, code=exc.code, details=exc.details)


def sign_in_redirect(request: Request) -> Response:
    """Pages send people who are not signed in to the sign-in page, then back."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    location = str(request.app.url_path_for("auth:sign-in")) + "?" + urlencode({"next": target})
    return error_pages(request).sign_in(request, location)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    default = HTTPStatus(exc.status_code).phrase
    message = exc.detail if isinstance(exc.detail, str) and exc.detail != default else None
    messages = {
        404: "There is nothing at this address.",
        405: f"{request.method} is not allowed here.",
    }
    text = message or messages.get(exc.status_code, default)
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = allowed_methods(request) or headers.get("Allow", "")
    return error_response(request, exc.status_code, text, headers=headers or None)


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only one route's)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):  # flattens included routers
        if route.methods and route.matches(request.scope)[0] is not Match.NONE:
            methods.update(route.methods)
    return ", ".join(sorted(methods))


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        {"field": ".".join(str(p) for p in err["loc"] if p != "body"), "message": err["msg"]}
        for err in exc.errors()
    ]
    summary = "; ".join(f"{d['field'] or 'body'}: {d['message']}" for d in details[:5])
    return error_response(request, 422, f"The request is not valid: {summary}", details=details)


BUSY_RETRY_SECONDS = 2


async def _database_error(request: Request, exc: Exception) -> Response:
    """A write that waited longer than the busy timeout for another's lock, or a database that
    went away under the request (`is_unavailable`): 503 and "try again", nothing saved (the
    transaction rolled back or died with its connection); any other database error is a 500."""
    if is_unavailable(exc):
        log.error(
            "database unavailable (request %s): %s",
            getattr(request.state, "request_id", ""),
            str(getattr(exc, "orig", exc)).strip()[:300],
        )
        return error_response(
            request,
            503,
            "Attest lost its connection to the database, so nothing was saved. "
            "Try again in a moment; if this goes on, tell your administrator.",
            headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
        )
    if not is_busy(exc):
        return await _unexpected_error(request, exc)
    log.warning("database busy (request %s)", getattr(request.state, "request_id", ""))
    return error_response(
        request,
        503,
        "Attest is busy saving other changes and could not save this one. Nothing was saved: "
        "try again in a moment.",
        code="busy",
        headers={"Retry-After": str(BUSY_RETRY_SECONDS)},
    )


NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


async def _storage_error(request: Request, exc: Exception) -> Response:
    """The disk (or quota, or file size limit) ran out while a file was being stored: 507 and
    what to do; the upload's temporary file is already gone and no row was written. Any other
    OSError is unexpected (500)."""
    if not isinstance(exc, OSError) or exc.errno not in NO_SPACE:
        return await _unexpected_error(request, exc)
    log.error("no space to store an upload (request %s): %s", getattr(request.state, "request_id", ""), exc)
    return error_response(
        request,
        507,
        "There is no space left to store this file, so nothing was stored. "
        "Tell your administrator; send it again once space has been freed.",
    )


async def _unexpected_error(request: Request, exc: Exception) -> Response:
    request_id = getattr(request.state, "request_id", "")
    log.exception("unhandled error (request %s)", request_id, exc_info=exc, extra={"request_id": request_id})
    return error_response(
        request,
        500,
        f"Something went wrong on our side. Quote request id {request_id} if you report it.",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AttestError, _attest_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(OperationalError, _database_error)
    app.add_exception_handler(OSError, _storage_error)


class UnhandledErrorMiddleware:
    """Turns an unexpected exception into the 500 page or JSON, inside the header middleware.

    Starlette's own last-resort handler sits outside every middleware, so its responses
    would miss the request id and security headers; this one sits inside them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                raise
            response = await _unexpected_error(Request(scope), exc)
            await response(scope, receive, send)
