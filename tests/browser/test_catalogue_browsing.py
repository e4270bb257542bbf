"""Tried as a new user would: find "removable media" and land on the controls that cover it."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import LiveServer


def test_search_as_you_type_finds_removable_media_controls(page: Page, live_app: LiveServer) -> None:
    live_app.sign_in(page, live_app.person())
    page.goto(live_app.url + "/")
    page.get_by_role("link", name="Catalogues").first.click()
    page.get_by_label("Search all catalogues").press_sequentially("removable media", delay=20)
    expect(page.locator("#result-count")).to_contain_text("match “removable media”")
    results = page.locator("#results a")
    ids = results.all_inner_texts()
    assert any(i.startswith("CPS-") for i in ids)
    assert any(i.startswith("S24-") for i in ids)
    assert "ISO-A.7.10" in ids
    assert "q=removable" in page.url  # the search is in the address, so it can be shared

    page.get_by_role("link", name="ISO-A.7.10", exact=True).click()
    expect(page.locator("h1")).to_contain_text("ISO-A.7.10")
    mapped = page.locator("#mappings a").all_inner_texts()
    assert any(m.startswith("CPS-") for m in mapped)
    assert any(m.startswith("S24-") for m in mapped)

    page.locator("#mappings a", has_text="CPS-5.6").click()
    expect(page.locator("#control-id")).to_have_text("CPS-5.6")
    expect(page.locator("#source")).to_contain_text("000_e15c6a3b40bf7abb.txt")


def test_filter_within_a_catalogue_without_reload(page: Page, live_app: LiveServer) -> None:
    live_app.sign_in(page, live_app.person("buyer_advisor"))
    page.goto(live_app.url + "/catalogues/iso27001-2022")
    expect(page.locator("#shown-count")).to_contain_text("123 of 123")
    page.get_by_label("Filter controls").fill("patching")
    expect(page.locator("#shown-count")).not_to_contain_text("123 of 123")
    expect(page.locator("#control-ISO-A\\.8\\.8")).to_be_visible()


def test_works_without_javascript(browser_no_js: Page, live_app: LiveServer) -> None:
    live_app.sign_in(browser_no_js, live_app.person())
    browser_no_js.goto(live_app.url + "/catalogues?q=removable+media")
    expect(browser_no_js.locator("#result-count")).to_contain_text("removable media")
