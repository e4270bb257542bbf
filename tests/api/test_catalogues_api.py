from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from trestle.oscal.catalog import Catalog

from tests.catalogue.test_catalogue_files import EXPECTED


def test_list_catalogues(client: TestClient) -> None:
    response = client.get("/api/catalogues")
    assert response.status_code == 200
    rows = response.json()
    assert {r["id"] for r in rows} == EXPECTED
    iso = next(r for r in rows if r["id"] == "iso27001-2022")
    assert set(iso) >= {"id", "title", "version", "source", "control_count"}
    assert iso["control_count"] >= 93 + 20


def test_catalogue_with_sections_and_controls(client: TestClient) -> None:
    body = client.get("/api/catalogues/cps-security-policy").json()
    assert [s["id"] for s in body["sections"]] == ["1", "2", "3", "4", "5"]
    control = next(c for s in body["sections"] for c in s["controls"] if c["id"] == "CPS-5.7")
    assert control["source"].startswith("000_e15c6a3b40bf7abb.txt")
    assert control["evidence"]


def test_control_shows_mappings_both_ways(client: TestClient) -> None:
    body = client.get("/api/catalogues/iso27001-2022/controls/ISO-A.7.10").json()
    derived = {m["control_id"] for m in body["mappings"] if m["direction"] == "derived"}
    assert {"CPS-5.4", "CPS-5.6"} <= derived
    cps = client.get("/api/catalogues/cps-security-policy/controls/CPS-5.6").json()
    declared = {m["control_id"] for m in cps["mappings"] if m["direction"] == "declared"}
    assert "ISO-A.7.10" in declared


def test_search_across_catalogues(client: TestClient) -> None:
    body = client.get("/api/controls", params={"q": "removable media"}).json()
    catalogues = {c["catalogue_id"] for c in body["controls"]}
    assert {"cps-security-policy", "schedule-2-4", "iso27001-2022"} <= catalogues
    assert body["count"] == len(body["controls"])


def test_search_within_a_catalogue(client: TestClient) -> None:
    body = client.get("/api/catalogues/iso27001-2022", params={"q": "removable media"}).json()
    ids = [c["id"] for s in body["sections"] for c in s["controls"]]
    assert "ISO-A.7.10" in ids and len(ids) < 20


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/catalogues/nope", 404),
        ("/api/catalogues/nope/oscal", 404),
        ("/api/catalogues/iso27001-2022/controls/CPS-5.7", 404),
        ("/api/catalogues/iso27001-2022/controls/ISO-A.99", 404),
        ("/api/controls?q=a", 422),
        ("/api/controls?q=patch&catalogue_id=nope", 404),
    ],
)
def test_bad_requests_get_clear_errors(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert response.json()["error"]["message"]


def test_etag_and_304(client: TestClient) -> None:
    first = client.get("/api/catalogues/iso27001-2022")
    etag = first.headers["etag"]
    again = client.get("/api/catalogues/iso27001-2022", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    other = client.get("/api/catalogues/cps-security-policy", headers={"If-None-Match": etag})
    assert other.status_code == 200


@pytest.mark.parametrize("catalogue_id", sorted(EXPECTED))
def test_oscal_export_validates(client: TestClient, catalogue_id: str) -> None:
    response = client.get(f"/api/catalogues/{catalogue_id}/oscal")
    assert response.status_code == 200
    document = response.json()
    catalog = Catalog.parse_obj(document["catalog"])
    assert catalog.metadata.oscal_version.root.root == "1.1.2"
    total = sum(len(g.controls or []) for g in catalog.groups or [])
    listed = client.get(f"/api/catalogues/{catalogue_id}").json()["control_count"]
    assert total == listed
