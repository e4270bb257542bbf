"""Help pages: open without signing in, linked from every page's footer, and the cookies page
names exactly the cookies the app sets."""

from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, make_person

HELP = ["/help", "/help/glossary", "/accessibility", "/privacy", "/cookies"]


def test_each_help_page_opens_without_signing_in(anonymous: TestClient) -> None:
    for path in HELP:
        page = anonymous.get(path)
        assert page.status_code == 200, path
        assert "<h1" in page.text


def test_glossary_defines_each_term_with_its_clause(anonymous: TestClient) -> None:
    page = BeautifulSoup(anonymous.get("/help/glossary").text, "html.parser")
    rows = page.select("#glossary .govuk-summary-list__row")
    terms = " ".join(r.dt.text for r in rows)
    for word in (
        "ISAS",
        "SMP",
        "SPOC",
        "Gate",
        "Blocker",
        "Working Day",
        "Required Changes Register",
        "ITHC",
        "CHECK",
        "CE+",
        "UKAS",
        "Contract Year",
        "Agreed variation",
        "Approval target",
    ):
        assert word in terms, word
    assert all("Source:" in r.text and ("Schedule" in r.text or "CPS" in r.text) for r in rows)


def test_footer_of_every_page_links_the_help_pages(anonymous: TestClient) -> None:
    for path in ["/", "/sign-in", *HELP]:
        footer = BeautifulSoup(anonymous.get(path).text, "html.parser").select_one("#footer-links")
        assert footer is not None, path
        assert {a["href"] for a in footer.select("a")} == set(HELP), path


def test_cookies_page_lists_exactly_the_cookies_the_app_sets(app: FastAPI, keys) -> None:
    person = make_person(app.state.engine, keys, "supplier_lead")
    with TestClient(app) as browser:
        browser.get("/sign-in")
        from tests.factories import csrf_token

        token = csrf_token(app, browser)
        step = browser.post(
            "/sign-in",
            data={"csrf_token": token, "email": person.email, "password": PASSWORD},
            follow_redirects=True,
        )
        assert step.status_code == 200
        verified = browser.post(
            "/sign-in/verify", data={"csrf_token": token, "code": person.code()}, follow_redirects=True
        )
        assert verified.status_code == 200
        set_by_app = set(browser.cookies.keys())
        listed = {
            c.text for c in BeautifulSoup(browser.get("/cookies").text, "html.parser").select(".cookie-name")
        }
    assert len(set_by_app) == 2 and listed == set_by_app
