"""The advisor's review of a resubmission (issue 16 items 1-4), through the real API and pages.

Version 1 is rejected with reasons on three controls; version 2 changes one statement, adds
evidence to another and leaves the third alone. The review opens with coverage, readiness, the
blockers, counts of each kind of change and each earlier reason matched to what was done; the
diff has one row per changed control with labelled fields and word-level changes; evidence opens
through the audited download; a refused decision keeps every reason typed.
"""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, Decision
from tests.api.test_approval_story import DECLARATION, fill_plan, setup
from tests.factories import csrf_token, make_evidence, sign_in


def resubmission(app: FastAPI) -> tuple[TestClient, TestClient, str, str, str]:
    """v1 rejected with reasons on CPS-1.1, CPS-1.2 and CPS-1.3; v2 awaiting a decision."""
    eid, lead, advisor = setup(app)
    supplier, buyer = TestClient(app), TestClient(app)
    sign_in(app, supplier, lead)
    sign_in(app, buyer, advisor)
    fill_plan(supplier, app, eid)
    v1 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()["id"]
    reasons = {
        "CPS-1.1": "Say who reviews the policy.",
        "CPS-1.2": "Which certificate covers this?",
        "CPS-1.3": "No evidence.",
    }
    rejected = buyer.post(
        f"/api/submissions/{v1}/decision",
        json={"decision": "reject", "reasons": "Three controls need work.", "control_reasons": reasons},
    )
    assert rejected.status_code == 200, rejected.text
    changed = supplier.put(
        f"/api/engagements/{eid}/responses/CPS-1.2",
        json={"status": "met", "statement": "In place. Certified to ISO/IEC 27001 since 2023."},
    )
    assert changed.status_code == 200, changed.text
    from app.models import Engagement

    with session_scope(app.state.engine) as session:
        engagement = session.get(Engagement, eid)
        assert engagement is not None
    evidence_id = make_evidence(app, engagement, lead, control_ids=("CPS-1.3",), title="Access review")
    v2 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION)
    assert v2.status_code == 201, v2.text
    return supplier, buyer, eid, v2.json()["id"], evidence_id


def test_review_summary_and_readable_diff_in_the_api(app: FastAPI) -> None:
    supplier, buyer, _eid, v2, evidence_id = resubmission(app)
    review = buyer.get(f"/api/submissions/{v2}/review")
    assert review.status_code == 200, review.text
    body = review.json()
    answered = body["coverage"]["answered"]
    assert body["previous_version"] == 1 and answered == body["coverage"]["applicable"] > 30
    assert body["coverage"]["met"] == answered and body["coverage"]["with_current_evidence"] == 1
    assert body["changes"]["controls_changed"] == 1 and body["changes"]["evidence_added"] == 1
    assert body["unchanged_controls"] == answered - 2
    assert body["previous_reasons"] == "Three controls need work."
    outcomes = {f["control_id"]: f["outcome"] for f in body["follow_ups"]}
    assert outcomes == {"CPS-1.1": "unchanged", "CPS-1.2": "changed", "CPS-1.3": "evidence added"}
    [statement, evidence] = body["controls"]
    assert statement["control_id"] == "CPS-1.2"
    [field] = statement["fields"]
    assert field["label"] == "Implementation statement" and field["before"] == "In place."
    assert {"kind": "inserted", "text": "Certified to ISO/IEC 27001 since 2023."} in field["words"]
    assert evidence["evidence_added"][0] == {
        "id": evidence_id,
        "title": "Access review",
        "sha256": evidence["evidence_added"][0]["sha256"],
    }
    tables = {t["area"]: t for t in body["tables"]}
    assert tables["risks"]["columns"][0] == "Risk" and tables["risks"]["rows"][0]["kind"] == "unchanged"
    assert tables["incident"]["rows"][0]["cells"][0]["after"].startswith("Incidents are logged")
    # the supplier reads the same review of its own plan
    assert supplier.get(f"/api/submissions/{v2}/review").json()["follow_ups"] == body["follow_ups"]


def test_review_page_opens_with_the_summary_and_collapses_unchanged_controls(app: FastAPI) -> None:
    _supplier, buyer, _eid, v2, evidence_id = resubmission(app)
    page = buyer.get(f"/submissions/{v2}")
    assert page.status_code == 200
    text = page.text
    assert re.search(r"\d+ of \d+ applicable controls answered; \d+ met; 1 with current evidence", text)
    assert "1 control answered differently" in text and "Evidence: 1 added, 0 removed" in text
    assert "Three controls need work." in text
    follow = text[text.index('id="follow-ups"') : text.index("</table>", text.index('id="follow-ups"'))]
    assert "CPS-1.1" in follow and ">unchanged<" in follow and ">evidence added<" in follow
    changed = text[text.index('id="changed-controls"') : text.index('id="unchanged-controls"')]
    assert "<del>" not in changed.split("CPS-1.2", 1)[0]  # the unchanged one is listed, not diffed
    assert (
        "Implementation statement" in changed
        and "<ins>Certified to ISO/IEC 27001 since 2023.</ins>" in changed
    )
    assert f"/evidence/{evidence_id}/content" in changed and "Preview Access review" in changed
    assert 'for="reason_CPS-1.2">Reason for rejecting CPS-1.2 ' in text  # each box names its control
    assert text.count('name="reason_') == text.count(
        '<label class="govuk-label govuk-!-font-size-16" for="reason_'
    )
    assert '<details class="govuk-details" id="unchanged-controls">' in text  # closed until opened
    assert "planned_change" not in changed  # human labels, not field names
    for heading in (
        "Risks (1)",
        "Required Changes Register (0)",
        "Security roles (1)",
        "Incident Management Process (1)",
    ):
        assert heading in text


