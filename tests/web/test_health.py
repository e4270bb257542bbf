from __future__ import annotations

import shutil
from pathlib import Path

from fastapi.testclient import TestClient

from app import __version__
from app.config import Settings


def test_healthz_says_alive(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": __version__}


def test_readyz_checks_database_evidence_and_catalogues(client: TestClient) -> None:
    response = client.get("/readyz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ready"
    assert set(body["checks"]) == {"database", "evidence_store", "catalogues"}
    assert all(check["ok"] for check in body["checks"].values())


def test_readyz_reports_an_unwritable_evidence_store(client: TestClient, settings: Settings) -> None:
    evidence = Path(settings.evidence_dir)
    shutil.rmtree(evidence, ignore_errors=True)
    evidence.write_text("a file where the folder should be")
    response = client.get("/readyz")
    assert response.status_code == 503
    check = response.json()["checks"]["evidence_store"]
    assert check["ok"] is False
    assert check["problem"].startswith("ATTEST_EVIDENCE_DIR: ")
