"""The `attest` command as a newcomer runs it: real processes, real files, a real server."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import CONTROLS

ATTEST = str(Path(sys.executable).parent / "attest")


def run(tmp_path: Path, *args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    base.update({"ATTEST_CONTROLS_DIR": str(CONTROLS), **env})
    return subprocess.run(
        [ATTEST, *args], cwd=tmp_path, env=base, capture_output=True, text=True, timeout=timeout
    )


def assert_one_clear_line(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"attest: error: {setting}: ")
    return lines[0]


def test_version(tmp_path: Path) -> None:
    result = run(tmp_path, "--version")
    assert result.returncode == 0 and result.stdout.startswith("attest ")


def test_db_upgrade_is_idempotent_and_creates_var(tmp_path: Path) -> None:
    first = run(tmp_path, "db", "upgrade")
    second = run(tmp_path, "db", "upgrade")
    assert first.returncode == 0 and second.returncode == 0, first.stderr + second.stderr
    assert (tmp_path / "var" / "attest.db").exists()
    assert first.stdout.strip() == second.stdout.strip()


def test_demo_is_safe_to_run_twice(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    first = json.loads(run(tmp_path, "demo", "--json").stdout)
    second = json.loads(run(tmp_path, "demo", "--json").stdout)
    assert first["created"] > 0
    assert second["created"] == 0
    assert first["engagement_id"] == second["engagement_id"]
    assert {u["role"] for u in first["users"]} == {
        "administrator",
        "buyer_advisor",
        "supplier_lead",
        "supplier_contributor",
    }


def test_demo_prints_the_accounts(tmp_path: Path) -> None:
    run(tmp_path, "db", "upgrade")
    result = run(tmp_path, "demo")
    assert "lead@northwind.example" in result.stdout
    assert "advisor@cps.example" in result.stdout


def test_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    line = assert_one_clear_line(run(tmp_path, "serve"), "ATTEST_DATABASE_URL")
    assert "attest db upgrade" in line


def test_serve_refuses_an_unreachable_database(tmp_path: Path) -> None:
    result = run(tmp_path, "serve", ATTEST_DATABASE_URL="postgresql+psycopg://nobody@127.0.0.1:9/attest")
    line = assert_one_clear_line(result, "ATTEST_DATABASE_URL")
    assert "cannot reach the database" in line


def test_serve_refuses_an_unwritable_evidence_folder(tmp_path: Path) -> None:
    run(tmp_path, "db", "upgrade")
    (tmp_path / "blocker").write_text("a file, not a folder")
    result = run(tmp_path, "serve", ATTEST_EVIDENCE_DIR=str(tmp_path / "blocker" / "evidence"))
    assert_one_clear_line(result, "ATTEST_EVIDENCE_DIR")


def test_serve_refuses_a_malformed_setting(tmp_path: Path) -> None:
    assert_one_clear_line(run(tmp_path, "serve", ATTEST_MAX_UPLOAD_MB="many"), "ATTEST_MAX_UPLOAD_MB")


def test_serve_refuses_a_broken_catalogue(tmp_path: Path) -> None:
    run(tmp_path, "db", "upgrade")
    broken = tmp_path / "controls"
    broken.mkdir()
    (broken / "scoping.toml").write_text((CONTROLS / "scoping.toml").read_text())
    (broken / "tiny.toml").write_text(
        '[catalogue]\nid="tiny"\ntitle="T"\nversion="1"\nsource="s"\nkind="framework"\n'
        'description="d"\nid_prefix="T"\nsource_clauses=["1"]\n'
        '[[sections]]\nid="1"\ntitle="S"\n'
        '[[controls]]\nid="T-1"\nsection="1"\ntitle="x"\nrequirement="r"\nsource="s"\n'
        'clauses=["1"]\nevidence="e"\ncriticality="urgent"\n'
    )
    line = assert_one_clear_line(
        run(tmp_path, "serve", ATTEST_CONTROLS_DIR=str(broken)), "ATTEST_CONTROLS_DIR"
    )
    assert "tiny.toml" in line and "T-1" in line and "criticality" in line


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_home_and_readyz(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    with serving(tmp_path) as (base, _server):
        with urllib.request.urlopen(f"{base}/readyz", timeout=5) as r:
            assert json.load(r)["status"] == "ready"
        with urllib.request.urlopen(f"{base}/", timeout=5) as r:
            assert "Attest" in r.read().decode()


def test_scripts_can_drive_accounts_and_the_api(tmp_path: Path) -> None:
    import sqlite3

    from fastapi.testclient import TestClient

    from app.main import create_app
    from tests.conftest import make_settings

    assert run(tmp_path, "db", "upgrade").returncode == 0
    key = {"ATTEST_SECRET_KEY": "cli-test-secret-" + "y" * 32}
    org = json.loads(
        run(tmp_path, "orgs", "create", "--name", "Acme Ltd", "--kind", "supplier", "--json", **key).stdout
    )
    invited = json.loads(
        run(
            tmp_path,
            "users",
            "create",
            "--email",
            "Ann@Acme.example",
            "--org",
            "Acme Ltd",
            "--role",
            "supplier_lead",
            "--json",
            **key,
        ).stdout
    )
    assert invited["invitation_url"].startswith("http://127.0.0.1:8000/invitations/inv_")
    scripted = json.loads(
        run(
            tmp_path,
            "users",
            "create",
            "--email",
            "bot@acme.example",
            "--org",
            org["id"],
            "--role",
            "supplier_contributor",
            "--password",
            "a long scripted passphrase",
            "--json",
            **key,
        ).stdout
    )
    assert len(scripted["totp_secret"]) >= 32
    token = json.loads(
        run(tmp_path, "tokens", "create", "--email", "bot@acme.example", "--json", **key).stdout
    )
    assert token["token"].startswith("att_")
    refused = run(tmp_path, "tokens", "create", "--email", "ann@acme.example", **key)
    assert refused.returncode == 2 and "has not finished setting up" in refused.stderr
    duplicate = run(tmp_path, "orgs", "create", "--name", "Acme Ltd", "--kind", "supplier", **key)
    assert duplicate.returncode == 2 and "already exists" in duplicate.stderr
    bad_role = run(
        tmp_path, "users", "create", "--email", "c@acme.example", "--org", "Acme Ltd", "--role", "boss", **key
    )
    assert bad_role.returncode == 2 and "Role must be" in bad_role.stderr

    settings = make_settings(
        tmp_path, f"sqlite:///{tmp_path / 'var' / 'attest.db'}", secret_key=key["ATTEST_SECRET_KEY"]
    )
    app = create_app(settings)
    with TestClient(app) as client:
        me = client.get("/api/me", headers={"Authorization": f"Bearer {token['token']}"}).json()
    app.state.engine.dispose()
    assert me["email"] == "bot@acme.example" and me["organisation"]["name"] == "Acme Ltd"

    assert run(tmp_path, "users", "disable", "--email", "bot@acme.example", **key).returncode == 0
    verified = json.loads(run(tmp_path, "audit", "verify", "--json", **key).stdout)
    assert verified["ok"] and verified["checked"] >= 5
    assert run(tmp_path, "audit", "checkpoint", **key).returncode == 0

    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    database.execute("DROP TRIGGER audit_event_no_update")
    database.execute("UPDATE audit_event SET action = 'nothing' WHERE seq = 2")
    database.commit()
    database.close()
    broken = run(tmp_path, "audit", "verify", **key)
    assert broken.returncode == 1
    assert "BROKEN at record 2" in broken.stdout


def test_demo_loads_a_part_answered_engagement_and_verify_evidence_finds_damage(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    demo = json.loads(run(tmp_path, "demo", "--json").stdout)
    assert demo["created"] > 10
    ok = json.loads(run(tmp_path, "verify-evidence", "--json").stdout)
    assert ok["checked"] == 4 and not ok["missing"] and not ok["corrupt"] and not ok["orphans"]
    objects = sorted((tmp_path / "evidence" / "objects").rglob("*"))
    victim = next(p for p in objects if p.is_file())
    victim.chmod(0o640)
    victim.write_bytes(b"tampered")
    orphan_dir = tmp_path / "evidence" / "objects" / "ff" / "ff"
    orphan_dir.mkdir(parents=True, exist_ok=True)
    (orphan_dir / ("f" * 64)).write_bytes(b"stray")
    broken = run(tmp_path, "verify-evidence")
    assert broken.returncode == 1
    assert f"corrupt {victim.name}" in broken.stdout and f"orphan {'f' * 64}" in broken.stdout


def aged(path: Path, seconds_ago: float = 2 * 3600) -> Path:
    moment = time.time() - seconds_ago
    os.utime(path, (moment, moment))
    return path


def plant_object(evidence: Path, data: bytes) -> Path:
    """An object renamed into place whose row never committed."""
    import hashlib

    key = hashlib.sha256(data).hexdigest()
    path = evidence / "objects" / key[:2] / key[2:4] / key
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_verify_evidence_repair_removes_only_old_orphans_and_stale_temp_files(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert json.loads(run(tmp_path, "demo", "--json").stdout)["created"] > 0
    evidence = tmp_path / "evidence"
    committed = [p for p in (evidence / "objects").rglob("*") if p.is_file()]
    for path in committed:
        aged(path, 30 * 24 * 3600)  # acknowledged long ago: never an orphan, however old
    old = aged(plant_object(evidence, b"stored, then kill -9 before the commit\n"))
    young = plant_object(evidence, b"an upload about to commit\n")
    stale = evidence / "tmp" / "upload-killed"
    stale.write_bytes(b"half an upload")
    aged(stale)
    fresh = evidence / "tmp" / "upload-in-progress"
    fresh.write_bytes(b"still streaming")

    found = run(tmp_path, "verify-evidence")
    assert found.returncode == 1
    assert f"orphan {old.name}" in found.stdout and "1 stale temp files" in found.stdout
    assert "--repair" in found.stdout
    assert f"young orphan {young.name} kept" in found.stdout
    assert old.exists() and stale.exists()

    repaired = run(tmp_path, "verify-evidence", "--repair", "--json")
    assert repaired.returncode == 0, repaired.stdout + repaired.stderr
    report = json.loads(repaired.stdout)
    assert report["removed"] == {"orphans": [old.name], "temp_files": ["upload-killed"]}
    assert report["checked"] == 4 and report["orphans"] == [] and report["young_orphans"] == [young.name]
    assert not old.exists() and not stale.exists() and young.exists() and fresh.exists()
    assert all(path.exists() for path in committed)

    again = run(tmp_path, "verify-evidence")
    assert again.returncode == 0 and "evidence store intact: 4 objects" in again.stdout


def test_verify_evidence_repair_prints_what_it_removed(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    old = aged(plant_object(tmp_path / "evidence", b"left by a crash\n"))
    repaired = run(tmp_path, "verify-evidence", "--repair")
    assert repaired.returncode == 0
    assert f"removed orphan {old.name}" in repaired.stdout
    assert "evidence store intact: 0 objects" in repaired.stdout


def test_the_grace_period_is_a_setting(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    orphan = aged(plant_object(tmp_path / "evidence", b"ten minutes old\n"), 600)
    assert run(tmp_path, "verify-evidence", "--repair").returncode == 0
    assert orphan.exists()  # younger than the default hour
    repaired = run(tmp_path, "verify-evidence", "--repair", ATTEST_ORPHAN_GRACE_MINUTES="5")
    assert repaired.returncode == 0 and not orphan.exists()
    too_short = run(tmp_path, "verify-evidence", ATTEST_ORPHAN_GRACE_MINUTES="1")
    assert_one_clear_line(too_short, "ATTEST_ORPHAN_GRACE_MINUTES")


CRASHING_UPLOADER = """
import sys, time
from app.config import load_settings
from app.db import make_engine, session_scope
from app.adapters.storage import make_store

