"""The control JSON names the Call Off Schedule 7 short-form paragraph of a long-form duty, so
an API client can cite the numbers of either form (issue 13 item 8)."""

from __future__ import annotations

from fastapi.testclient import TestClient


def control(client: TestClient, control_id: str) -> dict[str, object]:
    answer = client.get(f"/api/catalogues/call-off-schedule-7/controls/{control_id}")
    assert answer.status_code == 200, answer.text
    body: dict[str, object] = answer.json()
    return body


def test_a_long_form_duty_shows_its_short_form_paragraphs(client: TestClient) -> None:
    plan = control(client, "CO7-4.1")
    assert plan["clauses"] == ["body-4.1", "body-4.3"]
    assert plan["short_form_clauses"] == ["4.1.1", "4.3.1", "4.3.2"]
    assert plan["criticality"] == "high"


def test_a_long_form_only_duty_shows_none(client: TestClient) -> None:
    assert control(client, "CO7-3.1")["short_form_clauses"] == []  # the ISMS: long form only
    assert control(client, "CO7-A1-8.3")["short_form_clauses"] == []  # Annex 1


def test_the_new_long_form_obligations_are_served(client: TestClient) -> None:
    listing = client.get("/api/catalogues/call-off-schedule-7").json()
    body = next(s for s in listing["sections"] if s["id"] == "body")
    ids = {c["id"] for c in body["controls"]}
    assert {"CO7-2.2", "CO7-2.5", "CO7-2.6", "CO7-3.2", "CO7-3.5", "CO7-6.3", "CO7-7.3", "CO7-8.3"} <= ids
    assert listing["control_count"] == 55
    right = control(client, "CO7-6.3")
    assert right["criticality"] == "information" and right["evidence_required"] is False
    assert control(client, "CO7-3.5")["short_form_clauses"] == ["3.4"]
