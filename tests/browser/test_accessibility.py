"""Issue 15 item 10 and Done-when: every page of the lead's and the advisor's work, on the demo
data, has no serious or critical axe-core violation (WCAG 2.1 A and AA rules) and reflows at
320 CSS pixels with no horizontal scrolling of the page (WCAG 1.4.10); tables may scroll
inside their own region. Real Chromium, a real server, axe-core vendored for the tests only."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page
from sqlmodel import select

from app.db import session_scope
from app.domain.catalogue import Library
from app.http.auth import session_cookie_name, timeouts
from app.models import Submission, User, utcnow
from app.services import sessions
from app.services.demo import load_demo
from tests.browser.conftest import LiveServer

pytestmark = pytest.mark.xdist_group("chromium")

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
RULE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
REFLOW_WIDTH = 320


@pytest.fixture
def demo(live_app: LiveServer) -> dict[str, str]:
    """The demo installation (`attest demo`): its engagement and accounts."""
    app = live_app.app
    library: Library = app.state.library
    with session_scope(app.state.engine, write=True) as session:
        result = load_demo(
            session,
            app.state.keys,
            available_catalogues={c.id for c in library.catalogues},
            library=library,
            store=app.state.store,
        )
        session.commit()
        submission = session.exec(select(Submission)).first()
    return {
        "engagement": result.engagement_id,
        "submission": submission.id if submission else "",
    }


def signed_in(browser: Browser, live_app: LiveServer, email: str, **options: Any) -> BrowserContext:
    """A browser context holding a full session for the demo account `email`."""
    app = live_app.app
    with session_scope(app.state.engine, write=True) as session:
        user = session.exec(select(User).where(User.email == email)).one()
        token = sessions.start_session(
            session, user, mfa_passed=True, now=utcnow(), timeouts=timeouts(app.state.settings)
        )
        session.commit()
    context = browser.new_context(**options)
    context.add_cookies(
        [{"name": session_cookie_name(app.state.settings), "value": token, "url": live_app.url}]
    )
    return context


def lead_pages(demo: dict[str, str]) -> list[str]:
    e = demo["engagement"]
    return [
        "/",
        "/engagements",
        f"/engagements/{e}",
        f"/engagements/{e}/scoping",
        f"/engagements/{e}/catalogues/cps-security-policy",
        f"/engagements/{e}/controls/CPS-1.1",
        f"/engagements/{e}/plan",
        f"/engagements/{e}/variations",
        "/evidence",
        "/certificates",
        "/certificates/new",
        "/notifications",
        "/account",
        "/catalogues",
        "/help",
        "/help/glossary",
        "/accessibility",
        "/privacy",
        "/cookies",
    ]


def advisor_pages(demo: dict[str, str]) -> list[str]:
    pages = ["/", "/reviews", "/portfolio", f"/engagements/{demo['engagement']}", "/audit", "/verify"]
    if demo["submission"]:
        pages.append(f"/submissions/{demo['submission']}")
    return pages


def serious_violations(page: Page) -> list[str]:
    page.evaluate(AXE.read_text())
    result = page.evaluate(
        "tags => axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']})",
        RULE_TAGS,
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes'][:3]]}"
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than the window (0: it reflows)."""
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


@pytest.fixture
def contexts(browser: Browser) -> Iterator[list[BrowserContext]]:
    made: list[BrowserContext] = []
    yield made
    for context in made:
        context.close()


@pytest.mark.parametrize("who", ["lead@northwind.example", "advisor@cps.example"])
def test_every_page_passes_axe_and_reflows_at_320_px(
    browser: Browser, live_app: LiveServer, demo: dict[str, str], contexts: list[BrowserContext], who: str
) -> None:
    pages = lead_pages(demo) if who.startswith("lead") else advisor_pages(demo)
    wide = signed_in(browser, live_app, who, viewport={"width": 1280, "height": 900}, bypass_csp=True)
    narrow = signed_in(browser, live_app, who, viewport={"width": REFLOW_WIDTH, "height": 720})
    contexts.extend([wide, narrow])
    at_1280, at_320 = wide.new_page(), narrow.new_page()
    problems: dict[str, list[str]] = {}
    for path in pages:
        response = at_1280.goto(live_app.url + path)
        assert response is not None and response.status == 200, f"{path}: {response and response.status}"
        found = serious_violations(at_1280)
        at_320.goto(live_app.url + path)
        wider = overflow(at_320)
        if wider > 0:
            found.append(f"{wider} px wider than a {REFLOW_WIDTH} px window")
        if found:
            problems[path] = found
    assert problems == {}, "\n".join(f"{p}: {v}" for p, v in problems.items())


def test_pages_print_without_the_navigation(
    browser: Browser, live_app: LiveServer, demo: dict[str, str], contexts: list[BrowserContext]
) -> None:
    context = signed_in(browser, live_app, "lead@northwind.example")
    contexts.append(context)
    page = context.new_page()
    page.goto(f"{live_app.url}/engagements/{demo['engagement']}/plan")
    assert page.locator("header").first.is_visible() and page.locator("footer").first.is_visible()
    page.emulate_media(media="print")
    assert page.locator("header").first.is_hidden() and page.locator("footer").first.is_hidden()
    assert page.locator("main").is_visible()
