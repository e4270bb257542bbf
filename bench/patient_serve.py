"""`python -m bench.patient_serve serve ...`: `attest serve` itself (the same command line, code
and settings), except that uvicorn's supervisor waits longer for a worker to answer its health
ping (`timeout_worker_healthcheck`, 5 s by default) before killing and respawning it.

On the shared 2-core machine, with a load average near 20, a worker's start-up (importing the
app: about 4 s of CPU) takes longer than 5 s, so the supervisor killed every worker before it
was up, forever. The benchmark measures serving, not start-up; bench/scale.py reports the wait it
used (`--worker-start-seconds`; 5 runs the plain `attest serve`)."""

from __future__ import annotations

import os
from typing import Any

import uvicorn

from app.cli import main

_run = uvicorn.run


def patient_run(*args: Any, **kwargs: Any) -> None:
    kwargs.setdefault("timeout_worker_healthcheck", int(os.environ.get("BENCH_WORKER_START_SECONDS", "120")))
    _run(*args, **kwargs)


uvicorn.run = patient_run

if __name__ == "__main__":
    main()
