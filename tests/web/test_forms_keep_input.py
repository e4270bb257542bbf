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
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.main import create_app
from app.models import (
    Certificate,
    ChangeNotice,
    Engagement,
    IncidentProcess,
    Organisation,
    RegisterEntry,
    Risk,
    ScopingAnswer,
    SecurityRole,
    Subcontractor,
    User,
)
from tests.conftest import make_settings
from tests.factories import Person, make_engagement, make_org, make_person, sign_in

TITLE = re.compile(r"<title>(.*?)</title>", re.S)


@dataclass
class World:
    app: FastAPI
    lead: TestClient
    admin: TestClient
    engagement_id: str
    person: Person
    buyer_id: str
    supplier_id: str

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
        yield World(app, lead_client, admin_client, engagement.id, lead, buyer.id, supplier.id)


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


def test_the_subcontractor_form_keeps_the_name_and_tier(world: World) -> None:
    page = world.lead.post("/subcontractors", data={"name": "Harbour Data Ltd", "tier": "low"})
    refused(page, "tier", 'value="Harbour Data Ltd"')
    assert "Choose the risk tier: Higher Risk or Medium Risk Sub-contractor." in page.text
    page = world.lead.post("/subcontractors", data={"name": "  ", "tier": "medium_risk"})
    refused(page, "name", '<option value="medium_risk" selected>')
    assert count(world.app, Subcontractor) == 0


NEW_ENGAGEMENT = {
    "reference": "PR 2025 <017>",
    "title": "Case management hosting",
    "effective_date-day": "31",
    "effective_date-month": "4",
    "effective_date-year": "2025",
    "workflow_profile": "call-off-schedule-7",
    "jurisdiction": "scotland",
    "call_off_form": "short",
    "catalogue_ids": "cps-security-policy",
}


def test_the_new_engagement_form_keeps_everything_and_its_date_as_three_fields(world: World) -> None:
    before = count(world.app, Engagement)
    form = {**NEW_ENGAGEMENT, "buyer_org_id": world.buyer_id, "supplier_org_id": world.supplier_id}
    page = world.admin.post("/engagements/new", data=form)
    html = refused(
        page,
        "effective_date",
        'value="PR 2025 &lt;017&gt;"',
        'value="Case management hosting"',
        'name="effective_date-day" type="text" inputmode="numeric" value="31"',
        'name="effective_date-month" type="text" inputmode="numeric" value="4"',
        'name="effective_date-year" type="text" inputmode="numeric" value="2025"',
        f'<option value="{world.buyer_id}" selected>',
        f'<option value="{world.supplier_id}" selected>',
        '<option value="call-off-schedule-7" selected>',
        '<option value="scotland" selected>',
        '<option value="short" selected>',
    )
    assert "Enter the effective date as a day, month and year, for example 27 3 2025." in html
    assert re.search(r'value="cps-security-policy" checked', html)
    assert count(world.app, Engagement) == before
    good = {**form, "effective_date-day": "30"}
    saved = world.admin.post("/engagements/new", data=good, follow_redirects=False)
    assert saved.status_code == 303, saved.text[:400]
    with session_scope(world.app.state.engine) as session:
        row = session.exec(select(Engagement).where(Engagement.reference == "PR 2025 <017>")).one()
        assert row.effective_on == date(2025, 4, 30)


def test_the_new_engagement_form_links_a_missing_catalogue_to_its_first_box(world: World) -> None:
    form = {**NEW_ENGAGEMENT, "effective_date-day": "30", "catalogue_ids": ""}
    form |= {"buyer_org_id": world.buyer_id, "supplier_org_id": world.supplier_id}
    html = refused(world.admin.post("/engagements/new", data=form), "catalogue_ids")
    assert re.search(r'<input class="govuk-checkboxes__input" id="catalogue_ids" name="catalogue_ids"', html)
    assert 'name="effective_date-day" type="text" inputmode="numeric" value="30"' in html


def password_hash(world: World) -> str:
    with session_scope(world.app.state.engine) as session:
        user = session.get(User, world.person.user.id)
        assert user is not None
        return user.password_hash


