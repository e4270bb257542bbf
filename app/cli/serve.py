"""`attest serve`: check the configuration, clean up after a crash, then serve HTTP."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from app import __version__
from app.adapters.logs import uvicorn_log_config
from app.adapters.storage import make_store
from app.cli.common import fail, settings_or_fail
from app.config import Settings
from app.db import make_engine, session_scope
from app.services import evidence_integrity as integrity
from app.services.health import check_catalogues, check_database, check_writable_dir, prepare_sqlite_folder


def startup_problems(settings: Settings) -> list[str]:
    """What stops the server from starting, one line each."""
    problem = prepare_sqlite_folder(settings.effective_database_url)
    if problem:
        return [problem]
    engine = make_engine(settings.effective_database_url)
    checks = (
        check_database(engine),
        check_writable_dir(Path(settings.evidence_dir), "ATTEST_EVIDENCE_DIR"),
        check_writable_dir(Path(settings.data_dir), "ATTEST_DATA_DIR"),
        check_catalogues(Path(settings.controls_dir)),
    )
    engine.dispose()
    return [p for p in checks if p]


STARTUP_SWEEP_SECONDS = 10.0  # start-up stays quick; `verify-evidence --repair` finishes the rest


def startup_cleanup(settings: Settings) -> list[str]:
    """Remove what a crash left in the evidence store (see evidence_integrity); one line each."""
    engine = make_engine(settings.effective_database_url)
    try:
        with session_scope(engine) as session:
            swept = integrity.sweep(
                session,
                make_store(settings),
                grace_seconds=settings.orphan_grace_minutes * 60,
                budget_seconds=STARTUP_SWEEP_SECONDS,
            )
    except Exception as error:  # a failed clean-up must not stop the server
        return [f"start-up clean-up of the evidence store failed: {str(error).splitlines()[0]}"]
    finally:
        engine.dispose()
    lines = [f"start-up clean-up: removed orphan {key} (left by a crash)" for key in swept.orphans]
    lines += [f"start-up clean-up: removed stale temp file {name}" for name in swept.temp_files]
    if not swept.complete:
        lines.append("start-up clean-up stopped for time: run `attest verify-evidence --repair`")
    return lines


def cores() -> int:
    """The CPU cores this process may run on (its affinity, so a container's limit counts)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def serve(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    workers: Annotated[
        int, typer.Option(min=0, help="Worker processes; 0: one per CPU core this process may use.")
    ] = 1,
) -> None:
    """Serve Attest over HTTP (refuses to start on bad configuration)."""
    import uvicorn

    from app.cli.serve_protocol import NoDelayHTTPProtocol

    settings = settings_or_fail()
    problems = startup_problems(settings)
    if problems:
        fail(problems[0])
    for line in startup_cleanup(settings):
        typer.echo(line, err=True)
    workers = workers or cores()
    typer.echo(f"Attest {__version__} on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''})")
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=NoDelayHTTPProtocol,  # TCP_NODELAY on every connection, with one worker or many
        log_level=settings.log_level,
        # Attest's format for uvicorn's lines too; its access log is off: app.http.middleware
        # writes one line per request, naming the route template, never the path with its tokens.
        log_config=uvicorn_log_config(settings),
        access_log=False,
        # Uvicorn's default believes X-Forwarded-* from 127.0.0.1: only the configured proxies.
        # It also takes the scheme from X-Forwarded-Proto (absolute redirects and the ISAS verify
        # link stay https behind a TLS proxy). The client address the app audits and throttles
        # is read again by app.domain.addresses, which prefers Forwarded (RFC 7239); the shipped
        # nginx config sets both headers to the same client, so the two never disagree.
        proxy_headers=bool(settings.trusted_networks),
        forwarded_allow_ips=[str(network) for network in settings.trusted_networks],
    )
