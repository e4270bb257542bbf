"""create_app(): routers, error handlers, middleware and static files."""

from __future__ import annotations

import logging
from pathlib import Path

from fastapi import Depends, FastAPI
from fastapi.staticfiles import StaticFiles

from app import __version__
from app.api import approvals as approvals_api
from app.api import assessment as assessment_api
from app.api import catalogues as catalogues_api
from app.api import certificates as certificates_api
from app.api import engagements as engagements_api
from app.catalogue import cached_library
from app.config import Settings, get_settings
from app.db import make_engine
from app.mail import make_mailer
from app.security import Keys
from app.storage import make_store
from app.web.auth import csrf_guard, require_principal
from app.web.csrf import CsrfCookieMiddleware
from app.web.errors import UnhandledErrorMiddleware, install_error_handlers
from app.web.middleware import BodyLimitMiddleware, RequestIdMiddleware, SecurityHeadersMiddleware
from app.web.routes import (
    account,
    admin,
    approvals,
    assessment,
    audit,
    auth,
    catalogues,
    certificates,
    engagements,
    evidence,
    health,
    home,
    notifications,
    portfolio,
)
from app.web.text_guard import refuse_control_characters

STATIC_DIR = Path(__file__).parent / "static"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()
    logging.basicConfig(level=settings.log_level.upper())
    app = FastAPI(
        title="Attest",
        version=__version__,
        description="Supplier security assurance for UK government contracts.",
        docs_url=None,  # Swagger UI would load from a CDN; the schema is at /api/openapi.json
        redoc_url=None,
        openapi_url="/api/openapi.json",
        dependencies=[Depends(csrf_guard), Depends(refuse_control_characters)],
    )
    app.state.settings = settings
    app.state.engine = make_engine(settings.effective_database_url)
    app.state.library = cached_library(str(Path(settings.controls_dir).resolve()))
    app.state.keys = Keys(settings.audit_key or settings.resolved_secret_key())
    app.state.store = make_store(settings)
    app.state.mailer = make_mailer(settings)

    install_error_handlers(app)
    signed_in = [Depends(require_principal)]
    app.include_router(health.router)
    app.include_router(home.router)
    app.include_router(auth.router)
    app.include_router(account.router)
    app.include_router(admin.router)
    app.include_router(audit.router)
    app.include_router(engagements.router)
    app.include_router(assessment.router)
    app.include_router(evidence.router)
    app.include_router(approvals.router)
    app.include_router(catalogues.router, dependencies=signed_in)
    app.include_router(catalogues_api.router, dependencies=signed_in)
    app.include_router(engagements_api.router)
    app.include_router(assessment_api.router)
    app.include_router(approvals_api.router)
    app.include_router(certificates.router)
    app.include_router(portfolio.router)
    app.include_router(notifications.router)
    app.include_router(notifications.feed_router)
    app.include_router(certificates_api.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodyLimitMiddleware, limit_kb=settings.max_body_kb)
    app.add_middleware(CsrfCookieMiddleware, secure=settings.secure_cookies)
    app.add_middleware(SecurityHeadersMiddleware, hsts=settings.https)
    app.add_middleware(RequestIdMiddleware)
    return app
