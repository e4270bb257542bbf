"""`attest verify-evidence`: re-hash the evidence store, and repair what a crash left.

By default this process re-hashes every object itself. With `--queue` it splits the store by
object-key prefix into `--shards` jobs on the job queue (app.jobs: `attest.evidence.shard`),
so every running `attest worker` re-hashes a part in parallel, and prints the report that the
gathering job (`attest.evidence.gather`) adds up: the same report, in the same form.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

from app.adapters.storage import make_store
from app.cli.common import JsonFlag, emit, fail, unit_of_work
from app.config import Settings
from app.services import evidence_integrity as integrity

DEFAULT_SHARDS = 16
DEFAULT_TIMEOUT_SECONDS = 3600.0


def verify_evidence(
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="First remove orphans and temp files older than ATTEST_ORPHAN_GRACE_MINUTES "
            "(left by a crash; never an object a row refers to).",
        ),
    ] = False,
    queue: Annotated[
        bool,
        typer.Option(
            "--queue",
            help="Re-hash on the job queue: one job per key prefix, run by the `attest worker`s "
            "in parallel; waits for their gathered report and prints it.",
        ),
    ] = False,
    shards: Annotated[
        int,
        typer.Option("--shards", help="With --queue: how many jobs to split the store into (1, 16 or 256)."),
    ] = DEFAULT_SHARDS,
    timeout: Annotated[
        float,
        typer.Option("--timeout", help="With --queue: seconds to wait for the workers' report.", min=1),
    ] = DEFAULT_TIMEOUT_SECONDS,
    as_json: JsonFlag = False,
) -> None:
    """Re-hash every stored evidence object; report mismatches, missing objects and orphans (exit 1)."""
    if queue and shards not in integrity.SHARD_COUNTS:
        fail(f"--shards must be one of {', '.join(map(str, integrity.SHARD_COUNTS))} (got {shards})")
    with unit_of_work(write=False) as (session, settings, _):
        store = make_store(settings)
        grace = settings.orphan_grace_minutes * 60
        swept = integrity.sweep(session, store, grace_seconds=grace) if repair else integrity.Sweep()
        report = None if queue else integrity.check(session, store, grace_seconds=grace)
    extra: dict[str, Any] = {}
    if report is None:
        report, extra = _on_the_queue(settings, shards=shards, grace_seconds=grace, timeout=timeout)
    payload = {
        "checked": report.checked,
        "missing": report.missing,
        "corrupt": report.corrupt,
        "orphans": report.orphans,
        "young_orphans": report.young_orphans,
        "stale_temp_files": report.stale_temp_files,
        "removed": {"orphans": swept.orphans, "temp_files": swept.temp_files},
        **extra,
    }
    failed = extra.get("failed_shards", [])
    lines = [
        *(f"removed orphan {k} (no evidence row, older than the grace period)" for k in swept.orphans),
        *(f"removed stale temp file {name}" for name in swept.temp_files),
    ]
    if report.ok:
        lines.append(f"evidence store intact: {report.checked} objects")
    else:
        lines.append(
            f"evidence store problems: {len(report.missing)} missing, {len(report.corrupt)} corrupt, "
            f"{len(report.orphans)} orphans, {report.stale_temp_files} stale temp files: "
            + ", ".join(
                [
                    *(f"missing {k}" for k in report.missing),
                    *(f"corrupt {k}" for k in report.corrupt),
                    *(f"orphan {k}" for k in report.orphans),
                ]
            )
        )
        if (report.orphans or report.stale_temp_files) and not repair:
            lines.append(
                "orphans and stale temp files are left by a crash: `attest verify-evidence --repair`"
            )
    lines.extend(
        f"young orphan {k} kept (younger than {settings.orphan_grace_minutes} minutes: "
        "its upload may be about to commit)"
        for k in report.young_orphans
    )
    lines.extend(
        f"shard {f['prefix'] or '(all)'} failed, its objects were not checked: {f['error']}" for f in failed
    )
    emit(as_json, payload, "\n".join(lines))
    if not report.ok or failed:
        raise typer.Exit(code=1)


def _on_the_queue(
    settings: Settings, *, shards: int, grace_seconds: float, timeout: float
) -> tuple[integrity.Report, dict[str, Any]]:
    """Queue the shard jobs and wait for the gathered report (and the shards that failed)."""
    from huey.exceptions import ResultTimeout, TaskException  # type: ignore[import-untyped]

    from app.adapters.jobs import check, describe, make_huey
    from app.jobs import Jobs

    huey = make_huey(settings)
    problem = check(huey)
    if problem:
        fail(problem)
    handle = Jobs(huey, settings).verify_evidence(shards=shards, grace_seconds=grace_seconds, now=time.time())
    try:
        gathered: dict[str, Any] = handle.get(blocking=True, timeout=timeout)
    except ResultTimeout:
        fail(
            f"no report from the job queue ({describe(settings)}) within {timeout:g} s: "
            "is an `attest worker` running?"
        )
    except TaskException as error:
        fail(f"the job gathering the shard reports failed: {error.metadata.get('error', error)}")
    extra = {"shards": gathered["shards"], "failed_shards": gathered["failed_shards"]}
    return integrity.Report.from_dict(gathered), extra