store = make_store(load_settings())
if sys.argv[1] == "after-rename":
    with store.begin(filename="ssp.pdf") as upload:
        upload.write(b"%PDF-1.4\\nstored; its row was never committed\\n")
        upload.finish()
    with session_scope(make_engine(load_settings().effective_database_url), write=True) as session:
        print("placed", flush=True)  # the row would be inserted here: the process dies first
        time.sleep(60)
else:
    upload = store.begin(filename="big.pdf")
    upload.write(b"%PDF-1.4\\n" + b"x" * 100_000)
    print("streaming", flush=True)
    time.sleep(60)
"""


def test_after_kill_9_during_uploads_repair_leaves_the_store_clean(tmp_path: Path) -> None:
    import signal

    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "demo").returncode == 0
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env["ATTEST_CONTROLS_DIR"] = str(CONTROLS)
    for moment in ("after-rename", "while-streaming"):
        child = subprocess.Popen(
            [sys.executable, "-c", CRASHING_UPLOADER, moment],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert child.stdout is not None and child.stdout.readline().strip() in {"placed", "streaming"}
        child.send_signal(signal.SIGKILL)
        assert child.wait(timeout=10) == -signal.SIGKILL
    evidence = tmp_path / "evidence"
    left = [p for p in (evidence / "tmp").iterdir()]
    assert len(left) == 1  # the interrupted stream's temp file
    before = json.loads(run(tmp_path, "verify-evidence", "--json").stdout)
    assert len(before["young_orphans"]) == 1 and before["orphans"] == []  # within the grace period
    orphan = before["young_orphans"][0]
    aged(evidence / "objects" / orphan[:2] / orphan[2:4] / orphan)
    aged(left[0])  # an hour and more later

    repaired = json.loads(run(tmp_path, "verify-evidence", "--repair", "--json").stdout)
    assert repaired["removed"] == {"orphans": [orphan], "temp_files": [left[0].name]}
    clean = run(tmp_path, "verify-evidence", "--json")
    assert clean.returncode == 0
    assert json.loads(clean.stdout)["checked"] == 4


@contextmanager
def serving(tmp_path: Path, **extra_env: str) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """`attest serve` on a free port, ready; yields its base URL and the process."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env.update({"ATTEST_CONTROLS_DIR": str(CONTROLS), **extra_env})
    server = subprocess.Popen(
        [ATTEST, "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("server did not start")
                time.sleep(0.2)
        yield f"http://127.0.0.1:{port}", server
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_removes_what_a_crash_left_and_says_so(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    orphan = aged(plant_object(tmp_path / "evidence", b"left by kill -9\n"))
    young = plant_object(tmp_path / "evidence", b"an upload about to commit\n")
    stale = tmp_path / "evidence" / "tmp" / "upload-killed"
    stale.parent.mkdir()
    stale.write_bytes(b"half")
    aged(stale)
    with serving(tmp_path) as (_, server):
        pass
    assert server.stdout is not None
    output = server.stdout.read()
    assert f"start-up clean-up: removed orphan {orphan.name}" in output
    assert "start-up clean-up: removed stale temp file upload-killed" in output
    assert not orphan.exists() and not stale.exists() and young.exists()


SECRET = "serve-test-secret-" + "z" * 32
CSRF_COOKIE = "c" * 43


def failed_sign_in(base_url: str, email: str, *, forwarded_for: str = "", source: str = "127.0.0.1") -> int:
    """One wrong password, from `source`, optionally with a forged X-Forwarded-For."""
    import httpx

    from app.adapters.crypto import Keys, keyed_hash

    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    form = {
        "email": email,
        "password": "not the password",
        "csrf_token": keyed_hash(Keys(SECRET).csrf, CSRF_COOKIE),
    }
    with httpx.Client(
        transport=httpx.HTTPTransport(local_address=source), cookies={"attest_csrf": CSRF_COOKIE}
    ) as client:
        return client.post(f"{base_url}/sign-in", data=form, headers=headers).status_code


def test_a_forged_x_forwarded_for_neither_dodges_the_throttle_nor_locks_out_another_address(
    tmp_path: Path,
) -> None:
    from app.domain.credentials import ADDRESS_FAILURE_LIMIT

    assert run(tmp_path, "db", "upgrade").returncode == 0
    with serving(tmp_path, ATTEST_SECRET_KEY=SECRET) as (base_url, _):
        # each attempt forges a new address (to dodge) or names 127.0.0.2 (to lock it out)
        forged = [f"198.51.100.{n}" if n % 2 else "127.0.0.2" for n in range(ADDRESS_FAILURE_LIMIT + 1)]
        statuses = [
            failed_sign_in(base_url, f"nobody{n}@example.org", forwarded_for=header)
            for n, header in enumerate(forged)
        ]
        # counted by the real address, 127.0.0.1: the forged ones change nothing
        assert statuses[:ADDRESS_FAILURE_LIMIT] == [422] * ADDRESS_FAILURE_LIMIT
        assert statuses[-1] == 429
        # 127.0.0.2, named in every forged header, was never the one counted
        assert failed_sign_in(base_url, "someone@example.org", source="127.0.0.2") == 422
    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    addresses = {
        row[0] for row in database.execute("SELECT address FROM audit_event WHERE action = 'sign_in'")
    }
    database.close()
    assert addresses == {"127.0.0.1", "127.0.0.2"}


def test_serve_believes_x_forwarded_for_from_a_configured_proxy(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    with serving(tmp_path, ATTEST_SECRET_KEY=SECRET, ATTEST_TRUSTED_PROXIES="127.0.0.1") as (base_url, _):
        assert failed_sign_in(base_url, "a@example.org", forwarded_for="6.6.6.6, 203.0.113.9") == 422
    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    addresses = [
        row[0] for row in database.execute("SELECT address FROM audit_event WHERE action = 'sign_in'")
    ]
    database.close()
    assert addresses == ["203.0.113.9"]


def test_audit_verify_tells_a_wrong_key_apart_from_tampering(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    right = {"ATTEST_SECRET_KEY": "the-key-the-log-was-written-with-" + "r" * 16}
    wrong = {"ATTEST_SECRET_KEY": "a-key-from-another-deployment-" + "w" * 16}
    for name in ("Acme Ltd", "Beta Ltd"):
        assert run(tmp_path, "orgs", "create", "--name", name, "--kind", "supplier", **right).returncode == 0
    assert run(tmp_path, "audit", "checkpoint", **right).returncode == 0

    mistaken = run(tmp_path, "audit", "verify", **wrong)
    assert mistaken.returncode == 3
    assert "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY)" in mistaken.stdout
    assert "altered" not in mistaken.stdout and "BROKEN" not in mistaken.stdout
    assert json.loads(run(tmp_path, "audit", "verify", "--json", **wrong).stdout)["wrong_key"] is True
    assert run(tmp_path, "audit", "verify", **right).returncode == 0

    database = sqlite3.connect(tmp_path / "var" / "attest.db")
    database.execute("DROP TRIGGER audit_event_no_update")
    database.execute("UPDATE audit_event SET action = 'nothing' WHERE seq = 1")
    database.commit()
    database.close()
    tampered = run(tmp_path, "audit", "verify", **right)
    assert tampered.returncode == 1
    assert "BROKEN at record 1" in tampered.stdout and "altered" in tampered.stdout


def test_audit_verify_with_the_key_missing_says_so_and_makes_up_no_key(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    assert run(tmp_path, "orgs", "create", "--name", "Acme Ltd", "--kind", "supplier").returncode == 0
    kept_key = tmp_path / "var" / "secret_key"  # development: generated once, kept in the data folder
    assert run(tmp_path, "audit", "verify").returncode == 0
    kept_key.unlink()  # restored without it
    missing = run(tmp_path, "audit", "verify")
    assert missing.returncode == 3
    assert "the audit key is wrong or missing (ATTEST_AUDIT_KEY / ATTEST_SECRET_KEY)" in missing.stdout
    assert "no data_dir/secret_key file" in missing.stdout
    assert not kept_key.exists()
