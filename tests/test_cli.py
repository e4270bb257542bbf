"""The `attest` command as a newcomer runs it: real processes, real files, a real server."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
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
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATTEST_")}
    env["ATTEST_CONTROLS_DIR"] = str(CONTROLS)
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
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                    ready = json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    pytest.fail("server did not start")
                time.sleep(0.2)
        assert ready["status"] == "ready"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
            assert "Attest" in r.read().decode()
    finally:
        server.terminate()
        server.wait(timeout=10)


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
