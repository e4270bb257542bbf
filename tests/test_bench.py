"""`make bench` (bench/scale.py, issue 18 item 5): the data-set builder makes the promised shape,
the same rows from the same seed, and a run at a tiny size writes every figure the benchmark
promises. Timings are never asserted: only that each figure is there and is a number."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, text

from app import migrate
from app.db import make_engine
from bench import scale
from bench.dataset import (
    ANSWERED,
    CATALOGUES,
    EVIDENCE_PER_ENGAGEMENT,
    SIZES,
    Size,
    build,
    catalogue_controls,
    widen,
)

TINY = SIZES["tiny"]


def fresh(folder: Path) -> Engine:
    engine = make_engine(f"sqlite:///{folder / 'bench.db'}")
    migrate.upgrade(engine)
    return engine


def scalar(engine: Engine, sql: str, **params: object) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), params).scalar_one())


def test_the_data_set_has_the_promised_shape(tmp_path: Path) -> None:
    engine = fresh(tmp_path)
    now = datetime.now(UTC)
    built = build(engine, tmp_path / "evidence", TINY, now=now)

    assert scalar(engine, "SELECT count(*) FROM engagement") == TINY.engagements
    assert len(set(built.supplier_of.values())) == TINY.suppliers
    assert scalar(engine, "SELECT count(*) FROM organisation WHERE kind = 'supplier'") == TINY.suppliers
    assert scalar(engine, "SELECT count(*) FROM user_account WHERE role = 'buyer_advisor'") == TINY.advisors
    assert scalar(engine, "SELECT count(*) FROM user_account WHERE role = 'supplier_lead'") == TINY.suppliers
    assert scalar(engine, "SELECT count(DISTINCT buyer_org_id) FROM engagement") == 1

    per_engagement = sum(len(ids) for ids in catalogue_controls().values())
    answers = scalar(engine, "SELECT count(*) FROM control_response")
    assert abs(answers / (per_engagement * TINY.engagements) - ANSWERED) < 0.1  # about 60% answered
    assert scalar(engine, "SELECT count(*) FROM engagement_catalogue") == len(CATALOGUES) * TINY.engagements

    # A year of history: every answer has at least one change, none older than a year.
    unhistoried = scalar(
        engine,
        "SELECT count(*) FROM control_response r WHERE NOT EXISTS (SELECT 1 FROM response_change c"
        " WHERE c.engagement_id = r.engagement_id AND c.control_id = r.control_id)",
    )
    assert unhistoried == 0
    with engine.connect() as connection:
        oldest = connection.execute(text("SELECT min(changed_at) FROM response_change")).scalar_one()
    oldest = datetime.fromisoformat(str(oldest)).replace(tzinfo=UTC)
    assert now - timedelta(days=366) < oldest < now - timedelta(days=30)

    # Five evidence files per engagement, real files in the local store under their sha256.
    with engine.connect() as connection:
        evidence = connection.execute(text("SELECT supplier_org_id, sha256, size FROM evidence")).all()
        linked = connection.execute(
            text("SELECT count(DISTINCT evidence_id) FROM evidence_link")
        ).scalar_one()
    assert len(evidence) == EVIDENCE_PER_ENGAGEMENT * TINY.engagements == linked
    for _, key, size in evidence:
        path = tmp_path / "evidence" / "objects" / key[:2] / key[2:4] / key
        assert path.stat().st_size == size
        assert hashlib.sha256(path.read_bytes()).hexdigest() == key
    assert built.evidence_bytes == sum(size for *_, size in evidence)

    by_supplier = Counter(built.supplier_of.values())
    assert set(by_supplier.values()) == {TINY.engagements // TINY.suppliers}
    assert len(built.submission_ids) == scalar(engine, "SELECT count(*) FROM submission") >= 1
    assert built.answered_control.startswith("ISO")

    controls = widen(engine, built)
    assert controls > 380
    wide = built.engagement_ids[1]
    assert (
        scalar(engine, "SELECT count(*) FROM control_response WHERE engagement_id = :e", e=wide) == controls
    )
    engine.dispose()


def test_the_same_seed_builds_the_same_rows(tmp_path: Path) -> None:
    size = Size("two", 2, 1, 1)
    first, second = tmp_path / "a", tmp_path / "b"
    for folder in (first, second):
        folder.mkdir()
    a = build(fresh(first), first / "evidence", size)
    b = build(fresh(second), second / "evidence", size)
    assert a.engagement_ids == b.engagement_ids
    assert a.rows == b.rows
    assert sorted(p.name for p in (first / "evidence").rglob("*") if p.is_file()) == sorted(
        p.name for p in (second / "evidence").rglob("*") if p.is_file()
    )


def numbers(row: dict[str, object], *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], int | float), (key, row)


def test_a_tiny_run_writes_every_figure(tmp_path: Path) -> None:
    """The real thing at a tiny size: `attest serve --workers 2` in production mode, wrk, a 1 MiB
    upload, the export, the bundle, the plan PDF and the reminder sweep (SQLite)."""
    blobs = tmp_path / "blobs"
    blobs.mkdir()
    report = scale.header(1)
    lines: list[str] = []
    report["runs"].append(scale.run_one("sqlite", "tiny", 1, {"1 MB": scale.MB}, blobs, lines.append, 1))
    json.dumps(report)  # all of it can be written as JSON

    assert {"commit", "date", "machine", "server", "wrk", "runs"} <= set(report)
    run = report["runs"][0]
    assert run["database"] == "sqlite" and run["size"] == "tiny" and run["workers"] == 2
    assert run["data_set"]["engagements"] == TINY.engagements
    assert set(run["endpoints"]) == {
        "work view",
        "control page",
        "readiness",
        "answer save",
        "advisor home",
        "portfolio",
        "review page",
        "GET /api/engagements",
    }
    for name, row in run["endpoints"].items():
        assert row["status"] == 200, (name, row.get("error"))
        for clients in ("1 client", "8 clients"):
            figures = row[clients]
            numbers(figures, "requests_per_s", "requests", "non_2xx")
            if figures["requests"]:  # none, when one response outlasts the (one-second) run
                numbers(figures, "median_ms", "p95_ms", "p99_ms")
            else:
                assert figures["median_ms"] is figures["p95_ms"] is figures["p99_ms"] is None
    upload, download = run["files"]["1 MB"]["upload"], run["files"]["1 MB"]["download"]
    assert upload["status"] == 201 and download["status"] == 200
    assert download["bytes"] == scale.MB
    numbers(upload, "mb_per_s", "rss_growth_mb")
    numbers(download, "mb_per_s", "rss_growth_mb")
    assert run["export"]["status"] == 200 and run["export"]["controls"] > 380
    numbers(run["export"], "median_ms", "rss_growth_mb")
    assert run["bundle"]["status"] == 200 and run["bundle"]["bytes"] > scale.MB
    numbers(run["bundle"], "seconds", "rss_growth_mb")
    assert run["plan_pdf"]["status"] == 200
    numbers(run["plan_pdf"], "median_ms")
    assert run["reminder_sweep"]["exit_status"] == 0
    numbers(run["reminder_sweep"], "seconds", "messages_delivered")
    assert run["access_log_lines"] > 0
    table = scale.table(report)
    assert "work view" in table and "reminder sweep" in table and "plan PDF" in table
    assert "reminder sweep < 10 s" in scale.targets(report)
    assert any("reminder sweep" in line for line in lines)