def test_the_password_form_keeps_the_code_but_never_a_password(world: World) -> None:
    before = password_hash(world)
    form = {
        "current_password": world.person.password,
        "code": "123456",
        "new_password": "three random words here",
        "confirm_password": "three random words there",
    }
    html = refused(world.lead.post("/account/password", data=form), "confirm_password", 'value="123456"')
    assert "The two new passwords are not the same." in html
    for secret in (world.person.password, "three random words"):
        assert secret not in html
    assert password_hash(world) == before


def test_a_certificate_file_over_the_limit_is_an_inline_error_with_the_rest_kept(
    tmp_path: Path, database_url: str
) -> None:
    app = create_app(make_settings(tmp_path, database_url, max_upload_mb=1))
    engine = app.state.engine
    lead = make_person(engine, app.state.keys, "supplier_lead", make_org(engine, "supplier"))
    try:
        with TestClient(app) as client:
            sign_in(app, client, lead)
            assert "up to 1 MB." in client.get("/certificates/new").text  # the limit, stated
            big = PDF + b"%" * (1024 * 1024)
            files = {"file": ("certificate.pdf", big, "application/pdf")}
            page = client.post("/certificates", data=CERTIFICATE, files=files)
            html = refused(page, "file", *KEPT, status=413)
            assert "The selected file is larger than the 1 MB limit" in html
            assert count(app, Certificate) == 0
            assert list(app.state.store.keys()) == []
            assert list(app.state.store.tmp_dir.iterdir()) == []
    finally:
        engine.dispose()


def test_a_register_row_keeps_its_dates_as_typed_in_three_fields(world: World) -> None:
    entry = {"title": "Patch the VPN", "agreed_on-day": "1", "agreed_on-month": "6", "agreed_on-year": "2025"}
    assert world.lead.post(f"{world.plan}/register", data=entry, follow_redirects=False).status_code == 303
    with session_scope(world.app.state.engine) as session:
        (row,) = session.exec(select(RegisterEntry)).all()
        entry_id, version = row.id, row.version
    page = world.lead.get(world.plan).text
    for part, value in (("day", "1"), ("month", "6"), ("year", "2025")):  # the stored date, in its boxes
        assert f'id="agreed-{entry_id}{"" if part == "day" else "-" + part}" name="agreed_on-{part}"' in page
        assert f'name="agreed_on-{part}" type="text" inputmode="numeric" value="{value}"' in page
    update = {
        "entry_id": entry_id,
        "expected_version": str(version),
        "title": "Patch the VPN",
        "description": "",
        "agreed_on-day": "1",
        "agreed_on-month": "6",
        "agreed_on-year": "2025",
        "implemented_on-day": "31",
        "implemented_on-month": "6",
        "implemented_on-year": "2025",
        "status": "implemented",
    }
    page = world.lead.post(f"{world.plan}/register", data=update)
    html = refused(
        page,
        f"impl-{entry_id}",
        'name="implemented_on-day" type="text" inputmode="numeric" value="31"',
        'name="implemented_on-month" type="text" inputmode="numeric" value="6"',
        '<option value="implemented" selected>',
    )
    assert "as a day, month and year, for example 27 3 2025." in html
    with session_scope(world.app.state.engine) as session:
        (row,) = session.exec(select(RegisterEntry)).all()
        assert row.implemented_on is None and row.version == version
    saved = world.lead.post(
        f"{world.plan}/register", data={**update, "implemented_on-day": "30"}, follow_redirects=False
    )
    assert saved.status_code == 303
    with session_scope(world.app.state.engine) as session:
        (row,) = session.exec(select(RegisterEntry)).all()
        assert row.implemented_on == date(2025, 6, 30)


