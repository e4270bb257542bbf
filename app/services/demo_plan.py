"""Demo data for the approval workflow: the demo engagement's plan (risks, register, incident
process, roles) and a submission awaiting the buyer's decision, already overdue, so that the
advisor's first page shows what needs deciding."""

from __future__ import annotations

from datetime import date, timedelta

from sqlmodel import Session, select

from app.domain.access import Actor
from app.domain.catalogue import Library
from app.domain.submissions import canonical, fingerprint
from app.domain.workflow import Move, State
from app.models import Engagement, PlanCase, Submission, Transition, User
from app.services import approvals, plan

RISKS = (
    (
        "Removable media lost in transit",
        ["CPS-4.9"],
        (3, 4),
        "Encrypted media only; tracked courier.",
        (1, 3),
    ),
    ("Unpatched internet-facing gateway", ["S24-A1-9.3a"], (3, 5), "Critical patches within 7 days.", (2, 3)),
    (
        "Leaver keeps access to buyer data",
        ["CPS-5.7"],
        (2, 4),
        "HR-driven deprovisioning within a day.",
        (1, 2),
    ),
)


def load_demo_plan(session: Session, library: Library, engagement: Engagement, today: date) -> int:
    """Create the plan and one overdue submission, once."""
    if plan.risks(session, engagement.id):
        return 0
    lead = session.exec(select(User).where(User.email == "lead@northwind.example")).one()
    actor = Actor(lead.id, lead.organisation_id, lead.role)
    for title, controls, (likelihood, impact), treatment, (res_l, res_i) in RISKS:
        usable = [c for c in controls if c in library.controls]
        plan.store_risk(
            session,
            library,
            engagement,
            actor,
            plan.RiskInput(
                title=title,
                control_ids=usable,
                likelihood=likelihood,
                impact=impact,
                treatment=treatment,
                owner=lead.name,
                residual_likelihood=res_l,
                residual_impact=res_i,
            ),
        )
    plan.store_entry(
        session,
        engagement,
        actor,
        plan.EntryInput(
            title="Automate reporting of non-critical patch status",
            agreed_on=(today + timedelta(days=60)).isoformat(),
        ),
    )
    plan.store_incident_process(
        session,
        engagement,
        actor,
        document="Incidents are logged in the service desk, triaged within one hour by the duty manager,"
        " reported to the buyer's security team within 24 hours and reviewed within five Working Days.",
        contacts=[{"name": "Sam Lead", "role": "Duty manager", "email": "lead@northwind.example"}],
    )
    plan.store_security_roles(
        session,
        engagement,
        actor,
        [
            {
                "kind": "designated_security_contact",
                "name": "Sam Lead",
                "email": "lead@northwind.example",
                "board_level": True,
            },
            {
                "kind": "information_assurance",
                "name": "Casey Contributor",
                "email": "contributor@northwind.example",
            },
        ],
    )
    # The demo plan is only part-answered, so it goes in as a snapshot directly (the real
    # submit refuses incomplete plans); 30 days ago, so the 20 Working Day decision is overdue.
    data, _gaps = approvals.snapshot(session, library, engagement)
    submitted = today - timedelta(days=30)
    data.update(
        {
            "version": 1,
            "cycle": 1,
            "submitted_on": submitted.isoformat(),
            "declaration": {"officer_name": "Robin Board", "officer_role": "Chief Executive"},
        }
    )
    submission = Submission(
        engagement_id=engagement.id,
        version=1,
        cycle=1,
        snapshot=canonical(data).decode(),
        sha256=fingerprint(data),
        officer_name="Robin Board",
        officer_role="Chief Executive",
        submitted_by_id=lead.id,
        submitted_on=submitted,
    )
    session.add(submission)
    session.add(PlanCase(engagement_id=engagement.id, state=State.SUBMITTED, cycle=1))
    session.flush()
    session.add(
        Transition(
            engagement_id=engagement.id,
            move=Move.SUBMIT,
            from_state=State.DRAFT,
            to_state=State.SUBMITTED,
            submission_id=submission.id,
            actor_id=lead.id,
        )
    )
    session.flush()
    return len(RISKS) + 4
