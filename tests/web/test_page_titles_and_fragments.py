"""Every page names itself in one short, plain <title> (what a tab, a bookmark and a screen reader
announce), and every htmx swap gets its block alone, never a page inside a page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.factories import (
    make_certificate,
    make_decided_submission,
    make_engagement,
    make_evidence,
    make_org,
    make_person,
    sign_in,
)

TITLE = re.compile(r"<title>(.*?)</title>", re.S)  # of the page: read in <head> (SVG charts have their own)
PLAIN = re.compile(r"^[^<>{}\n]{2,70}( \u2013 Attest)?$")  # the statement is a document of its own


def head(html: str) -> str:
    return html.split("</head>", 1)[0]


@dataclass
class Site:
    app: FastAPI
    lead: TestClient
    advisor: TestClient
    admin: TestClient
    anonymous: TestClient
    pages: dict[str, list[str]]


@pytest.fixture
def site(app: FastAPI, keys) -> Site:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    lead = make_person(engine, keys, "supplier_lead", supplier)
    engagement = make_engagement(engine, buyer, supplier)
    eid = engagement.id
    evidence = make_evidence(app, engagement, lead)
    cert = make_certificate(engine, supplier, "iso27001", issued_on=date.today().replace(day=1))
    submission = make_decided_submission(engine, engagement, approved=True)

    def client(person=None) -> TestClient:
        c = TestClient(app, base_url="http://127.0.0.1:8000")
        return sign_in(app, c, person) if person else c

    catalogue = "cps-security-policy"
    pages = {
        "lead": [
            "/",
            "/account",
            "/engagements",
            f"/engagements/{eid}",
            f"/engagements/{eid}/scoping",
            f"/engagements/{eid}/catalogues/{catalogue}",
            f"/engagements/{eid}/controls/CPS-1.1",
            f"/engagements/{eid}/plan",
            "/evidence",
            f"/evidence/{evidence}",
            "/certificates",
            "/certificates/new",
            f"/certificates/{cert}",
            f"/certificates/{cert}/edit",
            "/notifications",
            "/notifications/calendar",
            "/catalogues",
            f"/catalogues/{catalogue}",
            f"/catalogues/{catalogue}/controls/CPS-1.1",
        ],
        "advisor": [
            "/reviews",
            f"/submissions/{submission}",
            f"/submissions/{submission}/statement",
            "/portfolio",
        ],
        "admin": ["/admin/organisations", "/admin/users", "/audit", "/engagements/new"],
        "anonymous": [
            "/sign-in",
            "/verify",
            "/help",
            "/help/glossary",
            "/accessibility",
            "/privacy",
            "/cookies",
        ],
    }
    return Site(
        app,
        client(lead),
        client(make_person(engine, keys, "buyer_advisor", buyer)),
        client(make_person(engine, keys, "administrator")),
        client(),
        pages,
    )


def test_every_page_has_one_plain_title(site: Site) -> None:
    seen: dict[str, str] = {}
    for who, paths in site.pages.items():
        browser: TestClient = getattr(site, who)
        for path in paths:
            page = browser.get(path)
            assert page.status_code == 200, (who, path, page.status_code)
            assert page.headers["content-type"].startswith("text/html"), path
            titles = TITLE.findall(head(page.text))
            assert len(titles) == 1, (path, titles)
            title = " ".join(titles[0].split())
            assert PLAIN.match(title), (path, title)
            seen[path] = title
    # the pages are told apart by their titles, not all called "Attest"
    assert len(set(seen.values())) >= len(seen) - 4, seen


def test_the_review_queue_title_is_the_heading_not_the_closure_days_section(site: Site) -> None:
    page = site.advisor.get("/reviews")
    (title,) = TITLE.findall(head(page.text))
    assert " ".join(title.split()) == "Plans awaiting your decision \u2013 Attest"
    assert "closure" not in title.lower()


HTMX = {"HX-Request": "true"}


def fragment_requests(site: Site) -> list[tuple[TestClient, str, dict[str, str], str]]:
    eid_path = next(p for p in site.pages["lead"] if re.fullmatch(r"/engagements/[0-9a-f]+", p))
    work = f"{eid_path}/catalogues/cps-security-policy"
    return [
        (site.lead, "/catalogues?q=password", HTMX, 'id="results"'),
        (site.lead, "/catalogues/cps-security-policy?q=media", HTMX, "CPS-"),
        (site.lead, eid_path, HTMX, "eadiness"),
        (site.lead, work, {**HTMX, "HX-Target": "work-rows"}, "CPS-1.1"),
    ]


def test_htmx_requests_get_their_block_alone(site: Site) -> None:
    for browser, path, headers, marker in fragment_requests(site):
        block = browser.get(path, headers=headers)
        assert block.status_code == 200, path
        assert "<html" not in block.text and "<title" not in block.text, path
        assert marker in block.text, (path, block.text[:300])
        assert "HX-Request" in block.headers.get("vary", ""), path
        whole = browser.get(path)
        assert "<html" in whole.text and len(TITLE.findall(head(whole.text))) == 1, path
        assert "HX-Request" in whole.headers.get("vary", ""), path
        # a history restore wants the whole page back, even from htmx
        restored = browser.get(path, headers={**headers, "HX-History-Restore-Request": "true"})
        assert "<html" in restored.text, path


def test_a_work_view_request_for_another_target_gets_the_page(site: Site) -> None:
    _, work, _, _ = fragment_requests(site)[3]
    other = site.lead.get(work, headers={**HTMX, "HX-Target": "main"})
    assert other.status_code == 200 and "<html" in other.text  # only #work-rows gets the rows alone
