"""The portfolio at a glance (issue 16 item 7) and the bounded lists (issue 18 item 2): every
engagement with readiness, its trend, plan state, next deadline, blockers and certificates,
sorted and paginated on the server; the engagements page paginated and sortable; the
engagements API a cursor at a time."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.test_statement_counts import grow
from tests.factories import make_engagement, make_org, make_person, sign_in


def _rows(html: str, table: str) -> list[str]:
    body = html.split(f'id="{table}"', 1)[1].split("</tbody>", 1)[0]
    return re.findall(r'<tr class="govuk-table__row" data-engagement="([^"]+)"', body)


def _references(html: str) -> list[str]:
    return re.findall(r">(GROWN \d+)</a>", html.split('id="portfolio-glance"', 1)[1].split("</tbody>", 1)[0])


def test_each_engagement_at_a_glance_agrees_with_its_own_readiness(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 6, advisor.user.id)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        page = client.get("/portfolio")
        assert page.status_code == 200
        ids = _rows(page.text, "portfolio-glance")
        assert len(ids) == 6
        for engagement_id in ids:
            readiness = client.get(f"/api/engagements/{engagement_id}/readiness").json()
            row = page.text.split(f'data-engagement="{engagement_id}"', 1)[1].split("</tr>", 1)[0]
            assert f'readiness">{readiness["score"]}%<' in row
            assert f'blockers">{len(readiness["blockers"])}<' in row
            # the trend: twelve points, the last one today's score, named for screen readers
            points = re.search(r'points="([^"]+)"', row)
            assert points is not None and len(points.group(1).split()) == 12
            assert f"then {readiness['score']}% today</title>" in row
        assert "submitted" in page.text  # every third engagement's plan awaits a decision
        assert "None required" not in page.text  # each contract asks for certificates
        assert 'aria-sort="ascending"' in page.text  # sorted by supplier by default


def test_the_trend_replays_the_history_of_answers(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 1, advisor.user.id)  # answered 300 days ago as not met, changed later
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        row = client.get("/portfolio").text.split('id="portfolio-glance"', 1)[1]
        title = re.search(r"over the last 12 months: ([\d.]+)% then ([\d.]+)% today", row)
        assert title is not None
        first, last = float(title.group(1)), float(title.group(2))
        assert first == 0.0  # a year ago nothing was answered
        assert last > first


def test_the_portfolio_pages_fifty_at_a_time_and_sorts_on_the_server(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 60, advisor.user.id)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        first = client.get("/portfolio?sort=engagement")
        assert len(_rows(first.text, "portfolio-glance")) == 50
        assert "Engagements 1 to 50 of 60" in first.text
        assert 'class="govuk-pagination"' in first.text and 'aria-current="page">1<' in first.text
        second = client.get("/portfolio?sort=engagement&page=2")
        assert len(_rows(second.text, "portfolio-glance")) == 10
        assert "Engagements 51 to 60 of 60" in second.text
        assert "(page 2 of 2)" in second.text  # the title says which page
        references = _references(first.text) + _references(second.text)
        assert references == sorted(references) and len(set(references)) == 60
        beyond = client.get("/portfolio?sort=engagement&page=9")
        assert "Engagements 51 to 60 of 60" in beyond.text  # past the end: the last page
        backwards = _references(client.get("/portfolio?sort=engagement&order=desc").text)
        assert backwards == sorted(references, reverse=True)[:50]
        by_score = client.get("/portfolio?sort=readiness&order=desc").text
        scores = [float(s) for s in re.findall(r'readiness">([\d.]+)%<', by_score)]
        assert len(scores) == 50 and scores == sorted(scores, reverse=True)
        assert (
            'aria-sort="descending"><a class="govuk-link" href="/portfolio?sort=readiness&amp;order=asc"'
            in by_score
        )
        bad = client.get("/portfolio?sort=colour")
        assert bad.status_code == 422
        assert "Sort by one of supplier, engagement, readiness" in bad.text
        assert client.get("/portfolio?order=sideways").status_code == 422
        assert client.get("/portfolio?page=0").status_code == 422


def test_the_engagements_page_is_paginated_and_sortable(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 55, advisor.user.id)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        first = client.get("/engagements").text
        refs = re.findall(r">(GROWN \d+)</a>", first)
        assert len(refs) == 50 and refs == sorted(refs)
        assert "1 to 50 of 55" in first
        second = client.get("/engagements?page=2").text
        assert len(re.findall(r">(GROWN \d+)</a>", second)) == 5
        by_supplier = client.get("/engagements?sort=supplier&order=desc").text
        assert 'aria-sort="descending"' in by_supplier
        bad = client.get("/engagements?sort=colour")
        assert bad.status_code == 422
        assert "Sort by one of reference, title, buyer, supplier, effective" in bad.text


def test_the_engagements_api_walks_by_cursor(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 17, advisor.user.id)
    elsewhere = make_engagement(engine, make_org(engine, "buyer"), supplier)  # another buyer's
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        seen: list[str] = []
        response = client.get("/api/engagements?limit=7")
        pages = 0
        while True:
            assert response.status_code == 200
            pages += 1
            seen += [e["reference"] for e in response.json()]
            cursor = response.headers.get("X-Next-Cursor")
            if cursor is None:
                assert "Link" not in response.headers
                break
            assert response.headers["Link"].endswith('; rel="next"')
            response = client.get(f"/api/engagements?limit=7&cursor={cursor}")
        assert pages == 3 and len(seen) == 17 and seen == sorted(seen)
        assert elsewhere.reference not in seen
        for cursor in ("nonsense", elsewhere.id):  # unknown, or not the caller's
            bad = client.get(f"/api/engagements?cursor={cursor}")
            assert bad.status_code == 422
            assert "The cursor is not valid for this list" in bad.text
        assert client.get("/api/engagements?limit=0").status_code == 422
        assert client.get("/api/engagements?limit=501").status_code == 422


def test_the_home_page_lists_the_first_fifty_engagements_and_counts_the_rest(app: FastAPI, keys) -> None:
    engine = app.state.engine
    buyer, supplier = make_org(engine, "buyer"), make_org(engine, "supplier")
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    grow(engine, buyer, supplier, 53, advisor.user.id)
    with TestClient(app) as client:
        sign_in(app, client, advisor)
        page = client.get("/").text
        assert len(_rows(page, "home-engagements")) == 50
        assert "Showing the first 50 of your 53 engagements, by reference." in page
        assert "awaiting a decision" in page  # the review queue, from the same set-based deadlines
