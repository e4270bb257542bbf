"""Forms never lose what was typed (issue 15 items 3 and 9).

A refused post answers 422 with the same form: the GOV.UK error summary links to the field,
the message sits beside it (named by aria-describedby), the page title starts with "Error: ",
and every value typed is in the form again; nothing is stored. A certificate with a file that
is not a PDF or an image is an inline error on the same form. A save shows a success banner.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import (
    Certificate,
    ChangeNotice,
    IncidentProcess,
    Organisation,
    RegisterEntry,
    Risk,
    ScopingAnswer,
    SecurityRole,
)
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


@dataclass
class World:
    app: FastAPI
    lead: TestClient
    admin: TestClient
    engagement_id: str

    @property
    def plan(self) -> str:
        return f"/engagements/{self.engagement_id}/plan"


@pytest.fixture
def world(app: FastAPI) -> Iterator[World]:
    engine, keys = app.state.engine, app.state.keys
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead: Person = make_person(engine, keys, "supplier_lead", supplier)
    admin: Person = make_person(engine, keys, "administrator")
    engagement = make_engagement(engine, buyer, supplier)
    with TestClient(app) as lead_client, TestClient(app) as admin_client:
        sign_in(app, lead_client, lead)
        sign_in(app, admin_client, admin)
        yield World(app, lead_client, admin_client, engagement.id)


def count(app: FastAPI, model: type) -> int:
    with session_scope(app.state.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def refused(response: Any, field_id: str, *typed: str, status: int = 422) -> str:
    """The GOV.UK error pattern for `field_id`, with every `typed` fragment in the page."""
    html = str(response.text)
    assert response.status_code == status, html[:400]
    (title,) = TITLE.findall(html.split("</head>", 1)[0])
    assert title.strip().startswith("Error: "), title
    summary = html.split('id="error-summary"', 1)[1].split("</div>\n</div>", 1)[0]
    assert f'href="#{field_id}"' in summary, summary
    assert f'id="{field_id}-error"' in html
    # the field (or, for a date input or radios, its fieldset) is described by the message
    described = re.findall(r'aria-describedby="([^"]*)"', html)
    assert any(f"{field_id}-error" in ids.split() for ids in described), field_id
    for fragment in typed:
        assert fragment in html, fragment
    return html


# --- the plan page ---------------------------------------------------------------------------


def test_the_risk_form_keeps_every_value_and_stores_nothing(world: World) -> None:
    risk = {
        "title": "Lost laptop",
        "control_ids": "NOPE-1",
        "likelihood": "4",
        "impact": "5",
        "residual_likelihood": "1",
        "residual_impact": "2",
        "description": "A laptop left on a train",
        "treatment": "Full-disk encryption",
        "owner": "Head of IT",
    }
    page = world.lead.post(f"{world.plan}/risks", data=risk)
    html = refused(
        page,
        "risk-control_ids",
        'value="Lost laptop"',
        'value="NOPE-1"',
        'value="Head of IT"',
        ">A laptop left on a train</textarea>",
        ">Full-disk encryption</textarea>",
    )
    assert re.search(r'id="risk-likelihood"[^>]*>.*?<option value="4" selected>', html, re.S)
    assert re.search(r'id="risk-residual_likelihood"[^>]*>.*?<option value="1" selected>', html, re.S)
    assert "Not controls of this engagement: NOPE-1." in html
    assert count(world.app, Risk) == 0


def test_a_saved_risk_shows_a_success_banner_in_its_section(world: World) -> None:
    risk = {"title": "Lost laptop", "control_ids": "CPS-1.1", "likelihood": "4", "impact": "5"}
    risk |= {"residual_likelihood": "2", "residual_impact": "2"}
    saved = world.lead.post(f"{world.plan}/risks", data=risk, follow_redirects=False)
    assert saved.status_code == 303 and saved.headers["location"].endswith("?saved=risk#risks-saved")
    page = world.lead.get(saved.headers["location"])
    banner = page.text.split('id="risks-saved"', 1)[1].split("</div>\n</div>", 1)[0]
    assert "govuk-notification-banner--success" in page.text and "The risk was saved." in banner
    assert "Error: " not in TITLE.findall(page.text)[0]
    assert count(world.app, Risk) == 1
    assert "The risk was saved." not in world.lead.get(world.plan).text  # only right after the save


def test_an_htmx_post_gets_the_form_section_alone_with_its_summary(world: World) -> None:
    risk = {"title": "", "control_ids": "", "likelihood": "4", "impact": "5", "owner": "Dana"}
    risk |= {"residual_likelihood": "2", "residual_impact": "2"}
    page = world.lead.post(f"{world.plan}/risks", data=risk, headers={"HX-Request": "true"})
    assert page.status_code == 422 and "<html" not in page.text
    assert page.text.lstrip().startswith('<section id="risks">')
    assert page.headers["HX-Retarget"] == "#risks" and page.headers["HX-Reswap"] == "outerHTML"
    assert 'href="#risk-title"' in page.text and 'value="Dana"' in page.text
    assert count(world.app, Risk) == 0


def test_the_register_form_keeps_its_date_as_three_fields(world: World) -> None:
    entry = {
        "title": "Patch the VPN",
        "description": "Upgrade to the fixed release",
        "agreed_on-day": "31",
        "agreed_on-month": "2",
        "agreed_on-year": "2025",
    }
    page = world.lead.post(f"{world.plan}/register", data=entry)
    refused(
        page,
        "entry-agreed_on",
        'value="Patch the VPN"',
        ">Upgrade to the fixed release</textarea>",
        'name="agreed_on-day" type="text" inputmode="numeric" value="31"',
        'name="agreed_on-month" type="text" inputmode="numeric" value="2"',
        'name="agreed_on-year" type="text" inputmode="numeric" value="2025"',
    )
    assert "Enter the agreed date as a day, month and year, for example 27 3 2025." in page.text
    assert count(world.app, RegisterEntry) == 0
    good = {**entry, "agreed_on-day": "28"}
    saved = world.lead.post(f"{world.plan}/register", data=good, follow_redirects=False)
    assert saved.status_code == 303
    with session_scope(world.app.state.engine) as session:
        (row,) = session.exec(select(RegisterEntry)).all()
        assert row.agreed_on == date(2025, 2, 28)
    assert "The Required Changes Register was updated." in world.lead.get(saved.headers["location"]).text


def test_the_incident_form_keeps_the_process_and_contacts(world: World) -> None:
    form = {
        "document": "Triage within the hour",
        "report_loss_hours": "soon",
        "contact_name_0": "Sam Duty",
        "contact_email_0": "sam@example.com",
        "contact_phone_1": "0123 456",
    }
    page = world.lead.post(f"{world.plan}/incident", data=form)
    refused(
        page,
        "report_loss_hours",
        ">Triage within the hour</textarea>",
        'value="soon"',
        'value="Sam Duty"',
        'value="sam@example.com"',
        'value="0123 456"',
    )
    assert count(world.app, IncidentProcess) == 0


def test_the_roles_form_keeps_every_row_including_rows_added(world: World) -> None:
    form = {
        "role_kind_0": "information_assurance",
        "role_name_0": "Dana Chief",
        "role_email_0": "dana@example.com",
        "role_board_0": "yes",
        "role_kind_6": "information_assurance",  # a seventh row, added in the browser
        "role_name_6": "Lee Added",
        "role_phone_6": "0700 900",
    }
    page = world.lead.post(f"{world.plan}/roles", data=form)
    html = refused(
        page,
        "people",
        'value="Dana Chief"',
        'value="dana@example.com"',
        'id="role_name_6" name="role_name_6" type="text" value="Lee Added"',
        'value="0700 900"',
    )
    assert "exactly one designated security contact" in html
    assert re.search(r'id="role_board_0" name="role_board_0" value="yes" checked', html)
    assert count(world.app, SecurityRole) == 0


def test_add_another_person_adds_a_row_and_keeps_the_rest_without_saving(world: World) -> None:
    form = {"role_name_0": "Dana Chief", "role_kind_0": "designated_security_contact", "add_row": "yes"}
    form |= {f"role_name_{i}": f"Person {i}" for i in range(1, 5)}
    page = world.lead.post(f"{world.plan}/roles", data=form)
    assert page.status_code == 200
    assert 'id="role_name_5"' in page.text and 'id="role_name_6"' not in page.text
    assert 'value="Dana Chief"' in page.text and 'value="Person 4"' in page.text
    assert count(world.app, SecurityRole) == 0


def test_the_submit_form_keeps_the_officer(world: World) -> None:
    form = {"officer_name": "Dana Chief", "officer_role": "Chief Operating Officer"}
    page = world.lead.post(f"{world.plan}/submit", data=form)
    html = refused(page, "confirmed", 'value="Dana Chief"', 'value="Chief Operating Officer"')
    assert "Confirm the declaration before submitting." in html


def test_the_change_notice_form_keeps_what_changed_and_the_date(world: World) -> None:
    form = {
        "event": "",
        "description": "New hosting provider",
        "aware_on-day": "3",
        "aware_on-month": "6",
        "aware_on-year": "2025",
    }
    page = world.lead.post(f"{world.plan}/change-notices", data=form)
    refused(
        page,
        "notice-event",
        ">New hosting provider</textarea>",
        'name="aware_on-day" type="text" inputmode="numeric" value="3"',
        'name="aware_on-year" type="text" inputmode="numeric" value="2025"',
    )
    assert count(world.app, ChangeNotice) == 0


# --- certificates, scoping, account, admin ---------------------------------------------------

PDF = b"%PDF-1.4\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n"
CERTIFICATE = {
    "scheme": "iso27001",
    "holder": "supplier",
    "body": "BSI",
    "number": "IS 12345",
    "scope": "Hosting <and> support",
    "issued_on-day": "2",
    "issued_on-month": "3",
    "issued_on-year": "2025",
}
KEPT = (
    'value="BSI"',
    'value="IS 12345"',
    ">Hosting &lt;and&gt; support</textarea>",
    'name="issued_on-day" type="text" inputmode="numeric" value="2"',
    'name="issued_on-year" type="text" inputmode="numeric" value="2025"',
    '<option value="iso27001" selected>',
)


def test_the_certificate_form_keeps_every_value(world: World) -> None:
    form = {**CERTIFICATE, "expires_on-day": "40", "expires_on-month": "1", "expires_on-year": "2028"}
    files = {"file": ("certificate.pdf", PDF, "application/pdf")}
    page = world.lead.post("/certificates", data=form, files=files)
    html = refused(
        page, "expires_on", *KEPT, 'name="expires_on-day" type="text" inputmode="numeric" value="40"'
    )
    assert "choose certificate.pdf again" in html
    assert count(world.app, Certificate) == 0
    assert list(world.app.state.store.keys()) == []


def test_a_program_on_the_certificate_form_is_an_inline_error_on_the_same_form(world: World) -> None:
    files = {"file": ("certificate.exe", b"MZ\x90\x00binary", "application/octet-stream")}
    page = world.lead.post("/certificates", data=CERTIFICATE, files=files)
    html = refused(page, "file", *KEPT, status=415)
    assert 'id="certificate-form"' in html and "not a PDF or an image" in html
    assert count(world.app, Certificate) == 0
    assert list(world.app.state.store.keys()) == []


def test_a_certificate_with_the_date_input_is_saved(world: World) -> None:
    files = {"file": ("certificate.pdf", PDF, "application/pdf")}
    saved = world.lead.post("/certificates", data=CERTIFICATE, files=files, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:400]
    with session_scope(world.app.state.engine) as session:
        (row,) = session.exec(select(Certificate)).all()
        assert row.issued_on == date(2025, 3, 2) and row.number == "IS 12345"


def test_the_scoping_form_keeps_the_answers_given(world: World) -> None:
    url = f"/engagements/{world.engagement_id}/scoping"
    form = {"uses_cloud_services": "no", "uses_removable_media": "perhaps"}
    page = world.lead.post(url, data=form)
    html = refused(page, "uses_removable_media-yes")
    assert re.search(
        r'id="uses_cloud_services-no" name="uses_cloud_services" type="radio" value="no" checked', html
    )
    assert count(world.app, ScopingAnswer) == 0
    saved = world.lead.post(url, data={"uses_cloud_services": "no"}, follow_redirects=False)
    assert saved.status_code == 303
    page = world.lead.get(saved.headers["location"])
    assert "Your scoping answers were saved." in page.text
    assert re.search(r'id="uses_cloud_services-no"[^>]*checked', page.text)


def test_the_token_form_keeps_its_name(world: World) -> None:
    page = world.lead.post("/account/tokens", data={"name": "Nightly export", "expires_days": "many"})
    refused(page, "expires_days", 'value="Nightly export"', 'value="many"')


def test_the_organisation_form_keeps_what_was_typed_and_confirms_a_save(world: World) -> None:
    before = count(world.app, Organisation)
    page = world.admin.post("/admin/organisations", data={"name": "", "kind": "buyer"})
    refused(page, "name", '<option value="buyer" selected>')
    assert count(world.app, Organisation) == before
    saved = world.admin.post("/admin/organisations", data={"name": "Home Office", "kind": "buyer"})
    assert saved.status_code == 200 and "The organisation was added." in saved.text


def test_the_invitation_form_keeps_what_was_typed(world: World) -> None:
    form = {"email": "not-an-address", "name": "Robin Newcomer", "role": "supplier_lead"}
    page = world.admin.post("/admin/users", data=form)
    refused(page, "email", 'value="not-an-address"', 'value="Robin Newcomer"')