def test_a_first_submission_folds_every_control(app: FastAPI) -> None:
    eid, lead, advisor = setup(app)
    supplier, buyer = TestClient(app), TestClient(app)
    sign_in(app, supplier, lead)
    sign_in(app, buyer, advisor)
    fill_plan(supplier, app, eid)
    v1 = supplier.post(f"/api/engagements/{eid}/submissions", json=DECLARATION).json()
    text = buyer.get(f"/submissions/{v1['id']}").text
    assert "first submission: nothing to compare with" in text and 'id="follow-ups"' not in text
    assert re.search(
        r'id="unchanged-controls">\s*<summary[^>]*><span[^>]*>All \d+ controls',
        text,
    )
    body = buyer.get(f"/api/submissions/{v1['id']}/review").json()
    assert body["previous_version"] is None and body["follow_ups"] == [] and body["unchanged_controls"] == 0
    assert {c["kind"] for c in body["controls"]} == {"added"}


def test_evidence_opens_from_the_review_through_the_audited_download(app: FastAPI) -> None:
    _supplier, buyer, _eid, _v2, evidence_id = resubmission(app)
    inline = buyer.get(f"/evidence/{evidence_id}/content?inline=true")
    assert inline.status_code == 200 and inline.content.startswith(b"%PDF")
    assert inline.headers["content-disposition"].startswith("inline")
    assert "frame-ancestors 'self'" in inline.headers["content-security-policy"]
    assert inline.headers["x-frame-options"] == "SAMEORIGIN"
    with session_scope(app.state.engine) as session:
        events = session.exec(
            select(AuditEvent).where(
                AuditEvent.action == "evidence_downloaded", AuditEvent.object_id == evidence_id
            )
        ).all()
    assert len(events) == 1


def test_a_refused_decision_keeps_every_reason_and_tick(app: FastAPI) -> None:
    _supplier, buyer, _eid, v2, _evidence = resubmission(app)
    token = csrf_token(app, buyer)
    typed = {
        "csrf_token": token,
        "decision": "reject",
        "reason_CPS-1.1": "Still no <reviewer> named.",
        "reason_CPS-2.1": "Say how often.",
        "conditions": "Name the reviewer by March.",
        "advisor_role": "Lead assessor",
        "residual_risks_accepted": "yes",
    }
    refused = buyer.post(f"/submissions/{v2}/decision", data=typed)
    assert refused.status_code == 422 and "Give the reasons for rejecting the plan" in refused.text
    text = refused.text
    assert ">Still no &lt;reviewer&gt; named.</textarea>" in text
    assert ">Say how often.</textarea>" in text
    assert '<details class="govuk-details" id="unchanged-controls" open>' in text  # typed box shown
    assert ">Name the reviewer by March.</textarea>" in text and 'value="Lead assessor"' in text
    assert 'id="residual_risks_accepted" name="residual_risks_accepted" value="yes" checked' in text
    with session_scope(app.state.engine) as session:
        assert session.exec(select(Decision).where(Decision.submission_id == v2)).first() is None
    done = buyer.post(
        f"/submissions/{v2}/decision",
        data={**typed, "reasons": "CPS-1.1 still open."},
        follow_redirects=False,
    )
    assert done.status_code == 303
    with session_scope(app.state.engine) as session:
        decision = session.exec(select(Decision).where(Decision.submission_id == v2)).one()
    assert '"CPS-1.1": "Still no <reviewer> named."' in decision.control_reasons


def test_comments_are_saved_as_the_advisor_goes(app: FastAPI) -> None:
    _supplier, buyer, _eid, v2, _evidence = resubmission(app)
    token = csrf_token(app, buyer)
    blank = {"csrf_token": token, "control_id": "CPS-1.3", "body": " "}
    refused = buyer.post(f"/submissions/{v2}/comments", data=blank)
    assert refused.status_code == 422 and "Write a comment." in refused.text
    assert 'id="comment-body-CPS-1.3-error"' in refused.text  # beside its own control's box
    # with htmx only the control's box comes back: its message, or the saved comment
    htmx = {"HX-Request": "true", "HX-Target": "comments-CPS-1.3"}
    box = buyer.post(f"/submissions/{v2}/comments", data=blank, headers=htmx)
    assert box.status_code == 422 and box.text.lstrip().startswith('<div class="attest-comment-box"')
    assert "Write a comment." in box.text and "<html" not in box.text
    saved = buyer.post(
        f"/submissions/{v2}/comments",
        data={**blank, "body": "Ask for the <latest> review."},
        headers=htmx,
    )
    assert saved.status_code == 200 and "Comment saved." in saved.text
    assert "Comment: Ask for the &lt;latest&gt; review." in saved.text
    plain = buyer.post(
        f"/submissions/{v2}/comments",
        data={**blank, "body": "And the date."},
        follow_redirects=False,
    )
    assert plain.status_code == 303 and plain.headers["location"].endswith("#c-CPS-1.3")
    page = buyer.get(f"/submissions/{v2}").text
    assert "Comment: Ask for the &lt;latest&gt; review." in page and "Comment: And the date." in page
    assert 'for="comment-body-CPS-1.1">Comment on CPS-1.1' in page
