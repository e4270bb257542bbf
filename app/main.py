"""create_app(): routers, error handlers, middleware and static files; configure(): what binds
an app to one installation."""

from __future__ import annotations

from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.adapters.catalogue_files import cached_library
from app.adapters.crypto import Keys
from app.adapters.logs import configure_logging
from app.adapters.mail import make_mailer
from app.adapters.storage import make_store
from app.adapters.tracing import make_tracing
from app.api import assessment as assessment_api
from app.api import catalogue_imports as catalogue_imports_api
from app.api import catalogues as catalogues_api
from app.api import certificates as certificates_api
from app.api import documents as documents_api
from app.api import downloads as downloads_api
from app.api import engagements as engagements_api
from app.api import evidence as evidence_api
from app.api import exports as exports_api
from app.api import imports as imports_api
from app.api import notifications as notifications_api
from app.api import plan as plan_api
from app.api import reviews as reviews_api
from app.api import variations as variations_api
from app.api.links import install_links
from app.config import Settings, get_settings
from app.db import make_engine
from app.http.auth import csrf_guard, require_principal
from app.http.csrf import CsrfCookieMiddleware
from app.http.errors import UnhandledErrorMiddleware, install_error_handlers
from app.http.middleware import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from app.http.text_guard import refuse_control_characters
from app.jobs import deliver_events
from app.web.errors_page import HtmlErrorPages
from app.web.routes import (
    account,
    admin,
    assessment,
    audit,
    auth,
    catalogues,
    certificates,
    engagements,
    evidence,
    exports,
    health,
    help,
    home,
    imports,
    notifications,
    plan,
    portfolio,
    reviews,
    variations,
)
from app.web.routes import documents as documents_pages
from app.web.routes import downloads as downloads_pages

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings)
    app = FastAPI(
        title="Attest",
        version=__version__,
        description="Supplier security assurance for UK government contracts.",
        docs_url=None,  # Swagger UI would load from a CDN; the schema is at /api/openapi.json
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_guard), Depends(refuse_control_characters)],
    )
    configure(app, settings)
    install_error_handlers(app)
    signed_in = [Depends(require_principal)]
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(help.router)
    app.include_router(auth.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(engagements.router)
    app.include_router(assessment.router)
    app.include_router(evidence.router)
    app.include_router(plan.router)
    app.include_router(reviews.router)
    app.include_router(variations.router)
    app.include_router(exports.router)
    app.include_router(downloads_pages.router)
    app.include_router(imports.router)
    app.include_router(catalogues.router, dependencies=signed_in)
    app.include_router(catalogues_api.router, dependencies=signed_in)
    app.include_router(engagements_api.router)
    app.include_router(assessment_api.router)
    app.include_router(evidence_api.router)
    app.include_router(plan_api.router)
    app.include_router(reviews_api.router)
    app.include_router(variations_api.router)
    app.include_router(exports_api.router)
    app.include_router(downloads_api.router)
    app.include_router(imports_api.router)
    app.include_router(catalogue_imports_api.router)  # POST /api/catalogues/import (OSCAL)
    app.include_router(documents_pages.router)  # documents: the plan PDF, carry forward
    app.include_router(documents_api.router)  # documents: the plan PDF, OSCAL, carry forward
    app.include_router(certificates.router)
    app.include_router(portfolio.router)
    app.include_router(notifications.router)
    app.include_router(notifications.feed_router)
    app.include_router(certificates_api.router)
    app.include_router(notifications_api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_links(app)  # OpenAPI links (create -> read -> update), for clients and the stateful tests

    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_kb=settings.max_body_kb)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.secure_cookies)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.https)
    app.add_middleware(RequestIdMiddleware)
    return app


def configure(app: FastAPI, settings: Settings) -> None:
    """Bind `app` to one installation: its settings, database, catalogues, keys, evidence store
    and mailer. `create_app` calls it once; the test suite calls it again to point one built app
    at each test's own database and folders, because building the routes' models is the dearest
    part of `create_app` (about a quarter of a second on this machine). The middleware keeps
    what it was given at creation (body limit, cookie and HSTS flags)."""
    app.state.settings = settings
    app.state.engine = make_engine(
        settings.effective_database_url, busy_seconds=settings.database_busy_seconds
    )
    app.state.library = cached_library(str(Path(settings.controls_dir).resolve()))
    app.state.keys = Keys.from_settings(settings)
    app.state.store = make_store(settings)
    app.state.mailer = make_mailer(settings)
    deliver_events(settings)  # each event's mail is queued once its request commits (app.services.events)
    app.state.error_pages = HtmlErrorPages()  # the browser's error pages (app.http stays web-free)
    app.state.tracing = make_tracing(settings)  # None unless ATTEST_TRACES_ENDPOINT is set
