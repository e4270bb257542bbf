"""Help pages, open to everyone (no sign-in): the glossary, the accessibility statement, the
privacy notice and the cookies page. The cookies page names the cookies the app really sets
(app.http.auth.session_cookie_name, app.http.csrf.cookie_name), with their lifetimes from the
settings, so the page cannot drift from the code."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from app.config import Settings
from app.http.auth import session_cookie_name
from app.http.csrf import cookie_name as csrf_cookie_name
from app.web.templating import render

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class Cookie:
    name: str
    purpose: str
    lifetime: str


def cookies(settings: Settings) -> list[Cookie]:
    """Every cookie Attest sets: both are strictly necessary, neither tracks anyone."""
    hours = settings.session_absolute_hours
    idle = settings.session_idle_minutes
    return [
        Cookie(
            session_cookie_name(settings),
            "Keeps you signed in: it holds a random session key, which Attest looks up on each request. "
            "Set when you finish signing in, removed when you sign out.",
            f"{hours} hours at most; the session behind it also ends after {idle} minutes without activity.",
        ),
        Cookie(
            csrf_cookie_name(settings.secure_cookies),
            "Protects your forms from being sent by another website (cross-site request forgery): each form "
            "carries a code derived from this random value. Set on your first visit, signed in or not.",
            "Until you close your browser.",
        ),
    ]


# The pages that are a template and nothing more: (path, route name, template).
STATIC_PAGES = (
    ("/help", "help:index", "help/index.html"),
    ("/help/glossary", "help:glossary", "help/glossary.html"),
    ("/accessibility", "help:accessibility", "help/accessibility.html"),
    ("/privacy", "help:privacy", "help/privacy.html"),
)


def _static_page(template: str) -> Callable[[Request], Response]:
    def page(request: Request) -> Response:
        return render(request, template)

    return page


for path, name, template in STATIC_PAGES:
    router.add_api_route(path, _static_page(template), methods=["GET"], name=name)


@router.get("/cookies", name="help:cookies")
def cookies_page(request: Request) -> Response:
    return render(request, "help/cookies.html", {"cookies": cookies(request.app.state.settings)})
