"""Liveness and readiness probes for load balancers and orchestrators, and /metrics for
Prometheus (only with the bearer token ATTEST_METRICS_TOKEN; without the setting it is 404)."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from app import __version__
from app.adapters.metrics import exposition
from app.services import metrics
from app.services.health import check_catalogues, check_database, check_writable_dir

router = APIRouter(tags=["health"])


@router.get("/healthz", name="health:alive")
async def healthz() -> dict[str, str]:
    """The process is alive (it checks nothing else)."""
    return {"status": "ok", "version": __version__}


@router.get("/readyz", name="health:ready")
async def readyz(request: Request) -> JSONResponse:
    """Ready: database reachable and migrated, evidence store writable, catalogues loaded."""
    settings = request.app.state.settings
    results = await run_in_threadpool(
        lambda: {
            "database": check_database(request.app.state.engine),
            "evidence_store": check_writable_dir(Path(settings.evidence_dir), "ATTEST_EVIDENCE_DIR"),
            "catalogues": check_catalogues(Path(settings.controls_dir)),
        }
    )
    checks = {name: {"ok": problem is None, "problem": problem} for name, problem in results.items()}
    ready = all(c["ok"] for c in checks.values())
    body = {"status": "ready" if ready else "not_ready", "checks": checks}
    return JSONResponse(body, status_code=200 if ready else 503)


def _bearer(request: Request) -> str:
    scheme, _, credentials = request.headers.get("authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else ""


@router.get("/metrics", name="health:metrics", include_in_schema=False)
async def prometheus_metrics(request: Request) -> Response:
    """Prometheus text format. Unset token: 404, as if there were no such page. Token set but
    missing or wrong: 401 with a Bearer challenge, so a scraper's misconfiguration shows as
    such. Compared as SHA-256 digests in constant time, so the time taken tells nothing of the
    token, not even its length."""
    expected: str = request.app.state.settings.metrics_token
    if not expected:
        raise HTTPException(404)
    given, wanted = (hashlib.sha256(t.encode()).digest() for t in (_bearer(request), expected))
    if not secrets.compare_digest(given, wanted):
        raise HTTPException(
            401, "Metrics need the bearer token set in ATTEST_METRICS_TOKEN.", {"WWW-Authenticate": "Bearer"}
        )
    values = await run_in_threadpool(
        metrics.readings, request.app.state.engine, settings=request.app.state.settings
    )
    body, content_type = exposition(values)
    return Response(body, media_type=content_type, headers={"Cache-Control": "no-store"})
