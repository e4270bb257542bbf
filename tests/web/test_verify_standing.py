"""Issue 16 item 5: `/verify` says whether a genuine statement is in force, superseded (by
which statement, on which day) or withdrawn; it explains empty or malformed input (422, the
message beside the field); and it stops an address that keeps guessing (429)."""

from __future__ import annotations

from datetime import date, timedelta

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import session_scope
from app.domain.statements import Decided, Standing, standing_of
from app.domain.workflow import State
from app.models import Decision, PlanCase, Submission, utcnow
from app.services.verification import VERIFY_FAILURES_ALLOWED
from tests.factories import make_decided_submission, make_engagement, make_org


def decided(number: str, approved: bool, day: int) -> Decided:
    return Decided(number, approved, date(2026, 1, day), day)


def test_the_rule_for_each_kind_of_statement() -> None:
    first, rejected, second = (
        decided("ISAS-2026-0001", True, 1),
        decided("RN-2026-0001", False, 5),
        decided("ISAS-2026-0002", True, 9),
    )
    assert standing_of(first, [], terminated=False).standing == Standing.IN_FORCE
    # A later rejection leaves the approval in force; a later approval supersedes it.
    assert standing_of(first, [rejected], terminated=False).standing == Standing.IN_FORCE
    verdict = standing_of(first, [rejected, second], terminated=False)
    assert verdict.standing == Standing.SUPERSEDED and verdict.by == second
    assert standing_of(first, [], terminated=True).standing == Standing.WITHDRAWN
    assert standing_of(rejected, [first, second], terminated=False).by == second
    assert standing_of(rejected, [first], terminated=False).standing == Standing.IN_FORCE


def _issued(app: FastAPI) -> tuple[str, str, str]:
    """An engagement with an ISAS; returns its engagement id, number and plan hash."""
    engine = app.state.engine
    engagement = make_engagement(
        engine, make_org(engine, "buyer", "Crown Prosecution Service"), make_org(engine, "supplier")
    )
    submission_id = make_decided_submission(engine, engagement, approved=True)
    with session_scope(engine) as session:
        submission = session.get(Submission, submission_id)
        decision = session.exec(select(Decision).where(Decision.submission_id == submission_id)).one()
        assert submission is not None
        return engagement.id, decision.number, submission.sha256


def test_a_genuine_statement_is_in_force_then_superseded_then_the_new_one_withdrawn(app: FastAPI) -> None:
    client = TestClient(app)
    engagement_id, number, sha = _issued(app)
    page = client.get("/verify", params={"number": number.lower(), "sha256": sha.upper()})
    assert page.status_code == 200 and "In force" in page.text and "current approval" in page.text

    with session_scope(app.state.engine, write=True) as session:  # a later plan version is approved
        later = Submission(
            engagement_id=engagement_id, version=2, cycle=2, snapshot="{}", sha256="b" * 64,
            officer_name="Dana Chief", officer_role="COO", submitted_by_id="x", submitted_on=date(2026, 3, 1),
        )  # fmt: skip
        session.add(later)
        session.flush()
        session.add(
            Decision(
                submission_id=later.id, engagement_id=engagement_id, number="ISAS-2026-0900", approved=True,
                advisor_id="x", advisor_name="Alex", advisor_role="Advisor", decided_on=date(2026, 3, 9),
                decided_at=utcnow() + timedelta(seconds=5),
            )
        )  # fmt: skip
        session.commit()
    page = client.get("/verify", params={"number": number, "sha256": sha})
    assert page.status_code == 200 and "Superseded by ISAS-2026-0900 on 09 March 2026" in page.text

    with session_scope(app.state.engine, write=True) as session:
        case = session.get(PlanCase, engagement_id)
        assert case is not None
        case.state = State.TERMINATED
        session.commit()
    page = client.get("/verify", params={"number": "ISAS-2026-0900", "sha256": "b" * 64})
    assert page.status_code == 200 and "Withdrawn" in page.text and "terminated" in page.text


def test_empty_and_malformed_input_is_explained_beside_each_field(app: FastAPI) -> None:
    client = TestClient(app)
    assert client.get("/verify").status_code == 200  # the form, nothing asked yet
    page = client.get("/verify", params={"number": "", "sha256": ""})
    assert page.status_code == 200 and "govuk-error-message" not in page.text  # nothing asked
    page = client.get("/verify", params={"number": "ISAS 1", "sha256": "abc"})
    assert page.status_code == 422 and page.text.count("govuk-error-message") == 2
    assert "for example ISAS-2026-0001 or RN-2026-0002" in page.text
    assert "64 characters, digits 0 to 9 and letters a to f" in page.text
    assert "<title>Error: " in page.text
    page = client.get("/verify", params={"number": "ISAS-2026-0001"})
    assert page.status_code == 422 and "Enter the plan&#39;s SHA-256" in page.text


def test_guessing_is_stopped_after_too_many_failures_from_one_address(app: FastAPI) -> None:
    client = TestClient(app)
    _, number, sha = _issued(app)
    for n in range(VERIFY_FAILURES_ALLOWED):
        wrong = client.get("/verify", params={"number": f"ISAS-2026-{n + 5000}", "sha256": sha})
        assert wrong.status_code == 404 and "Not verified" in wrong.text
    stopped = client.get("/verify", params={"number": number, "sha256": sha})  # even the right one, now
    assert stopped.status_code == 429 and "Wait 15 minutes" in stopped.text
