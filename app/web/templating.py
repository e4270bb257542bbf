"""The Jinja2 environment: autoescaped templates that can render a page or one named block."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi.routing import APIRoute, iter_route_contexts
from jinja2 import pass_context
from jinja2.runtime import Context
from jinja2_fragments.fastapi import Jinja2Blocks
from starlette.requests import Request
from starlette.responses import Response

from app import __version__
from app.domain.dates import london
from app.http.csrf import token_for

TEMPLATES_DIR = Path(__file__).resolve().parents[2] / "templates"
GOVUK_FRONTEND = "govuk-frontend-5.14.0"
HTMX = "htmx-2.0.11"

templates = Jinja2Blocks(directory=str(TEMPLATES_DIR))


def route_paths(app: Any) -> dict[str, str]:
    """Every named API route's path format, found once per app (Starlette's own lookup walks every
    route on each call, which costs more than the rest of a 120-row page put together)."""
    cached: dict[str, str] | None = getattr(app.state, "route_paths", None)
    if cached is None:
        cached = {}
        for context in iter_route_contexts(app.routes):
            route = context.original_route
            if isinstance(route, APIRoute) and context.path:
                cached.setdefault(route.name, context.path)
        app.state.route_paths = cached
    return cached


def mount_prefix(app: Any, name: str) -> str:
    """The path of a named mount (the static files), found once per app: every page links its
    style sheets and scripts, and Starlette's lookup would walk every route for each link."""
    cached: dict[str, str] | None = getattr(app.state, "mount_prefixes", None)
    if cached is None:
        cached = app.state.mount_prefixes = {}
    prefix = cached.get(name)
    if prefix is None:
        prefix = cached[name] = str(app.url_path_for(name, path=""))
    return prefix


@pass_context
def url_for(context: Context, name: str, /, **path_params: Any) -> str:
    """A root-relative URL for a named route, so pages work behind any proxy host name."""
    request: Request = context["request"]
    root = str(request.scope.get("root_path", ""))
    template = route_paths(request.app).get(name)
    if template is None and name == "static" and set(path_params) == {"path"}:
        return root + mount_prefix(request.app, name) + str(path_params["path"])
    if template is None:  # other mounts and anything unusual: Starlette's lookup
        return root + str(request.app.url_path_for(name, **path_params))
    path = template
    for key, value in path_params.items():
        path = path.replace("{" + key + "}", quote(str(value), safe=""))
    if "{" in path:
        raise ValueError(f"url_for({name!r}) is missing a path parameter: {path}")
    return root + path


@pass_context
def csrf_token(context: Context) -> str:
    """The CSRF token for this browser (see app.http.csrf)."""
    request: Request = context["request"]
    cached = getattr(request.state, "csrf_token", None)
    if cached is None:
        cached = request.state.csrf_token = token_for(request.app.state.keys.csrf, request)
    return str(cached)


@pass_context
def current_principal(context: Context) -> Any:
    request: Request = context["request"]
    return getattr(request.state, "principal", None)


templates.env.globals.update(url_for=url_for, csrf_token=csrf_token, current_principal=current_principal)
templates.env.globals.update(attest_version=__version__, govuk_frontend=GOVUK_FRONTEND, htmx=HTMX)
templates.env.filters["london"] = london  # every time shown to a person is London time


def render(
    request: Request,
    name: str,
    context: dict[str, Any] | None = None,
    *,
    status_code: int = 200,
    block_name: str | None = None,
) -> Response:
    """Render `name` (or one block of it) with the request in the context."""
    return templates.TemplateResponse(
        request, name, context or {}, status_code=status_code, block_name=block_name
    )
