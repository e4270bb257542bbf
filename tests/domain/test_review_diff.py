"""The readable review of a resubmission (app.domain.submissions.review), pure: one entry per
changed control with labelled fields and word-level changes, evidence by title, the plan's
tables with changed cells, counts per kind, and the previous reasons matched to what was done."""

from __future__ import annotations

from typing import Any

from app.domain.submissions import Words, follow_ups, review, word_diff


def answer(control_id: str, statement: str = "In place.", **extra: Any) -> dict[str, Any]:
    row = {
        "control_id": control_id,
        "title": f"Title of {control_id}",
        "status": "met",
        "statement": statement,
        "justification": "",
        "planned_change": "",
        "target_date": None,
        "evidence": [],
    }
    return {**row, **extra}


def plan(*responses: dict[str, Any], **parts: Any) -> dict[str, Any]:
    return {"responses": list(responses), "risks": [], "register": [], "roles": [], "incident": None, **parts}


RISK = {
    "id": "r1",
    "title": "Lost laptop",
    "control_ids": ["A-1"],
    "likelihood": 4,
    "impact": 5,
    "treatment": "Encrypt",
    "owner": "IT",
    "residual_likelihood": 2,
    "residual_impact": 2,
}
FILE = {"id": "e1", "title": "Access review", "sha256": "ab" * 32, "expires_on": None}


def test_word_diff_marks_only_the_words_that_changed() -> None:
    assert word_diff("Backups run nightly to tape.", "Backups run hourly to tape.") == [
        Words("same", "Backups run"),
        Words("deleted", "nightly"),
        Words("inserted", "hourly"),
        Words("same", "to tape."),
    ]
    assert word_diff("", "New text") == [Words("inserted", "New text")]


def test_one_entry_per_changed_control_with_labels_and_unchanged_ones_counted() -> None:
    old = plan(answer("A-1"), answer("A-2"), answer("A-3"), answer("A-4"))
    new = plan(
        answer("A-1", "In place. Tested yearly."),
        answer("A-2", status="partially_met", planned_change="Buy a vault", target_date="2025-01-31"),
        answer("A-3", evidence=[FILE]),
        answer("A-5"),
    )
    result = review(old, new)
    assert [(c.control_id, c.kind) for c in result.controls] == [
        ("A-1", "changed"),
        ("A-2", "changed"),
        ("A-3", "changed"),
        ("A-5", "added"),
        ("A-4", "removed"),
    ]
    first, second, third = result.controls[:3]
    [statement] = first.fields
    assert statement.label == "Implementation statement" and statement.before == "In place."
    assert Words("inserted", "Tested yearly.") in statement.words
    assert [(f.label, f.before, f.after) for f in second.fields] == [
        ("Status", "Met", "Partially met"),
        ("Planned change", "", "Buy a vault"),
        ("Target date", "", "2025-01-31"),
    ]
    assert third.fields == () and [e.title for e in third.evidence_added] == ["Access review"]
    assert result.unchanged == ()
    assert result.counts["controls_changed"] == 2 and result.counts["evidence_added"] == 1
    assert result.counts["controls_added"] == 1 and result.counts["controls_removed"] == 1


def test_tables_mark_the_changed_cells_and_count_rows() -> None:
    old = plan(answer("A-1"), risks=[RISK], roles=[{"kind": "designated_security_contact", "name": "Dana"}])
    new = plan(
        answer("A-1"),
        risks=[{**RISK, "residual_likelihood": 1}, {**RISK, "id": "r2", "title": "Fire"}],
        roles=[{"kind": "designated_security_contact", "name": "Dana"}],
        incident={
            "document": "Call the duty manager.",
            "contacts": [{"name": "Sam", "email": "s@x.example"}],
        },
    )
    result = review(old, new)
    assert result.controls == () and result.unchanged == (("A-1", "Title of A-1"),)
    risks, register, roles, incident = result.tables
    assert risks.columns[0] == "Risk" and [r.kind for r in risks.rows] == ["changed", "added"]
    residual = risks.rows[0].cells[-1]
    assert residual.changed and (residual.before, residual.after) == ("2\u00d72", "1\u00d72")
    assert not risks.rows[0].cells[0].changed
    assert register.rows == () and [r.kind for r in roles.rows] == ["unchanged"]
    assert incident.rows[0].kind == "added" and incident.rows[0].cells[1].after == "Sam, s@x.example"
    assert result.counts["risks_changed"] == 1 and result.counts["risks_added"] == 1
    assert result.counts["incident_added"] == 1 and result.counts["roles_changed"] == 0


def test_a_first_submission_has_everything_added() -> None:
    result = review(None, plan(answer("A-1"), risks=[RISK]))
    assert [c.kind for c in result.controls] == ["added"] and result.tables[0].rows[0].kind == "added"


def test_each_previous_reason_says_what_the_supplier_did() -> None:
    old = plan(answer("A-1"), answer("A-2"), answer("A-3"), answer("A-4"), answer("A-5", evidence=[FILE]))
    new = plan(
        answer("A-1", "Now owned by the CISO.", evidence=[FILE]),
        answer("A-2"),
        answer("A-3", evidence=[FILE]),
        answer("A-5"),
    )
    reasons = {c: "Why?" for c in ("A-1", "A-2", "A-3", "A-4", "A-5")}
    outcomes = {f.control_id: f.outcome for f in follow_ups(reasons, old, new, review(old, new).controls)}
    assert outcomes == {
        "A-1": "changed, evidence added",
        "A-2": "unchanged",
        "A-3": "evidence added",
        "A-4": "removed",
        "A-5": "evidence removed",
    }
