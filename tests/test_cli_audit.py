"""`attest audit verify | checkpoint | heads | prune` as an operator runs them: real processes on a
real SQLite file holding three tenants' chains (an engagement, an organisation, the installation)."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

from app import migrate
from app.adapters.crypto import Keys
from app.db import make_engine, session_scope
from app.services import audit
from tests.test_cli import run

SECRET = {"ATTEST_SECRET_KEY": "the-key-the-log-was-written-with-" + "c" * 16}
WRONG = {"ATTEST_SECRET_KEY": "a-key-from-another-deployment-" + "w" * 16}
ORG = "organisation:o1"
ENGAGEMENT = "engagement:e1"


def database(tmp_path: Path) -> Path:
    return tmp_path / "var" / "attest.db"


def seeded(tmp_path: Path, start: datetime | None = None) -> dict[tuple[str, int], int]:
    """A migrated database with 3 records in an engagement's chain, 2 in an organisation's and 1
    in the installation's, written with the key the commands will use; returns each record's
    installation-wide number by (chain, position)."""
    key = Keys(SECRET["ATTEST_SECRET_KEY"]).audit
    database(tmp_path).parent.mkdir()
    engine = make_engine(f"sqlite:///{database(tmp_path)}")
    migrate.upgrade(engine)  # what `attest db upgrade` does (tests/test_cli.py runs that command)
    moments = iter(start + timedelta(days=n) for n in range(100)) if start else None
    with session_scope(engine, write=True) as session:
        for who, engagement_id, count in (
            (audit.Who(user_id="u1", org_id="o1"), "e1", 3),
            (audit.Who(user_id="u1", org_id="o1"), None, 2),
            (audit.Who(address="cli"), None, 1),
        ):
            for n in range(count):
                at = next(moments) if moments else None
                audit.record(session, key, who, f"action_{n}", engagement_id=engagement_id, at=at)
        session.commit()
    engine.dispose()
    with sqlite3.connect(database(tmp_path)) as connection:
        rows = connection.execute("SELECT chain, chain_seq, seq FROM audit_event").fetchall()
    return {(chain, position): seq for chain, position, seq in rows}


def tamper(tmp_path: Path, *statements: str) -> None:
    connection = sqlite3.connect(database(tmp_path))
    connection.execute("DROP TRIGGER IF EXISTS audit_event_no_update")
    connection.execute("DROP TRIGGER IF EXISTS audit_event_no_delete")
    for statement in statements:
        connection.execute(statement)
    connection.commit()
    connection.close()


def test_verify_walks_every_chain(tmp_path: Path) -> None:
    seeded(tmp_path)
    result = run(tmp_path, "audit", "verify", **SECRET)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "audit log intact: 6 records in 3 chains"
    report = json.loads(run(tmp_path, "audit", "verify", "--json", **SECRET).stdout)
    assert report["ok"] and report["checked"] == 6 and report["chains"] == 3 and report["broken"] == []
    assert report["checkpoints_in_bucket"] is None  # a local evidence store: no bucket


def test_checkpoint_writes_the_head_of_every_chain_and_heads_prints_them(tmp_path: Path) -> None:
    at = seeded(tmp_path)
    written = run(tmp_path, "audit", "checkpoint", "--json", **SECRET)
    assert written.returncode == 0, written.stderr
    payload = json.loads(written.stdout)
    assert payload["object"] is None and payload["file"] == "var/audit-checkpoints.log"
    chains = payload["chains"]
    assert [(c["chain"], c["seq"]) for c in chains] == [(ENGAGEMENT, 3), ("installation", 1), (ORG, 2)]
    key_ids = {c["key_id"] for c in chains}
    assert len(key_ids) == 1 and "" not in key_ids  # the key matched every head
    lines = (tmp_path / "var" / "audit-checkpoints.log").read_text().splitlines()
    assert [line.split()[:3] for line in lines] == [[c["chain"], str(c["seq"]), c["hash"]] for c in chains]
    with sqlite3.connect(database(tmp_path)) as connection:
        (last,) = connection.execute("SELECT hash FROM audit_event WHERE seq = ?", (at[ORG, 2],)).fetchone()
    assert chains[2]["hash"] == last

    heads = json.loads(run(tmp_path, "audit", "heads", "--json", **SECRET).stdout)
    assert heads["kind"] == "attest-audit-checkpoint" and heads["chains"] == chains
    text = run(tmp_path, "audit", "heads", **SECRET).stdout.splitlines()
    assert text == [f"{c['chain']} {c['seq']} {c['hash']} key={c['key_id']}" for c in chains]
    unkeyed = json.loads(run(tmp_path, "audit", "heads", "--json", **WRONG).stdout)
    assert {c["key_id"] for c in unkeyed["chains"]} == {""}  # a key id only for the key that wrote them


def test_verify_names_the_broken_chain_its_record_and_position(tmp_path: Path) -> None:
    at = seeded(tmp_path)
    tamper(tmp_path, f"UPDATE audit_event SET action = 'nothing' WHERE seq = {at[ORG, 2]}")
    broken = run(tmp_path, "audit", "verify", **SECRET)
    assert broken.returncode == 1
    assert broken.stdout.strip() == (
        f"audit log BROKEN at record {at[ORG, 2]} (chain {ORG}, position 2): "
        f"record {at[ORG, 2]} was altered (its hash does not match)"
    )
    report = json.loads(run(tmp_path, "audit", "verify", "--json", **SECRET).stdout)
    assert not report["ok"] and not report["wrong_key"]
    assert (report["chain"], report["first_bad_seq"], report["first_bad_position"]) == (ORG, at[ORG, 2], 2)
    assert [b["chain"] for b in report["broken"]] == [ORG]  # the other tenants' chains hold


def test_verify_reports_a_deleted_record_by_its_place(tmp_path: Path) -> None:
    at = seeded(tmp_path)
    tamper(tmp_path, f"DELETE FROM audit_event WHERE seq = {at[ENGAGEMENT, 2]}")
    broken = run(tmp_path, "audit", "verify", **SECRET)
    assert broken.returncode == 1
    assert broken.stdout.strip() == (
        f"audit log BROKEN in chain {ENGAGEMENT} at position 2: "
        f"position 2 is missing (the next record is {at[ENGAGEMENT, 3]})"
    )


def test_a_tail_cut_off_after_a_checkpoint_fails_verify(tmp_path: Path) -> None:
    at = seeded(tmp_path)
    assert run(tmp_path, "audit", "checkpoint", **SECRET).returncode == 0
    tamper(
        tmp_path,
        f"DELETE FROM audit_event WHERE seq = {at[ENGAGEMENT, 3]}",
        "UPDATE audit_head SET seq = 2, hash = (SELECT hash FROM audit_event"
        f" WHERE seq = {at[ENGAGEMENT, 2]}) WHERE chain = '{ENGAGEMENT}'",
    )
    broken = run(tmp_path, "audit", "verify", **SECRET)
    assert broken.returncode == 1
    assert f"chain {ENGAGEMENT} at position 3: records after position 2 are missing (a checkpoint saw 3)" in (
        broken.stdout
    )


def test_a_wrong_key_exits_3_for_every_chain_and_says_so_once(tmp_path: Path) -> None:
    seeded(tmp_path)
    mistaken = run(tmp_path, "audit", "verify", **WRONG)
    assert mistaken.returncode == 3
    assert (
        mistaken.stdout.count("the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY)") == 1
    )
    assert "BROKEN" not in mistaken.stdout and "altered" not in mistaken.stdout
    report = json.loads(run(tmp_path, "audit", "verify", "--json", **WRONG).stdout)
    assert report["wrong_key"] is True and len(report["broken"]) == 3


def test_a_chain_rewritten_whole_is_tampering_not_a_wrong_key(tmp_path: Path) -> None:
    """The other chains verify with the key, so the key is right."""
    seeded(tmp_path)
    tamper(tmp_path, f"UPDATE audit_event SET hash = '{'0' * 64}' WHERE chain = '{ORG}'")
    broken = run(tmp_path, "audit", "verify", **SECRET)
    assert broken.returncode == 1
    assert f"(chain {ORG}, position 1)" in broken.stdout and "altered" in broken.stdout


def test_prune_goes_chain_by_chain_and_the_rest_verifies(tmp_path: Path) -> None:
    seeded(tmp_path, start=datetime(2025, 1, 1, 12, tzinfo=UTC))
    refused = run(tmp_path, "audit", "prune", "--retention-days", "30", **SECRET)
    assert refused.returncode == 2 and "kept at least 183 days" in refused.stderr
    pruned = json.loads(run(tmp_path, "audit", "prune", "--json", **SECRET).stdout)
    assert pruned == {"removed": 6, "chains": 3}
    with sqlite3.connect(database(tmp_path)) as connection:
        segments = connection.execute(
            "SELECT chain, first_seq, last_seq FROM audit_segment ORDER BY chain"
        ).fetchall()
    assert segments == [(ENGAGEMENT, 1, 3), ("installation", 1, 1), (ORG, 1, 2)]
    report = json.loads(run(tmp_path, "audit", "verify", "--json", **SECRET).stdout)
    assert report["ok"] and report["checked"] == 0 and report["chains"] == 3
