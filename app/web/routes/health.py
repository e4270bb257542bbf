"""Liveness and readiness probes for load balancers and orchestrators."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse

from app import __version__
from app.checks import check_catalogues, check_database, check_writable_dir

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
