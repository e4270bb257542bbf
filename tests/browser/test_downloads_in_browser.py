"""The Downloads page in a real browser: an export asked for in the background lands on the list
as queued, the list updates itself to ready while the page stays open (no reload), the link
downloads the file, and the page has no serious axe-core violation and reflows at 320 px."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page

from app.adapters.jobs import make_huey
from app.jobs import Jobs
from tests.browser.conftest import LiveServer
from tests.browser.test_accessibility import REFLOW_WIDTH, overflow, serious_violations
from tests.factories import make_engagement, make_org
from tests.jobs.test_queue import consumer

pytestmark = pytest.mark.xdist_group("chromium")


def test_a_background_export_becomes_ready_on_the_open_page(page: Page, live_app: LiveServer) -> None:
    app = live_app.app
    lead = live_app.person("supplier_lead")
    engagement = make_engagement(app.state.engine, make_org(app.state.engine, "buyer"), lead.organisation)
    live_app.sign_in(page, lead)
    page.goto(f"{live_app.url}/engagements/{engagement.id}/export.csv?background=1")
    assert page.url == f"{live_app.url}/downloads"
    row = page.locator("#downloads-table tbody tr")
    assert row.count() == 1 and row.first.get_attribute("data-state") == "queued"
    assert "1 file is being made" in page.locator("#downloads-live").inner_text()
    assert serious_violations(page) == []

    settings = app.state.settings
    jobs = Jobs(make_huey(settings), settings, engine=app.state.engine, store=app.state.store)
    with consumer(jobs.huey):
        page.wait_for_selector('#downloads-table tr[data-state="ready"]', timeout=15_000)
    assert "0 ready" not in page.locator("#downloads-live").inner_text()
    assert "1 ready to download." in page.locator("#downloads-live").inner_text()
    with page.expect_download() as info:
        page.locator("#downloads-table a[download]").click()
    assert info.value.suggested_filename.endswith(".csv")
    assert serious_violations(page) == []
    page.set_viewport_size({"width": REFLOW_WIDTH, "height": 720})
    page.reload()
    assert overflow(page) == 0
