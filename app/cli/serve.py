"""`attest serve`: check the configuration, clean up after a crash, then serve HTTP.

With `--workers` above 1 the supervisor loads what every worker only reads (every module the app
imports, the catalogue library, the page templates compiled), freezes it out of the garbage
collector's reach, then forks the workers, so they share those pages copy-on-write instead of
each loading its own copy (uvicorn's supervisor spawns fresh interpreters: see `fork_workers`)."""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import socket
from collections.abc import Callable
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from app import __version__
from app.adapters.catalogue_files import cached_library
from app.adapters.logs import uvicorn_log_config
from app.adapters.storage import make_store
from app.cli.common import fail, settings_or_fail
from app.config import Settings
from app.db import make_engine, session_scope
from app.services import evidence_integrity as integrity
from app.services.health import check_catalogues, check_database, check_writable_dir, prepare_sqlite_folder

if TYPE_CHECKING:
    import uvicorn


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


def preload(settings: Settings) -> None:
    """Load, once, in the supervisor, what the workers read and never change, then move every
    object alive into the collector's permanent generation (`gc.freeze`): a worker's collections
    then never walk, and so never write to, the pages it shares with the supervisor.

    Nothing loaded here holds a connection, an open file or a thread: each worker builds its app
    after the fork (`app.main:create_app`, uvicorn's factory), and with it its own database
    engine and pool; the engines `startup_problems` and `startup_cleanup` used are disposed."""
    import app.main  # noqa: F401  (every module the app imports: most of a worker's memory)
    from app.web.templating import templates

    cached_library(str(Path(settings.controls_dir).resolve()))  # the key app.main.configure uses
    for name in templates.env.list_templates(extensions=["html"]):
        if not name.startswith("emails/"):  # mail has its own environment (app.adapters.mail)
            templates.env.get_template(name)  # compiled now, kept in the environment's cache
    gc.collect()
    gc.freeze()


FORK = multiprocessing.get_context("fork")


def _forked_worker(config: uvicorn.Config, target: Callable[..., None], sockets: list[socket.socket]) -> None:
    """A forked worker's first step: the signal handlers it inherited queue signals for the
    supervisor's loop, which does not run here, so put back those a fresh interpreter has (the
    server installs its own for SIGINT and SIGTERM while it serves), then run as uvicorn runs a
    spawned worker. Standard input is not reopened: multiprocessing points it at /dev/null."""
    from uvicorn._subprocess import subprocess_started
    from uvicorn.supervisors.multiprocess import SIGNALS

    for number in SIGNALS:
        signal.signal(number, signal.default_int_handler if number == signal.SIGINT else signal.SIG_DFL)
    subprocess_started(config=config, target=target, sockets=sockets, stdin_fileno=None)


def forked_subprocess(
    config: uvicorn.Config, target: Callable[..., None], sockets: list[socket.socket]
) -> BaseProcess:
    """uvicorn's `get_subprocess`, forking instead of spawning."""
    return FORK.Process(target=_forked_worker, args=(config, target, sockets))


def fork_workers() -> None:
    """Make uvicorn's own supervisor (`uvicorn.supervisors.Multiprocess`: graceful SIGTERM and
    SIGINT, SIGHUP restart, SIGTTIN/SIGTTOU, a dead or hung worker replaced) fork its workers.
    It builds each worker through one module-level function, `get_subprocess`, which spawns; this
    process only ever supervises, so that name is pointed at `forked_subprocess` here. Refuses to
    start if uvicorn no longer has that function rather than silently loading a copy per worker."""
    from uvicorn.supervisors import multiprocess

    if not callable(getattr(multiprocess, "get_subprocess", None)):
        raise RuntimeError("uvicorn.supervisors.multiprocess.get_subprocess is gone: cannot fork workers")
    multiprocess.get_subprocess = forked_subprocess  # type: ignore[attr-defined,assignment]


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
    if workers > 1:
        preload(settings)
        fork_workers()
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
