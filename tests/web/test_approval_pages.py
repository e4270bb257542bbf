"""The approval workflow in the browser's own terms: forms post, pages show what users need.

A buyer advisor finds every supplier's overdue decision from the first page; the supplier
lead keeps the plan through forms; bad input gets a 422 with the reason and changes nothing.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import (
    csrf_token,
    make_decided_submission,
    make_engagement,
    make_org,
    make_person,
    sign_in,
)


def test_advisor_finds_overdue_decisions_from_the_first_page(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer = make_org(engine, "buyer")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    first, second = make_org(engine, "supplier", "Acme Ltd"), make_org(engine, "supplier", "Borealis plc")
    overdue = make_decided_submission(engine, make_engagement(engine, buyer, first), decided=False)
    make_decided_submission(engine, make_engagement(engine, buyer, second), decided=True)
    other_buyer_submission = make_decided_submission(
        engine,
        make_engagement(engine, make_org(engine, "buyer"), make_org(engine, "supplier")),
        decided=False,
    )
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        home = client.get("/")
        assert "1 awaiting a decision, 1 overdue" in home.text
        assert f"/submissions/{overdue}" in home.text and "Acme Ltd" in home.text
        assert other_buyer_submission not in home.text and "Borealis" not in home.text
        queue = client.get("/reviews")
        assert queue.status_code == 200 and "Acme Ltd" in queue.text and "overdue" in queue.text
        assert "Schedule 2.4 para 4.5" in queue.text  # the rule that produced the date

        review = client.get(f"/submissions/{overdue}")
        assert "Approve and issue ISAS" in review.text
        token = csrf_token(app, client)
        refused = client.post(
            f"/submissions/{overdue}/decision", data={"csrf_token": token, "decision": "reject"}
        )
        assert refused.status_code == 422 and "Give the reasons" in refused.text
        done = client.post(
            f"/submissions/{overdue}/decision",
            data={"csrf_token": token, "decision": "reject", "reasons": "No <b>risk</b> register."},
            follow_redirects=False,
        )
        assert done.status_code == 303
        statement = client.get(f"/submissions/{overdue}/statement")
        assert (
            "Rejection notice" in statement.text and "No &lt;b&gt;risk&lt;/b&gt; register." in statement.text
        )
        assert "0 overdue" in client.get("/").text


def test_supplier_keeps_the_plan_through_forms(app: FastAPI) -> None:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    contributor = make_person(engine, keys, "supplier_contributor", supplier)
    engagement = make_engagement(engine, buyer, supplier)
    plan_url = f"/engagements/{engagement.id}/plan"
    with TestClient(app) as client:
        sign_in(app, client, lead)
        token = csrf_token(app, client)
        page = client.get(plan_url)
        assert page.status_code == 200 and "The risk register is empty" in page.text
        assert "2024-09-11" in page.text or "11 Sep 2024" in page.text  # first plan due
        risk = {
            "csrf_token": token,
            "title": "Lost laptop",
            "control_ids": "CPS-1.1",
            "likelihood": "4",
            "impact": "5",
            "residual_likelihood": "2",
            "residual_impact": "2",
            "treatment": "Full-disk encryption",
        }
        bad = client.post(f"{plan_url}/risks", data={**risk, "likelihood": "9"})
        assert bad.status_code == 422 and "from 1 to 5" in bad.text
        unknown = client.post(f"{plan_url}/risks", data={**risk, "control_ids": "NOPE-1"})
        assert unknown.status_code == 422 and "NOPE-1" in unknown.text
        assert "Lost laptop" not in client.get(plan_url).text
        assert client.post(f"{plan_url}/risks", data=risk, follow_redirects=False).status_code == 303
        page = client.get(plan_url)
        assert "Lost laptop" in page.text and "Inherent risk heat map" in page.text
        no_contact = client.post(
            f"{plan_url}/roles",
            data={"csrf_token": token, "role_name_0": "Dana", "role_kind_0": "information_assurance"},
        )
        assert no_contact.status_code == 422 and "exactly one designated security contact" in no_contact.text
        roles = {
            "csrf_token": token,
            "role_kind_0": "designated_security_contact",
            "role_name_0": "Dana Chief",
        }
        assert client.post(f"{plan_url}/roles", data=roles, follow_redirects=False).status_code == 303
        slow = {
            "csrf_token": token,
            "document": "Triage",
            "contact_name_0": "Sam",
            "contact_email_0": "s@x.example",
            "report_loss_hours": "36",
        }
        assert client.post(f"{plan_url}/incident", data=slow).status_code == 422
        incomplete = client.post(
            f"{plan_url}/submit",
            data={"csrf_token": token, "officer_name": "Dana", "officer_role": "COO", "confirmed": "yes"},
        )
        assert incomplete.status_code == 422
        assert "There is no Incident Management Process." in incomplete.text
        assert f"/engagements/{engagement.id}/controls/CPS-1.2" in incomplete.text  # links to what is missing
    with TestClient(app) as client:
        sign_in(app, client, contributor)
        page = client.get(plan_url)
        assert page.status_code == 200 and "Add a risk" not in page.text
        denied = client.post(f"{plan_url}/risks", data={**risk, "csrf_token": csrf_token(app, client)})
        assert denied.status_code == 404


def test_verification_page_is_public_and_exact(app: FastAPI, anonymous: TestClient) -> None:
    engine = app.state.engine
    engagement = make_engagement(engine, make_org(engine, "buyer"), make_org(engine, "supplier"))
    submission = make_decided_submission(engine, engagement, approved=True)
    with TestClient(app) as client:
        from sqlmodel import select

        from app.db import session_scope
        from app.models import Decision, Submission

        with session_scope(engine) as session:
            number = session.exec(select(Decision.number).where(Decision.submission_id == submission)).one()
            sha = session.exec(select(Submission.sha256).where(Submission.id == submission)).one()
        assert client.get("/verify").status_code == 200
        good = anonymous.get("/verify", params={"number": number.lower(), "sha256": sha})
        assert good.status_code == 200 and "Issued" in good.text and engagement.reference in good.text
        wrong = anonymous.get("/verify", params={"number": number, "sha256": "0" * 64})
        assert (
            wrong.status_code == 404
            and "Not verified" in wrong.text
            and engagement.reference not in wrong.text
        )


def test_closure_days_are_shown_and_count_only_under_an_agreed_calendar(app: FastAPI) -> None:
    """A closure day declared by the buyer moves no deadline (Working Days are the contract's);
    it is shown beside the deadline it falls in. Once the parties agree a calendar (recorded on
    the plan page), closure days are not Working Days: 30 Working Days from 30 July 2024 then
    skip Monday 2 September too (11 September becomes 12 September)."""
    engine, keys = app.state.engine, app.state.keys
    buyer = make_org(engine, "buyer")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    lead = make_person(engine, keys, "supplier_lead", make_org(engine, "supplier"))
    engagement = make_engagement(engine, buyer, make_org(engine, "supplier"))
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        token = csrf_token(app, client)
        url = f"/api/engagements/{engagement.id}/deadlines"
        assert client.get(url).json()["deadlines"][0]["due_on"] == "2024-09-11"
        weekend = client.post(
            "/reviews/closure-days", data={"csrf_token": token, "day": "2024-09-07", "reason": "x"}
        )
        assert weekend.status_code == 422
        added = client.post(
            "/reviews/closure-days",
            data={"csrf_token": token, "day": "2024-09-02", "reason": "Office move"},
            follow_redirects=False,
        )
        assert added.status_code == 303
        first = client.get(url).json()["deadlines"][0]
        assert first["due_on"] == "2024-09-11"  # unmoved
        assert first["notes"] and "Monday 2 September 2024 (Office move)" in first["notes"][0]
        assert "Office move" in client.get("/reviews").text
        plan = client.get(f"/engagements/{engagement.id}/plan").text
        assert (
            "closed on Monday 2 September 2024 (Office move)" in plan and "Record an agreed variation" in plan
        )
        agreed = client.post(
            f"/engagements/{engagement.id}/variations",
            data={
                "csrf_token": token,
                "what": "calendar||",
                "reference": "Letter of 1 August 2024",
                "agreed_on": "2024-08-01",
            },
            follow_redirects=False,
        )
        assert agreed.status_code == 303 and agreed.headers["location"].endswith("/plan#deadlines")
        first = client.get(url).json()["deadlines"][0]
        assert first["due_on"] == "2024-09-12"
        assert "not a Working Day in this engagement" in first["notes"][0]
        assert "Letter of 1 August 2024" in client.get(f"/engagements/{engagement.id}/plan").text
        # Para 4.4 allows no other timescale: the form answers 422 with the clause, nothing kept.
        refused = client.post(
            f"/engagements/{engagement.id}/variations",
            data={
                "csrf_token": token,
                "what": "deadline|plan_due|",
                "due_on": "2024-12-31",
                "reference": "Letter 2",
                "agreed_on": "2024-08-01",
            },
        )
        assert refused.status_code == 422 and "Schedule 2.4 para 4.4" in refused.text
        assert "Letter 2" in refused.text  # the form keeps what was typed
        listed = client.get(f"/api/engagements/{engagement.id}/variations").json()["variations"]
        assert [v["reference"] for v in listed] == ["Letter of 1 August 2024"]
    with TestClient(app) as client:
        sign_in(app, client, lead)
        refused = client.post(
            "/reviews/closure-days",
            data={"csrf_token": csrf_token(app, client), "day": "2024-09-03", "reason": "x"},
        )
        assert refused.status_code == 403


def test_the_decision_form_lists_open_blockers_and_asks_for_an_acknowledgement(app: FastAPI) -> None:
    """Schedule 2.4 with the CPS Security Policy and an empty register: six certificate blockers
    are open (the ISAS is what approving issues). The form lists them with a checkbox; approving
    without it re-renders the form (422, nothing decided); with it, the statement lists them."""
    engine, keys = app.state.engine, app.state.keys
    buyer = make_org(engine, "buyer")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    engagement = make_engagement(engine, buyer, make_org(engine, "supplier", "Acme Ltd"))
    submission = make_decided_submission(engine, engagement, decided=False)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        token = csrf_token(app, client)
        page = client.get(f"/submissions/{submission}").text
        assert "Blockers and gates still open (6)" in page
        assert (
            "No current Cyber Essentials Plus certificate on record for Acme Ltd (CPS Security Policy 1.5)"
            in page
        )
        assert 'name="acknowledge_outstanding"' in page
        form = {"csrf_token": token, "decision": "approve", "residual_risks_accepted": "yes"}
        refused = client.post(f"/submissions/{submission}/decision", data=form)
        assert refused.status_code == 422
        assert (
            "6 blocker(s) are still open" in refused.text and "Acknowledge the open blockers" in refused.text
        )
        assert "awaiting decision" in client.get(f"/submissions/{submission}").text
        done = client.post(
            f"/submissions/{submission}/decision",
            data={**form, "acknowledge_outstanding": "yes"},
            follow_redirects=False,
        )
        assert done.status_code == 303
        statement = client.get(f"/submissions/{submission}/statement").text
        assert "Outstanding conditions (6)" in statement
        assert (
            "No current ISO/IEC 27001 certificate on record for Acme Ltd (Schedule 2.4 para 6.1(a))"
            in statement
        )
        assert "may use its Information Management System to process buyer data" not in statement
        assert "Approved with 6 outstanding conditions" in client.get(f"/submissions/{submission}").text
