"""ASGI middleware: a request id on every request (with its one log line and its latency in
/metrics), the security headers on every response, and a size limit on request bodies.

Written as plain ASGI (not BaseHTTPMiddleware) so streamed bodies stay streamed.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import MutableMapping
from typing import Any

from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.adapters import metrics
from app.adapters.logs import REQUEST_LOGGER, request_context
from app.http.errors import error_response

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), interest-cohort=()"),
]
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")
request_log = logging.getLogger(REQUEST_LOGGER)


class SecurityHeadersMiddleware:
    """Adds a strict CSP and the other hardening headers unless a route set its own."""

    def __init__(self, app: ASGIApp, *, hsts: bool = False) -> None:
        self.app = app
        self.hsts = hsts

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"content-security-policy" not in present:
                    headers.append((b"content-security-policy", CONTENT_SECURITY_POLICY.encode()))
                headers.extend(h for h in SECURITY_HEADERS if h[0] not in present)
                if self.hsts:
                    headers.append((b"strict-transport-security", b"max-age=31536000"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


class RequestIdMiddleware:
    """Gives each request an id (kept from a well-formed X-Request-ID) and echoes it back;
    once the response is sent, writes the request's one log line and times it for /metrics.

    The line (logger `attest.request`) has the request id, the signed-in user's id (app.http.auth
    puts it on request.state), the method, the route template, the status and the duration in
    ms. It never names the concrete path, the query string, a header or a cookie: paths carry
    ids and sometimes tokens (invitations, calendar feeds). Outermost of Attest's middleware,
    so the status is the one the client got, a 500 from UnhandledErrorMiddleware included.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        path, root_path = str(scope.get("path", "")), str(scope.get("root_path", ""))
        incoming = dict(scope.get("headers", [])).get(b"x-request-id", b"").decode("latin-1")
        request_id = incoming if _REQUEST_ID.match(incoming) else secrets.token_hex(8)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["request_id"] = request_id
        context = request_context.set({"request_id": request_id})
        status = 500  # what the server sends when the app fails before starting a response
        tracing = getattr(scope["app"].state, "tracing", None) if "app" in scope else None
        span = None
        if tracing is not None:
            headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
            span = tracing.start(str(scope.get("method", ""))[:16], headers)

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = route_template(scope, path, root_path)
            method = str(scope.get("method", ""))[:16]
            metrics.observe_request(route, method, status, seconds)
            fields = {
                "request_id": request_id,
                "user_id": state.get("user_id"),
                "method": method,
                "route": route,
                "status": status,
                "duration_ms": round(seconds * 1000, 1),
            }
            request_log.info("%s %s %s %.1f ms", method, route, status, fields["duration_ms"], extra=fields)
            if tracing is not None and span is not None:
                tracing.finish(span, method=method, route=route, status=status, request_id=request_id)
            request_context.reset(context)


def route_template(scope: Scope, path: str, root_path: str) -> str:
    """The matched route's path template (`/engagements/{engagement_id}`, `/static/{path}`), or
    `unmatched`: never the concrete path, whose ids and tokens stay out of logs and metric labels.

    FastAPI leaves its own routes on the scope; for the others (the static mount, the OpenAPI
    schema) and for a 405 the routes are matched again on the original path and root path
    (the scope's own have moved on by now), a full match before a partial one."""
    route = scope.get("route")
    template = getattr(route, "path_format", None)
    if template:
        return str(template)
    app = scope.get("app")
    if app is None:
        return metrics.UNMATCHED_ROUTE
    probe = {"type": "http", "path": path, "root_path": root_path, "method": scope.get("method", "")}
    partial = None
    for candidate in iter_route_contexts(app.routes):
        match, _ = candidate.matches(dict(probe, headers=[]))
        if match is Match.FULL:
            return str(candidate.path_format)
        if match is Match.PARTIAL and partial is None:
            partial = str(candidate.path_format)
    return partial or metrics.UNMATCHED_ROUTE


class _BodyTooLarge(StarletteHTTPException):
    """Raised from `receive` so whatever is reading the body stops; never reaches a client."""

    def __init__(self) -> None:
        super().__init__(status_code=413)


class BodyLimitMiddleware:
    """413 for a request body over `limit_kb`, before anything parses it.

    A declared Content-Length over the limit is refused without calling the app; a chunked
    (or understated) body is counted as it streams and cut at the limit, so at most
    `limit_kb` is ever held. Multipart uploads are exempt: they stream to the evidence
    store under their own limit (max_upload_mb, app/web/uploads.py).
    """

    def __init__(self, app: ASGIApp, *, limit_kb: int) -> None:
        self.app = app
        self.limit_kb = limit_kb
        self.limit = limit_kb * 1024

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        if headers.get("content-type", "").lower().startswith("multipart/form-data"):
            await self.app(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        received = 0
        exceeded = started = False

        async def counting_receive() -> Message:
            nonlocal received, exceeded
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    exceeded = True
                    raise _BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if exceeded and not started:
                return  # the app's answer to a cut-off body (400, 413, ...) is replaced below
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not exceeded or started:
                raise
        if exceeded and not started:
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = f"The request body is larger than the limit of {self.limit_kb} KB."
        response = error_response(Request(scope), 413, message)
        await response(scope, receive, send)