# --- every form, one table ---------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One form: who posts it, where, with one bad value; the field the summary must link to,
    the fragments that show every other value typed, and the rows that must stay as they were."""

    who: str  # "lead" or "admin"
    url: str  # "{plan}" and "{engagement}" are filled in
    data: dict[str, str]
    field: str
    kept: tuple[str, ...]
    model: type
    files: bool = False
    status: int = 422


def opt(value: str) -> str:
    return f'<option value="{value}" selected>'


def box(name: str, part: str, value: str) -> str:
    return f'name="{name}-{part}" type="text" inputmode="numeric" value="{value}"'


CASES = [
    Case(
        "lead",
        "{plan}/risks",
        {"title": "Lost laptop", "control_ids": "CPS-1.1", "likelihood": "9", "impact": "3"}
        | {"residual_likelihood": "2", "residual_impact": "1", "owner": "Head of IT"},
        "risk-likelihood",
        ('value="Lost laptop"', 'value="CPS-1.1"', 'value="Head of IT"', opt("3")),
        Risk,
    ),
    Case(
        "lead",
        "{plan}/register",
        {"title": "", "description": "Rotate keys"}
        | {"agreed_on-day": "4", "agreed_on-month": "5", "agreed_on-year": "2025"},
        "entry-title",
        (">Rotate keys</textarea>", box("agreed_on", "day", "4"), box("agreed_on", "year", "2025")),
        RegisterEntry,
    ),
    Case(
        "lead",
        "{plan}/incident",
        {"document": "Call the duty officer", "report_loss_hours": "12", "trace_loss_hours": "two days"},
        "trace_loss_hours",
        (">Call the duty officer</textarea>", 'value="12"', 'value="two days"'),
        IncidentProcess,
    ),
    Case(
        "lead",
        "{plan}/roles",
        {"role_kind_0": "day_to_day_contact", "role_name_0": "Sam Spoc", "role_email_0": "sam@example.com"},
        "people",
        ('value="Sam Spoc"', 'value="sam@example.com"', opt("day_to_day_contact")),
        SecurityRole,
    ),
    Case(
        "lead",
        "{plan}/submit",
        {"officer_name": "Dana Chief", "officer_role": "Chief Executive"},
        "confirmed",
        ('value="Dana Chief"', 'value="Chief Executive"'),
        Risk,
    ),
    Case(
        "lead",
        "{plan}/change-notices",
        {"event": "", "description": "New data centre"}
        | {"aware_on-day": "9", "aware_on-month": "10", "aware_on-year": "2025"},
        "notice-event",
        (">New data centre</textarea>", box("aware_on", "day", "9"), box("aware_on", "month", "10")),
        ChangeNotice,
    ),
    Case(
        "lead",
        "/certificates",
        {**CERTIFICATE, "issued_on-month": "13"},
        "issued_on",
        (*KEPT[:4], box("issued_on", "month", "13"), KEPT[5]),
        Certificate,
        files=True,
    ),
    Case(
        "lead",
        "/engagements/{engagement}/scoping",
        {"uses_cloud_services": "maybe", "uses_removable_media": "no"},
        "uses_cloud_services-yes",
        ('id="uses_removable_media-no" name="uses_removable_media" type="radio" value="no" checked',),
        ScopingAnswer,
    ),
    Case(
        "lead",
        "/subcontractors",
        {"name": "", "tier": "higher_risk"},
        "name",
        (opt("higher_risk"),),
        Subcontractor,
    ),
    Case(
        "lead",
        "/account/tokens",
        {"name": "", "expires_days": "30"},
        "name",
        ('value="30"',),
        User,
    ),
    Case(
        "admin",
        "/admin/organisations",
        {"name": "", "kind": "buyer"},
        "name",
        (opt("buyer"),),
        Organisation,
    ),
    Case(
        "admin",
        "/admin/users",
        {"email": "robin@", "name": "Robin Newcomer", "role": "supplier_contributor"},
        "email",
        ('value="robin@"', 'value="Robin Newcomer"', opt("supplier_contributor")),
        User,
    ),
    Case(
        "admin",
        "/engagements/new",
        {**NEW_ENGAGEMENT, "reference": "", "effective_date-day": "30"},
        "reference",
        ('value="Case management hosting"', box("effective_date", "day", "30"), opt("scotland")),
        Engagement,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.url.rsplit("/", 1)[-1] for c in CASES])
def test_every_form_refuses_with_the_govuk_pattern_and_keeps_what_was_typed(world: World, case: Case) -> None:
    client = world.lead if case.who == "lead" else world.admin
    url = case.url.format(plan=world.plan, engagement=world.engagement_id)
    data = dict(case.data)
    if url == "/engagements/new":
        data |= {"buyer_org_id": world.buyer_id, "supplier_org_id": world.supplier_id}
    files = {"file": ("certificate.pdf", PDF, "application/pdf")} if case.files else None
    before = count(world.app, case.model)
    page = client.post(url, data=data, files=files)
    refused(page, case.field, *case.kept, status=case.status)
    assert count(world.app, case.model) == before
