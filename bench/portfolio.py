"""The pages that look across engagements, at two sizes: time and SQL statements per request of
the advisor's home page, the portfolio (first page, by supplier and by readiness), the
engagements page and API and the review queue, with 50 and with 400 engagements (half of them
with one supplier, the rest each with its own), built straight into the tables.

`python -m bench.portfolio` alone, or as part of `make bench`; `python -m bench.portfolio 400 2000`
for other sizes (each a number of engagements, ascending). Figures, not tests."""

from __future__ import annotations

import statistics
import sys
import time

from fastapi.testclient import TestClient
from sqlalchemy import event

from bench.app import fresh_app
from tests.api.test_statement_counts import grow
from tests.factories import make_org, make_person, sign_in

PATHS = (
    "/",
    "/portfolio",
    "/portfolio?sort=readiness&order=desc",
    "/engagements",
    "/api/engagements",
    "/reviews",
)
SIZES = (50, 400)
RUNS = 15


def main(sizes: tuple[int, ...] = SIZES) -> None:
    app = fresh_app("attest-bench-portfolio-")
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, app.state.keys, "buyer_advisor", buyer)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    built = 0
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        for size in sizes:
            grow(engine, buyer, supplier, size - built, advisor.user.id)
            built = size
            print(f"{size} engagements (SQLite, in process)")
            for path in PATHS:
                client.get(path)
                samples = []
                for _ in range(RUNS):
                    statements.clear()
                    start = time.perf_counter()
                    response = client.get(path)
                    samples.append((time.perf_counter() - start) * 1000)
                samples.sort()
                print(
                    f"  {path:40} median {statistics.median(samples):7.1f} ms   "
                    f"p95 {samples[int(len(samples) * 0.95) - 1]:7.1f} ms   "
                    f"{len(statements):3} statements   {len(response.content) / 1024:6.0f} KB"
                )
    engine.dispose()


if __name__ == "__main__":
    main(tuple(int(a) for a in sys.argv[1:]) or SIZES)
