"""The advisor's review page of a 400-control resubmission (issue 16: under 200 ms on a 2-core
machine). Version 1, every control met, was rejected with reasons on 20 controls; version 2
rewrites 40 statements. The bench's engagement holds every catalogue
(393 controls, the figure printed). The snapshots go straight into the tables (the figure is the page, not
the answering), then the page is fetched as the buyer's advisor."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import session_scope
from app.domain.catalogue import Control
from app.domain.submissions import canonical, fingerprint
from app.models import Decision, Engagement, Organisation, PlanCase, Submission
from tests.factories import make_person, sign_in


def _snapshot(engagement: Engagement, controls: list[Control], rewritten: int) -> dict[str, Any]:
    rows: list[dict[str, Any]] = [
        {
            "control_id": c.id,
            "title": c.title,
            "status": "met",
            "statement": f"{c.title} is in place, owned by the security lead and reviewed every year."
            + (
                " The review now includes the sub-contractors named in the register." if i < rewritten else ""
            ),
            "justification": "",
            "planned_change": "",
            "target_date": None,
            "evidence": [],
        }
        for i, c in enumerate(controls)
    ]
    risk = {
        "id": "r1",
        "title": "Removable media lost in transit",
        "description": "",
        "control_ids": [],
        "likelihood": 3,
        "impact": 4,
        "treatment": "Encrypt all media.",
        "owner": "Head of IT",
        "residual_likelihood": 1,
        "residual_impact": 3,
    }
    return {
        "engagement": {"id": engagement.id},
        "scoping": {},
        "responses": rows,
        "risks": [risk],
        "register": [],
        "incident": {
            "document": "Triage within an hour.",
            "contacts": [],
            "report_loss_hours": None,
            "trace_loss_hours": None,
        },
        "roles": [
            {
                "kind": "designated_security_contact",
                "name": "Dana",
                "email": "",
                "phone": "",
                "board_level": True,
            }
        ],
    }


def review_page(
    app: FastAPI,
    engagement: Engagement,
    controls: list[Control],
    timed: Callable[[str, int, Callable[[], object], float | None], None],
) -> None:
    """Time GET /submissions/{id} for version 2 as the engagement's buyer advisor."""
    engine = app.state.engine
    with session_scope(engine) as session:
        buyer = session.get(Organisation, engagement.buyer_org_id)
        assert buyer is not None
    advisor = make_person(engine, app.state.keys, "buyer_advisor", buyer)
    picked = controls[:400]
    ids = []
    with session_scope(engine, write=True) as session:
        for version, rewritten in ((1, 0), (2, 40)):
            data = _snapshot(engagement, picked, rewritten)
            submission = Submission(
                engagement_id=engagement.id,
                version=version,
                cycle=1,
                snapshot=canonical(data).decode(),
                sha256=fingerprint(data),
                officer_name="Dana Chief",
                officer_role="COO",
                submitted_by_id="bench",
                submitted_on=date(2024, 9, 10),
            )
            session.add(submission)
            session.flush()
            ids.append(submission.id)
        reasons = {c.id: "Say who reviews this and when." for c in picked[20:40]}
        session.add(
            Decision(
                submission_id=ids[0],
                engagement_id=engagement.id,
                number="RN-2024-9001",
                approved=False,
                reasons="Twenty controls need an owner.",
                control_reasons=json.dumps(reasons),
                advisor_id=advisor.user.id,
                advisor_name="Alex Advisor",
                advisor_role="Security advisor",
                decided_on=date(2024, 9, 20),
            )
        )
        case = session.get(PlanCase, engagement.id) or PlanCase(engagement_id=engagement.id)
        case.state, case.cycle, case.rejections = "submitted", 1, 1  # type: ignore[assignment]
        session.add(case)
        session.commit()
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        page = client.get(f"/submissions/{ids[1]}")
        assert page.status_code == 200, page.status_code
        print(f"review page: {len(picked)} controls, 40 changed, {len(page.content) // 1024} KB of HTML")
        timed(
            f"review page ({len(picked)}-control resubmission)",
            20,
            lambda: client.get(f"/submissions/{ids[1]}"),
            200,
        )
