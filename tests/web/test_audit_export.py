"""The audit CSV export: no cell a spreadsheet would run as a formula, however it is padded."""

from __future__ import annotations

import csv
import io

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import session_scope
from app.services import audit
from app.services.audit_log import csv_cell
from tests.factories import make_person, sign_in

HOSTILE = [
    "=HYPERLINK(1)",
    " =cmd|' /C calc'!A0",
    "  +1+1",
    "\n=1+1",
    "\r\n@SUM(A1)",
    "\t-2+3",
    " \t\r\n=evil()",
    "\u00a0=nbsp()",
    "\uff1dFULLWIDTH()",
    "\t",
    "\rtext",
]
HARMLESS = ["evidence", "a = b", "user@example.org", "", "2026-01-01", " plain words"]


@pytest.mark.parametrize("text", HOSTILE)
def test_formulas_after_leading_whitespace_and_line_feeds_are_neutralised(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert csv_cell(text) == text


def test_the_export_neutralises_padded_formulas(app: FastAPI, keys) -> None:
    with session_scope(app.state.engine, write=True) as session:
        for text in HOSTILE:
            audit.record(session, keys.audit, audit.Who(), "probe", object_type="evidence", object_id=text)
        session.commit()
    admin = make_person(app.state.engine, keys, "administrator")
    with TestClient(app) as client:
        sign_in(app, client, admin)
        export = client.get("/audit/export.csv", params={"action": "probe"})
    assert export.status_code == 200
    cells = [row["object_id"] for row in csv.DictReader(io.StringIO(export.text, newline=""))]
    assert cells == ["'" + text for text in HOSTILE]
