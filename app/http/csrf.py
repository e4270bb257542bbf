"""Cross-site request forgery defence for browser requests.

Two independent checks on every state-changing request that carries cookies:
1. Fetch metadata and origin: `Sec-Fetch-Site` must be same-origin (or absent), and an
   `Origin` header, when sent, must be this site.
2. A token: each browser holds a random CSRF cookie (HttpOnly, SameSite=Strict); pages
   embed HMAC(key, cookie) in forms (`csrf_token`) and in htmx requests (`X-CSRF-Token`).
Requests authenticated by a bearer token carry no ambient credentials and skip both.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.adapters.crypto import keyed_hash
from app.domain.errors import Forbidden

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
FORM_FIELD = "csrf_token"
HEADER = "x-csrf-token"
# The routes that stream a multipart body (app.http.uploads.read_multipart): a plain form's token
# is checked there, as the body's first field, instead of before the body is read.
STREAMED_UPLOADS = frozenset(
    {
        "evidence:upload",
        "evidence:new-version",
        "certificates:create",
        "certificates:update",
        "imports:check",
        "imports:apply",
        "imports:plan-check",
        "imports:plan-apply",
        "api:upload-evidence",
        "api:evidence-new-version",
        "catalogues:import",
        "api:catalogues-import",
    }
)
FAILED = "This form has expired or came from another site. Reload the page and try again."


def cookie_name(secure: bool) -> str:
    return "__Host-attest_csrf" if secure else "attest_csrf"


class CsrfCookieMiddleware:
    """Makes sure every browser has a CSRF cookie; the value is exposed as request.state.csrf_cookie."""

    def __init__(self, app: ASGIApp, *, secure: bool) -> None:
        self.app = app
        self.secure = secure
        self.name = cookie_name(secure)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        value = request.cookies.get(self.name, "")
        fresh = len(value) < 32
        if fresh:
            value = secrets.token_urlsafe(32)
        state: MutableMapping[str, Any] = scope.setdefault("state", {})
        state["csrf_cookie"] = value
        state["csrf_cookie_fresh"] = fresh

        async def send_with_cookie(message: Message) -> None:
            if fresh and message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                flags = "; Secure" if self.secure else ""
                headers.append(
                    "set-cookie",
                    f"{self.name}={value}; Path=/; HttpOnly; SameSite=Strict{flags}",
                )
            await send(message)

        await self.app(scope, receive, send_with_cookie)


def token_for(key: bytes, request: Request) -> str:
    return keyed_hash(key, str(getattr(request.state, "csrf_cookie", "")))


def same_origin(request: Request, base_url: str) -> bool:
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in {"same-origin", "none"}:
        return False
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every client; the token check still applies
    allowed = {base_url.rstrip("/")}
    host = request.headers.get("host")
    if host:
        allowed.add(f"{request.url.scheme}://{host}")
    parsed = urlsplit(origin)
    return f"{parsed.scheme}://{parsed.netloc}" in allowed


async def check(request: Request, keys: Sequence[bytes], base_url: str) -> None:
    """Raise Forbidden unless this unsafe, cookie-carrying request is same-site with a valid token.

    `keys` are the current CSRF key first, then those of previous secret keys: a page rendered
    before the secret key was rotated still submits (its token lives as long as the browser's
    CSRF cookie, and the old key is accepted for as long as it stays in
    ATTEST_PREVIOUS_SECRET_KEYS)."""
    if request.method in SAFE_METHODS:
        return
    if request.headers.get("authorization", "").lower().startswith("bearer "):
        return
    if not same_origin(request, base_url):
        raise Forbidden(FAILED)
    if getattr(request.state, "csrf_cookie_fresh", True):
        raise Forbidden(FAILED)
    supplied = request.headers.get(HEADER, "")
    content_type = request.headers.get("content-type", "")
    if not supplied and content_type.startswith("multipart/form-data"):
        # Uploads are streamed, never parsed here: the token comes in the header (htmx, fetch)
        # or, for a plain form, as the body's FIRST field, which the streaming parser
        # (app.http.uploads.read_multipart) hands to `csrf_body_check` before it stores or spools
        # a byte of any file. Only the upload routes stream: any other route is refused a
        # multipart body without the header. A token is never read from the URL.
        route = request.scope.get("route")
        if getattr(route, "name", None) in STREAMED_UPLOADS:
            request.state.csrf_body_check = lambda token: verify(request, keys, token)
            return
    elif not supplied and content_type.startswith("application/x-www-form-urlencoded"):
        form = await request.form()
        value = form.get(FORM_FIELD)
        supplied = value if isinstance(value, str) else ""
    verify(request, keys, supplied)


def verify(request: Request, keys: Sequence[bytes], supplied: str) -> None:
    """Raise Forbidden unless `supplied` is this browser's token (from the header or the body)."""
    # Every key is compared (no early exit), so timing does not tell which one matched.
    matches = [hmac.compare_digest(supplied, token_for(key, request)) for key in keys]
    if not any(matches):
        raise Forbidden(FAILED)
