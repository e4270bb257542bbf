"""The browser's error pages, registered with the shared HTTP layer (app.http.errors).

A page request gets the error page; an htmx request gets the toast fragment, pointed at
the toast region (htmx does not swap error responses by default).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from app.web import htmx
from app.web.templating import render


class HtmlErrorPages:
    """`app.http.errors.ErrorPages` for the browser: Jinja pages and htmx toasts."""

    def page(self, request: Request, status: int, context: dict[str, Any]) -> Response:
        if htmx.is_htmx(request):
            response = render(request, "errors/error.html", context, status_code=status, block_name="toast")
            return htmx.retarget(response, "#toasts", swap="beforeend")
        return render(request, "errors/error.html", context, status_code=status)

    def sign_in(self, request: Request, location: str) -> Response:
        if htmx.is_htmx(request):
            return htmx.redirect(location)
        return RedirectResponse(location, status_code=303)
