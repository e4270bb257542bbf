"""The work view built for hundreds of controls (issue 15 items 1 and 9, issue 18 item 2 in part).

A row's status is saved only by its Save button (never on change), "not applicable" is offered
with its reason inline, and a save answers with the row, both scores and the live region's words
in one fragment. Refusals (422, 409, 503) come back as the row with a GOV.UK error message, what
was chosen and a "Try again" button; nothing is stored. Without JavaScript the same form posts
and returns to the row in the same filtered list. Search, bulk changes, previous/next control,
mapped links to the engagement's own control pages, bounded history and success banners."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select

from app.db import session_scope
from app.models import AuditEvent, ControlResponse, EngagementCatalogue, Organisation, ResponseChange
from tests.conftest import built_app, make_settings
from tests.factories import Person, csrf_token, make_engagement, make_org, make_person, sign_in
from tests.web.test_database_busy import write_lock_held

HTMX = {"HX-Request": "true"}
CATALOGUE = "cps-security-policy"


@dataclass
class World:
    app: FastAPI
    client: TestClient
    engagement_id: str
    lead: Person
    buyer: Organisation

    @property
    def work(self) -> str:
        return f"/engagements/{self.engagement_id}/catalogues/{CATALOGUE}"

    def save_url(self, control_id: str) -> str:
        return f"/engagements/{self.engagement_id}/controls/{control_id}/response"

    def quick(self, control_id: str, htmx: bool = True, **fields: str) -> httpx.Response:
        data = {"csrf_token": csrf_token(self.app, self.client), "quick": "1", "version": "0", **fields}
        return self.client.post(
            self.save_url(control_id), data=data, headers=HTMX if htmx else {}, follow_redirects=False
        )

    def saves(self) -> int:
        with session_scope(self.app.state.engine) as session:
            query = select(func.count()).where(
                AuditEvent.action == "response_saved", AuditEvent.engagement_id == self.engagement_id
            )
            return int(session.exec(query).one())

    def answers(self) -> dict[str, ControlResponse]:
        with session_scope(self.app.state.engine) as session:
            rows = session.exec(
                select(ControlResponse).where(ControlResponse.engagement_id == self.engagement_id)
            )
            return {row.control_id: row for row in rows}


def start(app: FastAPI, client: TestClient) -> World:
    engine, keys = app.state.engine, app.state.keys
    supplier, buyer = make_org(engine, "supplier"), make_org(engine, "buyer")
    engagement = make_engagement(engine, buyer, supplier)
    lead = make_person(engine, keys, "supplier_lead", supplier)
    sign_in(app, client, lead)
    return World(app, client, engagement.id, lead, buyer)


@pytest.fixture
def world(app: FastAPI, client: TestClient) -> World:
    return start(app, client)


def row_of(html: str, control_id: str) -> str:
    found = re.search(
        rf'<tr class="govuk-table__row[^"]*" id="row-{re.escape(control_id)}">.*?</tr>', html, re.S
    )
    assert found, f"no row for {control_id}"
    return found.group(0)


def state_of(row: str) -> str:
    found = re.search(r'attest-row__state"><strong class="govuk-tag[^"]*">([^<]+)</strong>', row)
    assert found
    return found.group(1)


def test_a_row_offers_every_status_and_saves_only_with_its_button(world: World) -> None:
    page = world.client.get(world.work).text
    # The light page sends one form for every row (workview.js fills it in); ?forms=1 is the page
    # with each row's form drawn by the server, as browsers without JavaScript are offered it.
    assert page.count('<template id="quick-template">') == 1
    row = row_of(world.client.get(world.work, params={"forms": "1"}).text, "CPS-1.2")
    assert 'hx-trigger="change"' not in row  # browsing the options sends nothing
    for value in ("met", "partially_met", "not_met", "not_applicable"):
        assert f'<option value="{value}"' in row
    assert '<label class="govuk-label govuk-body-s govuk-!-margin-bottom-1" for="why-CPS-1.2">' in row
    assert '>Save<span class="govuk-visually-hidden"> CPS-1.2</span></button>' in row
    assert 'id="work-live" role="status" aria-live="polite"' in page
    assert world.saves() == 0


def test_a_save_answers_with_the_row_both_scores_and_the_live_words(world: World) -> None:
    before = world.client.get(world.work).text
    assert 'id="catalogue-score">0.0%' in before
    response = world.quick("CPS-1.2", status="met")
    assert response.status_code == 200
    body = response.text
    row = row_of(body, "CPS-1.2")
    assert state_of(row) == "met"
    assert '<option value="met" selected>' in row
    assert 'name="version" value="1"' in row  # the next save from this row is based on version 1
    score = re.search(r'<hx-partial hx-target="#work-score" hx-swap="outerHTML">.*?</hx-partial>', body, re.S)
    assert score and 'id="catalogue-score">0.0%' not in score.group(0)
    live = re.search(r'<hx-partial hx-target="#work-live" hx-swap="innerHTML">(.*?)</hx-partial>', body, re.S)
    assert live and live.group(1).strip() == "Saved CPS-1.2: met"
    assert world.saves() == 1
    page = world.client.get(world.work).text
    assert state_of(row_of(page, "CPS-1.2")) == "met"
    assert score.group(0).split(">", 1)[1].split("</hx-partial>")[0].strip() in page


def test_not_applicable_with_its_reason_from_the_row(world: World) -> None:
    response = world.quick("CPS-1.3", status="not_applicable", justification="No buyer data here.")
    assert response.status_code == 200
    assert "Saved CPS-1.3: not applicable" in response.text
    assert world.answers()["CPS-1.3"].justification == "No buyer data here."


def test_not_applicable_without_a_reason_is_the_row_with_its_error_and_nothing_saved(world: World) -> None:
    response = world.quick("CPS-1.3", status="not_applicable", justification="  ")
    assert response.status_code == 422
    assert response.headers["X-Attest-Row"] == "CPS-1.3"
    row = row_of(response.text, "CPS-1.3")
    assert '<span class="govuk-visually-hidden">Error:</span> Say why this control does not apply.' in row
    assert 'aria-describedby="quick-CPS-1.3-error"' in row
    assert '<option value="not_applicable" selected>' in row  # the choice is kept
    assert ">Try again<" in row
    assert "Could not save CPS-1.3: Say why this control does not apply." in response.text
    assert "work-score" not in response.text
    assert world.answers() == {} and world.saves() == 0


def test_an_unknown_status_is_refused_in_the_row(world: World) -> None:
    response = world.quick("CPS-1.3", status="mostly")
    assert response.status_code == 422
    assert "Choose met, partially met, not met or not applicable." in response.text
    assert world.answers() == {}


def test_a_stale_row_is_409_with_the_stored_version_so_try_again_saves(world: World) -> None:
    other = world.client.put(
        f"/api/engagements/{world.engagement_id}/responses/CPS-1.4", json={"status": "not_met"}
    )
    assert other.status_code == 200
    response = world.quick("CPS-1.4", status="met", version="0")
    assert response.status_code == 409
    row = row_of(response.text, "CPS-1.4")
    assert "Someone else saved CPS-1.4 since you opened this page" in row
    assert '<option value="met" selected>' in row and 'name="version" value="1"' in row
    assert world.answers()["CPS-1.4"].status == "not_met"
    retry = world.quick("CPS-1.4", status="met", version="1")
    assert retry.status_code == 200
    assert world.answers()["CPS-1.4"].status == "met" and world.answers()["CPS-1.4"].version == 2


def test_a_row_save_keeps_the_rest_of_the_answer(world: World) -> None:
    put = world.client.put(
        f"/api/engagements/{world.engagement_id}/responses/CPS-1.5",
        json={
            "status": "not_met",
            "statement": "Our policy.",
            "planned_change": "Buy a SIEM",
            "target_date": "2027-06-30",
        },
    )
    assert put.status_code == 200
    assert world.quick("CPS-1.5", status="partially_met", version="1").status_code == 200
    stored = world.answers()["CPS-1.5"]
    assert (stored.status, stored.statement, stored.planned_change) == (
        "partially_met",
        "Our policy.",
        "Buy a SIEM",
    )
    assert stored.target_on is not None and stored.target_on.isoformat() == "2027-06-30"


def test_without_javascript_a_save_returns_to_the_row_in_the_same_filtered_list(world: World) -> None:
    response = world.quick("CPS-1.2", htmx=False, status="met", back="status=unanswered&q=risk")
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.endswith(f"{world.work}?status=unanswered&q=risk&saved=CPS-1.2#row-CPS-1.2")
    page = world.client.get(f"{world.work}?q=risk&saved=CPS-1.2").text
    assert re.search(r'id="work-live" role="status" aria-live="polite">Saved CPS-1.2: met</p>', page)
    assert "attest-row__saved" in row_of(page, "CPS-1.2")


def test_without_javascript_a_refusal_is_the_whole_list_with_the_row_error(world: World) -> None:
    response = world.quick("CPS-1.3", htmx=False, status="not_applicable", justification="")
    assert response.status_code == 422
    page = response.text
    assert "<h1" in page and "Say why this control does not apply." in row_of(page, "CPS-1.3")
    assert world.answers() == {}


def test_the_back_query_only_carries_known_filters(world: World) -> None:
    response = world.quick("CPS-1.2", htmx=False, status="met", back="next=https://evil.example&status=met")
    assert response.headers["location"].endswith(f"{world.work}?status=met&saved=CPS-1.2#row-CPS-1.2")


def test_search_finds_controls_by_id_title_requirement_and_statement_words(world: World) -> None:
    everything = world.client.get(world.work).text
    total = len(re.findall(r'id="row-', everything))
    assert total == 41
    by_id = world.client.get(world.work, params={"q": "cps-1.2"}).text
    assert re.findall(r'id="row-([^"]+)"', by_id) == ["CPS-1.2"]
    words = world.client.get(world.work, params={"q": "risk entrusted"}).text
    assert "CPS-1.2" in re.findall(r'id="row-([^"]+)"', words)
    assert "matching “risk entrusted”" in words
    world.client.put(
        f"/api/engagements/{world.engagement_id}/responses/CPS-1.6",
        json={"status": "met", "statement": "Handled by Zephyrcorp"},
    )
    assert re.findall(r'id="row-([^"]+)"', world.client.get(world.work, params={"q": "zephyrcorp"}).text) == [
        "CPS-1.6"
    ]
    none = world.client.get(world.work, params={"q": "nothing-matches-this"}).text
    assert "No controls match these filters." in none
    fragment = world.client.get(
        world.work, params={"q": "cps-1.2"}, headers={**HTMX, "HX-Target": "work-rows"}
    )
    assert fragment.text.lstrip().startswith('<table class="govuk-table attest-work-table" id="work-rows">')


def bulk(world: World, selected: list[str], **fields: str) -> httpx.Response:
    data: dict[str, object] = {
        "csrf_token": csrf_token(world.app, world.client),
        "selected": selected,
        **fields,
    }
    return world.client.post(f"{world.work}/bulk", data=data, follow_redirects=False)


def test_bulk_from_the_page_saves_every_ticked_control_with_history_and_audit(world: World) -> None:
    ticked = ["CPS-1.1", "CPS-1.2", "CPS-1.3"]
    response = bulk(
        world,
        ticked,
        bulk_status="not_met",
        bulk_owner=world.lead.user.id,
        bulk_target_date="2027-01-31",
        back="section=",
    )
    assert response.status_code == 303
    assert response.headers["location"].endswith(f"{world.work}?bulk=3")
    stored = world.answers()
    assert {c: (stored[c].status, stored[c].owner_id) for c in ticked} == {
        c: ("not_met", world.lead.user.id) for c in ticked
    }
    assert world.saves() == 3
    with session_scope(world.app.state.engine) as session:
        assert session.exec(select(func.count()).select_from(ResponseChange)).one() == 3
    page = world.client.get(response.headers["location"]).text
    assert "Saved 3 controls." in page and "govuk-notification-banner--success" in page


def test_bulk_refusal_saves_nothing_and_keeps_the_ticks_and_the_typed_values(world: World) -> None:
    world.client.put(f"/api/engagements/{world.engagement_id}/responses/CPS-1.1", json={"status": "met"})
    response = bulk(world, ["CPS-1.1", "CPS-1.2"], bulk_target_date="2027-01-31")
    assert response.status_code == 422
    page = response.text
    assert "<title>Error: " in page
    assert (
        'href="#pick-CPS-1.1">CPS-1.1 is met: a target date is kept only for not met or partially met' in page
    )
    assert 'href="#pick-CPS-1.2">CPS-1.2 has no answer yet: choose a status as well.' in page
    assert 'id="bulk-target" name="bulk_target_date" value="2027-01-31"' in page
    assert (
        'id="pick-CPS-1.1" form="bulk-form" checked' in page
        and 'id="pick-CPS-1.2" form="bulk-form" checked' in page
    )
    assert set(world.answers()) == {"CPS-1.1"} and world.answers()["CPS-1.1"].target_on is None
    assert world.saves() == 1


def test_bulk_needs_a_control_and_a_change_and_stays_in_the_catalogue(world: World) -> None:
    assert "Choose at least one control." in bulk(world, [], bulk_status="met").text
    assert "Choose a status, an owner or a target date" in bulk(world, ["CPS-1.1"]).text
    outside = bulk(world, ["S24-A1-1.1"], bulk_status="met")
    assert outside.status_code == 422 and "S24-A1-1.1 is not a control of this catalogue." in outside.text
    assert world.answers() == {} and world.saves() == 0


def test_a_buyer_sees_no_answer_controls_and_cannot_bulk(app: FastAPI, world: World) -> None:
    advisor = make_person(app.state.engine, app.state.keys, "buyer_advisor", world.buyer)
    other = sign_in(app, TestClient(app, base_url="http://127.0.0.1:8000"), advisor)
    page = other.get(world.work)
    assert page.status_code == 200
    assert "bulk-form" not in page.text and "attest-quick" not in page.text
    data = {"csrf_token": csrf_token(app, other), "selected": "CPS-1.1", "bulk_status": "met"}
    refused = other.post(f"{world.work}/bulk", data=data, follow_redirects=False)
    assert refused.status_code == 404  # the answering loader hides the engagement from non-suppliers
    assert world.answers() == {}


def control(world: World, control_id: str, query: str = "") -> str:
    response = world.client.get(f"/engagements/{world.engagement_id}/controls/{control_id}{query}")
    assert response.status_code == 200
    return response.text


def test_previous_and_next_follow_the_work_views_filter_order(world: World) -> None:
    plain = control(world, "CPS-1.2")
    assert re.search(r'href="[^"]*/controls/CPS-1.1" rel="prev"', plain)
    assert re.search(r'href="[^"]*/controls/CPS-1.3" rel="next"', plain)
    assert "Control 2 of 41" in plain
    for c in ("CPS-1.2", "CPS-1.3"):
        world.client.put(f"/api/engagements/{world.engagement_id}/responses/{c}", json={"status": "met"})
    filtered = control(world, "CPS-1.3", "?status=met")
    assert re.search(r'href="[^"]*/controls/CPS-1.2\?status=met" rel="prev"', filtered)
    assert 'rel="next"' not in filtered
    assert "Control 2 of 2 in your filtered list" in filtered
    # The work view's links carry the filters, and the back link returns to the row.
    work = world.client.get(world.work, params={"status": "met"}).text
    assert f'/engagements/{world.engagement_id}/controls/CPS-1.3?status=met"' in work
    assert f'{world.work}?status=met#row-CPS-1.3"' in filtered


def test_mapped_controls_link_to_the_engagements_own_control_page_when_in_scope(
    app: FastAPI, world: World
) -> None:
    before = control(world, "CPS-5.7")
    assert 'href="/catalogues/schedule-2-4/controls/S24-A1-4.6a"' in before  # not in the engagement yet
    with session_scope(app.state.engine, write=True) as session:
        session.add(EngagementCatalogue(engagement_id=world.engagement_id, catalogue_id="schedule-2-4"))
        session.commit()
    after = control(world, "CPS-5.7")
    mapped = after.split('id="mapped"')[1].split("</ul>")[0]
    assert f'href="/engagements/{world.engagement_id}/controls/S24-A1-4.6a"' in mapped
    assert "/catalogues/call-off-schedule-7/" in mapped  # not in this engagement: the reference page


def test_the_history_lists_the_latest_20_with_show_all(world: World) -> None:
    api = f"/api/engagements/{world.engagement_id}/responses/CPS-1.1"
    for n in range(23):
        saved = world.client.put(api, json={"status": "met" if n % 2 else "not_met"})
        assert saved.status_code == 200
    page = control(world, "CPS-1.1")
    history = page.split('id="history"')[1].split("</ol>")[0]
    assert history.count("<li>") == 20
    assert "Show all changes" in page and "history=all" in page
    everything = control(world, "CPS-1.1", "?history=all").split('id="history"')[1].split("</ol>")[0]
    assert everything.count("<li>") == 23
    assert "Show all changes" not in control(world, "CPS-1.1", "?history=all")


def test_a_saved_answer_and_apply_to_mapped_show_a_success_banner(app: FastAPI, world: World) -> None:
    token = csrf_token(app, world.client)
    saved = world.client.post(
        world.save_url("CPS-5.7"),
        data={"csrf_token": token, "status": "met", "version": "0", "back": "status=met"},
        follow_redirects=False,
    )
    assert saved.status_code == 303
    assert saved.headers["location"].endswith("/controls/CPS-5.7?status=met&saved=answer#saved-banner")
    page = world.client.get(saved.headers["location"]).text
    assert 'id="saved-banner"' in page and "Your answer was saved." in page and "autofocus" in page
    with session_scope(app.state.engine, write=True) as session:
        session.add(EngagementCatalogue(engagement_id=world.engagement_id, catalogue_id="schedule-2-4"))
        session.commit()
    applied = world.client.post(
        f"/engagements/{world.engagement_id}/controls/CPS-5.7/apply-mapped",
        data={"csrf_token": token, "targets": ["S24-A1-4.6a"]},
        follow_redirects=False,
    )
    assert applied.status_code == 303 and "saved=applied" in applied.headers["location"]
    assert "applied to the chosen mapped controls" in world.client.get(applied.headers["location"]).text
    assert "Your answer was saved." not in control(world, "CPS-5.7")  # no banner on a plain visit


# A row save that waits on another writer's lock (another process on SQLite, another connection
# on PostgreSQL) longer than the busy timeout: 503 with "try again", nothing saved, retry saves.
@pytest.fixture
def busy_app(tmp_path: Path, database_url: str) -> Iterator[FastAPI]:
    application = built_app(make_settings(tmp_path, database_url, database_busy_seconds=0.3))
    yield application
    application.state.engine.dispose()


def test_a_busy_database_answers_503_try_again_and_saves_nothing(
    busy_app: FastAPI, database_url: str
) -> None:
    world = start(busy_app, TestClient(busy_app, base_url="http://127.0.0.1:8000"))
    with write_lock_held(database_url):
        response = world.quick("CPS-1.2", status="met")
    assert response.status_code == 503
    assert "try again" in response.text.lower()
    assert world.answers() == {} and world.saves() == 0
    assert world.quick("CPS-1.2", status="met").status_code == 200
    assert world.saves() == 1
