from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_query_counts import counting
from tests.factories import make_engagement, make_org, make_person, sign_in


def test_home_page_says_what_attest_is(anonymous: TestClient) -> None:
    response = anonymous.get("/")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    assert "Security Management Plan" in page.text
    assert "Information Security Approval Statement" in page.text
    assert page.select("#catalogue-list li")


def test_pages_use_only_vendored_assets(client: TestClient) -> None:
    page = BeautifulSoup(client.get("/").text, "html.parser")
    sources = [t.get("src") for t in page.find_all("script")] + [t.get("href") for t in page.find_all("link")]
    assert sources and all(str(s).startswith("/static/") for s in sources)
    assert not [t for t in page.find_all("script") if t.string and t.string.strip()]
    for source in sources:
        assert client.get(str(source)).status_code == 200


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-request-id"]


def test_no_brand_assets_or_external_urls_in_vendored_css(client: TestClient) -> None:
    css = client.get("/static/govuk-frontend-5.14.0/govuk-frontend.min.css").text
    assert "@font-face" not in css
    assert "url(http" not in css and "url(//" not in css


def test_supplier_without_engagement_is_told_who_creates_one(app: FastAPI, keys) -> None:
    org = make_org(app.state.engine, "supplier")
    lead = make_person(app.state.engine, keys, "supplier_lead", org)
    contributor = make_person(app.state.engine, keys, "supplier_contributor", org)
    with sign_in(app, TestClient(app), contributor) as browser:
        page = BeautifulSoup(browser.get("/").text, "html.parser")
    text = page.select_one("#no-engagements").text
    assert "buyer's security advisors or by an administrator" in text and lead.email in text


def test_lead_sees_engagements_with_score_blockers_plan_and_next_step(app: FastAPI, keys) -> None:
    engine = app.state.engine
    supplier = make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, make_org(engine, "buyer"), supplier)
    with sign_in(app, TestClient(app), lead) as browser:
        browser.put(
            f"/api/engagements/{engagement.id}/responses/CPS-1.1",
            json={"status": "met", "owner_id": lead.user.id},
        )
        page = BeautifulSoup(browser.get("/").text, "html.parser")
    row = page.select_one(f'#home-engagements tr[data-engagement="{engagement.id}"]')
    assert row is not None and engagement.reference in row.text and "draft" in row.text
    assert "unanswered control" in row.select_one(".next-step").text
    assert "CPS-1.1" in page.select_one("#assigned-controls").text


def test_home_queries_are_a_fixed_number_per_engagement(app: FastAPI, keys) -> None:
    engine = app.state.engine
    supplier, buyer = make_org(engine, "supplier"), make_org(engine, "buyer")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    counts = []
    with sign_in(app, TestClient(app), lead) as browser:
        browser.get("/")
        for _ in range(3):
            make_engagement(engine, buyer, supplier)
            with counting(app) as statements:
                assert browser.get("/").status_code == 200
            counts.append(len(statements))
    assert counts[2] - counts[1] == counts[1] - counts[0]


def test_administrator_sees_counts_and_links(app: FastAPI, keys) -> None:
    admin = make_person(app.state.engine, keys, "administrator")
    with sign_in(app, TestClient(app), admin) as browser:
        page = BeautifulSoup(browser.get("/").text, "html.parser")
    links = {a["href"] for a in page.select("#admin-summary a")}
    assert {"/admin/organisations", "/admin/users", "/audit", "/engagements"} <= links
