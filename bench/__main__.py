"""`make bench`: measure the figures the brief sets targets for, and print them.

Work view <= 20 ms, answer save <= 15 ms, readiness <= 10 ms (2-core machine), on SQLite with
every catalogue in the engagement and half the controls answered. Figures, not tests: nothing fails.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from datetime import date

from fastapi.testclient import TestClient

from app.db import session_scope
from app.models import EngagementCatalogue
from app.services import readiness
from bench.app import fresh_app
from bench.portfolio import main as across_engagements
from bench.review import review_page
from bench.workers import main as workers
from tests.factories import make_engagement, make_org, make_person, sign_in


def timed(label: str, runs: int, action: Callable[[], object], target_ms: float | None = None) -> None:
    for _ in range(3):
        action()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    p95 = samples[int(len(samples) * 0.95) - 1]
    target = f"  (target <= {target_ms:g} ms)" if target_ms else ""
    print(f"{label:48} median {statistics.median(samples):7.2f} ms   p95 {p95:7.2f} ms{target}")


def main() -> None:
    app = fresh_app("attest-bench-")
    folder = app.state.settings.data_dir.parent  # the benchmark's own temporary folder
    library = app.state.library
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, app.state.keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with session_scope(engine, write=True) as session:
        for catalogue in library.catalogues:
            if catalogue.id != "cps-security-policy":
                session.add(EngagementCatalogue(engagement_id=engagement.id, catalogue_id=catalogue.id))
        session.commit()
    controls = [c for cat in library.catalogues for c in cat.controls]
    print(
        f"engagement with {len(controls)} controls in {len(library.catalogues)} catalogues, SQLite, {folder}"
    )
    with TestClient(app) as client:
        sign_in(app, client, lead)
        for i, control in enumerate(controls[::2]):
            client.put(
                f"/api/engagements/{engagement.id}/responses/{control.id}",
                json={"status": ("met", "partially_met", "not_met")[i % 3], "statement": "x" * 200},
            )
        work = f"/engagements/{engagement.id}/catalogues/iso27001-2022"
        timed("work view (ISO 27001, 123 controls, full page)", 50, lambda: client.get(work), 20)
        counter = iter(range(10**9))
        timed(
            "answer save (PUT response)",
            100,
            lambda: client.put(
                f"/api/engagements/{engagement.id}/responses/ISO-A.8.8",
                json={"status": "met", "statement": f"patched {next(counter)}"},
            ),
            15,
        )
        timed(
            "readiness API (GET, all catalogues)",
            50,
            lambda: client.get(f"/api/engagements/{engagement.id}/readiness"),
        )
        with session_scope(engine) as session:
            timed(
                "readiness computed (queries + rule)",
                100,
                lambda: readiness.engagement_readiness(session, library, engagement, today=date.today()),
                10,
            )
        blob = folder / "upload.bin"
        blob.write_bytes(b"%PDF-1.4\n" + b"0" * (50 * 1024 * 1024))
        tracemalloc.start()
        start = time.perf_counter()
        with blob.open("rb") as handle:
            response = client.post(
                f"/api/engagements/{engagement.id}/evidence",
                data={"title": "Big", "control_ids": "ISO-A.8.8"},
                files={"file": ("big.pdf", handle, "application/pdf")},
            )
        elapsed = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        print(
            f"{'upload 50 MB (streamed)':48} {elapsed * 1000:7.0f} ms   status {response.status_code}   "
            f"peak traced Python memory {peak / 1024 / 1024:.1f} MB"
            "\n  (the in-process test client builds the request body in memory; the server streams it)"
        )
    review_page(app, engagement, controls, timed)
    app.state.engine.dispose()
    print("\npages across engagements (time and SQL statements per request):")
    across_engagements()
    print("\nsmall responses from a real server, one and two workers:")
    workers()


if __name__ == "__main__":
    main()
