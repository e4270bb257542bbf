"""Browser attack crawl (issue 19 item 5): XSS and template-injection payloads are planted in
every text field the services accept (organisation, user and engagement names, answers, risks,
register entries, the incident process and security roles, evidence titles and file names,
certificates and sub-contractors, the submission's officer, the advisor's comments and reasons),
then real Chromium crawls a real server as a supplier lead and as a buyer advisor: every page
reachable by links, and every htmx fragment those pages name, opened as a document.

Nothing may execute (no dialog, no element the payloads would create), no Content-Security-Policy
violation may be reported, no console error or page error may occur, and no template expression
may have been evaluated (its result never appears; the typed text does).
"""

from __future__ import annotations

import itertools
import json
import os
import re
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urljoin, urlsplit

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import Browser, BrowserContext, Page
from playwright.sync_api import Error as PlaywrightError
from sqlmodel import select

from app.db import session_scope
from app.http.auth import session_cookie_name, timeouts
from app.models import User, utcnow
from app.services import sessions
from tests.api.test_approval_story import fill_plan
from tests.browser.conftest import LiveServer
from tests.factories import Person, make_org, make_person, sign_in

pytestmark = pytest.mark.xdist_group("chromium")

# Markup payloads carry a marker (an `x-pwn` attribute or a <pwn-x> element): if any is ever
# parsed as markup, the marker is in the DOM. Script payloads call alert(), which opens a dialog.
MARKUP = [
    '<script>alert("s1")</script>',
    "<script src=//127.0.0.1:9/x.js></script>",
    '<img src=x onerror=alert("i1") x-pwn>',
    '<img src="x" onerror="alert(`i2`)" x-pwn=1>',
    "<svg onload=alert(3) x-pwn></svg>",
    "<svg><script>alert(4)</script><pwn-x></pwn-x></svg>",
    '<svg><a xlink:href="javascript:alert(5)" x-pwn><text>x</text></a></svg>',
    "<math><mtext><table><mglyph><style><img src=x onerror=alert(6) x-pwn>",
    "<iframe src=javascript:alert(7) x-pwn></iframe>",
    '<iframe srcdoc="<script>alert(8)</script>" x-pwn></iframe>',
    "<body onload=alert(9) x-pwn>",
    "<details open ontoggle=alert(10) x-pwn>",
    "<input autofocus onfocus=alert(11) x-pwn>",
    '<a href="javascript:alert(12)" x-pwn>link</a>',
    '<a href="  JaVaScRiPt:alert(13)" x-pwn>link</a>',
    '<a href="data:text/html,<script>alert(14)</script>" x-pwn>x</a>',
    '<form action="javascript:alert(15)" x-pwn><button>go</button></form>',
    "<object data=javascript:alert(16) x-pwn></object>",
    '<embed src="javascript:alert(17)" x-pwn>',
    '<video><source onerror="alert(18)" x-pwn></video>',
    "<audio src=x onerror=alert(19) x-pwn>",
    "<marquee onstart=alert(20) x-pwn>m</marquee>",
    '<style>@import "javascript:alert(21)";</style><pwn-x></pwn-x>',
    '<div style="background:url(javascript:alert(22))" x-pwn>d</div>',
    '<meta http-equiv="refresh" content="0;url=javascript:alert(23)" x-pwn>',
    '<base href="javascript:alert(24)//" x-pwn>',
    "<template><pwn-x></pwn-x></template><pwn-x></pwn-x>",
    '<noscript><p title="</noscript><img src=x onerror=alert(25) x-pwn>">',
    '<div hx-get="/" hx-trigger="load" hx-on::after-request="alert(26)" x-pwn>h</div>',
    '<div hx-on:click="alert(27)" x-pwn>h</div>',
    '"><script>alert(28)</script>',
    "'><img src=x onerror=alert(29) x-pwn>",
    '" onmouseover="alert(30)" x-pwn="',
    "' onfocus='alert(31)' autofocus x-pwn='",
    '" autofocus onfocus=alert(32) x-pwn "',
    "</textarea><script>alert(33)</script><pwn-x></pwn-x>",
    "</title><script>alert(34)</script><pwn-x></pwn-x>",
    "</option></select><img src=x onerror=alert(35) x-pwn>",
    "</script><script>alert(36)</script><pwn-x></pwn-x>",
    "<!--<img src=--><img src=x onerror=alert(37) x-pwn>-->",
    "\u003cimg src=x onerror=alert(38) x-pwn\u003e",
    "\uff1cscript\uff1ealert(39)\uff1c/script\uff1e",  # fullwidth angle brackets
    "<scr\u200bipt>alert(40)</scr\u200bipt><pwn-x></pwn-x>",  # zero-width space
    "\u202e<img src=x onerror=alert(41) x-pwn>",  # right-to-left override
    "&lt;img src=x onerror=alert(42) x-pwn&gt;",  # pre-escaped: must stay as typed
    "<img src=x onerror=&#97;&#108;&#101;&#114;&#116;(43) x-pwn>",
    "javascript:alert(44)",
    "JaVaScRiPt:alert(45)//",
]
# Template payloads: if any engine evaluated one, its result (never typed anywhere) would appear.
TEMPLATES = {
    "{{7*7}}": "49",
    "{{1337*1337}}": "1787569",
    "${1337*1338}": "1788906",
    "#{1337*1339}": "1790243",
    "<%= 1337*1340 %>": "1791580",
    "{{7*'7'}}": "7777777",
    "{{ config.items() }}": "SECRET_KEY",
    "{% print(1337*1341) %}": "1792917",
    "${{1337*1342}}": "1794254",
    "[[${1337*1343}]]": "1795591",
    "{{range.constructor('alert(46)')()}}": "",
    "{{''.__class__.__mro__[1].__subclasses__()}}": "<class",
}
PAYLOADS = MARKUP + list(TEMPLATES)
# The default run opens one page of each kind (a kind: the path with its ids taken out) and
# 60 documents per role, well under 40 s; `make test-hardening` crawls everything it reaches.
FULL = os.environ.get("HARDENING_CRAWL_FULL") == "1"
CRAWL_LIMIT = 2000 if FULL else 60
PER_KIND = 10_000 if FULL else 1
SKIP = re.compile(
    r"^/api/|/(sign-out|content|download|downloads?/|export|exports/)|\.(pdf|csv|ics|json|zip|docx|xlsx)$"
)
ID = re.compile(r"/([0-9a-f]{32}|[A-Z][A-Za-z0-9]*(-[A-Za-z0-9.]+)+|\d+)(?=/|$)")


@dataclass
class Planted:
    lead: Person
    advisor: Person
    engagement: str
    submission: str
    fields: Counter[str] = field(default_factory=Counter)


def payloads() -> Iterator[str]:
    return itertools.cycle(PAYLOADS)


def ok(response: Any, *codes: int) -> dict[str, Any]:
    assert response.status_code in (codes or (200, 201)), response.text[:500]
    data: dict[str, Any] = response.json() if response.content else {}
    return data


def plant(live: LiveServer) -> Planted:
    """Put a payload in every text field, through the API (the services behind the pages)."""
    app, engine, keys = live.app, live.app.state.engine, live.app.state.keys
    text = payloads()
    counted: Counter[str] = Counter()

    def next_payload(what: str) -> str:
        counted[what] += 1
        return next(text)

    buyer = make_org(engine, "buyer", name=next_payload("organisation name"))
    supplier = make_org(engine, "supplier", name=next_payload("organisation name"))
    lead = make_person(engine, keys, "supplier_lead", supplier)
    advisor = make_person(engine, keys, "buyer_advisor", buyer)
    admin = make_person(engine, keys, "administrator")
    with session_scope(engine, write=True) as session:
        for person in (lead, advisor):
            user = session.get(User, person.user.id)
            assert user is not None
            user.name = next_payload("user name")
            session.add(user)
        session.commit()

    operator = sign_in(app, TestClient(app), admin)
    made = operator.post(
        "/api/engagements",
        json={
            "reference": "PR <b x-pwn>1</b>",
            "title": next_payload("engagement title"),
            "buyer_org_id": buyer.id,
            "supplier_org_id": supplier.id,
            "effective_date": "2024-07-30",
            "workflow_profile": "schedule-2-4",
            "catalogue_ids": ["cps-security-policy"],
        },
    )
    eid = ok(made, 201)["id"]
    counted["engagement reference"] += 1

    client = sign_in(app, TestClient(app), lead)
    fill_plan(client, app, eid)  # complete and submittable; the texts below replace its plain ones
    api = f"/api/engagements/{eid}"
    controls = app.state.library.catalogue("cps-security-policy").controls
    for control in controls:
        body = {
            "status": "met",
            "statement": next_payload("answer statement"),
            "planned_change": next_payload("planned change"),
        }
        ok(client.put(f"{api}/responses/{control.id}", json=body))
    for _ in range(3):
        risk = {
            "title": next_payload("risk name"),
            "description": next_payload("risk description"),
            "treatment": next_payload("risk treatment"),
            "owner": next_payload("risk owner"),
            "likelihood": 3,
            "impact": 4,
            "residual_likelihood": 1,
            "residual_impact": 2,
        }
        ok(client.post(f"{api}/risks", json=risk), 201)
        entry = {"title": next_payload("register entry"), "description": next_payload("register entry")}
        ok(client.post(f"{api}/register", json=entry), 201)
    incident = {
        "document": next_payload("incident process"),
        "contacts": [
            {
                "name": next_payload("incident contact"),
                "role": next_payload("incident contact"),
                "email": "duty@example.com",
            }
        ],
    }
    ok(client.put(f"{api}/incident-process", json=incident))
    people = [
        {"kind": "designated_security_contact", "name": next_payload("security role"), "board_level": True}
    ]
    ok(client.put(f"{api}/security-roles", json={"people": people}))
    for n in range(4):
        data = f"%PDF-1.4\n% crawl {n}\n1 0 obj << >> endobj\ntrailer << >>\n%%EOF\n".encode()
        name = next_payload("evidence file name")[:120] + ".pdf"
        form = {"title": next_payload("evidence title"), "kind": "policy", "control_ids": controls[n].id}
        ok(client.post(f"{api}/evidence", data=form, files={"file": (name, data, "application/pdf")}), 201)
    sub = ok(
        client.post(
            "/api/subcontractors", json={"name": next_payload("sub-contractor"), "tier": "higher_risk"}
        ),
        201,
    )
    for holder in ("supplier", sub["id"]):
        certificate = {
            "scheme": "iso27001",
            "holder": holder,
            "body": next_payload("certificate body"),
            "number": next_payload("certificate number")[:60],
            "scope": next_payload("certificate scope"),
            "issued_on": "2025-06-01",
        }
        ok(client.post("/api/certificates", json=certificate), 201)
    declaration = {
        "officer_name": next_payload("officer name")[:200],
        "officer_role": next_payload("officer role")[:200],
        "declaration_confirmed": True,
    }
    submitted = ok(client.post(f"{api}/submissions", json=declaration), 201)
    buyer_client = sign_in(app, TestClient(app), advisor)
    for control in controls[:4]:
        note = {"control_id": control.id, "body": next_payload("review comment")}
        ok(buyer_client.post(f"/api/submissions/{submitted['id']}/comments", json=note), 201)
    decision = {
        "decision": "reject",
        "reasons": next_payload("rejection reasons"),
        "control_reasons": {controls[0].id: next_payload("rejection reasons")},
    }
    ok(buyer_client.post(f"/api/submissions/{submitted['id']}/decision", json=decision))
    return Planted(lead, advisor, eid, submitted["id"], counted)


INIT = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
  e.violatedDirective + ' ' + (e.blockedURI || '') + ' ' + (e.sample || '')));
"""

# What the page shows: markers of parsed payloads, CSP reports, and the text a person can read.
PROBE = """() => ({
  markers: document.querySelectorAll('[x-pwn], pwn-x').length,
  csp: window.__csp || [],
  text: document.body ? document.body.innerText : '',
  links: [...document.querySelectorAll('a[href]')].map(a => a.getAttribute('href')),
  fragments: [...document.querySelectorAll('[hx-get]')].map(e => e.getAttribute('hx-get')),
  javascript: [...document.querySelectorAll('[href],[src],[action],[formaction]')].filter(e =>
    ['href','src','action','formaction'].some(n => /^\\s*javascript:/i.test(e.getAttribute(n) || ''))).length,
})"""


@dataclass
class Crawl:
    visited: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    seen_payloads: set[str] = field(default_factory=set)


def context_for(browser: Browser, live: LiveServer, person: Person) -> BrowserContext:
    app = live.app
    with session_scope(app.state.engine, write=True) as session:
        user = session.exec(select(User).where(User.id == person.user.id)).one()
        token = sessions.start_session(
            session, user, mfa_passed=True, now=utcnow(), timeouts=timeouts(app.state.settings)
        )
        session.commit()
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    context.add_cookies([{"name": session_cookie_name(app.state.settings), "value": token, "url": live.url}])
    context.add_init_script(INIT)
    return context


def crawl(page: Page, live: LiveServer, start: list[str]) -> Crawl:
    result = Crawl()
    queue, queued = list(start), set(start)
    per_kind: Counter[str] = Counter()

    def note(problem: str) -> None:
        result.problems.append(f"{page.url}: {problem}")

    page.on("dialog", lambda dialog: (note(f"dialog {dialog.message!r}"), dialog.dismiss()))
    page.on("console", lambda m: note(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda error: note(f"page error {error}"))
    page.on("response", lambda r: note(f"{r.status} for {r.url}") if r.status >= 400 else None)
    while queue and len(result.visited) < CRAWL_LIMIT:
        target = queue.pop(0)
        try:
            response = page.goto(live.url + target)
        except PlaywrightError as error:  # a link to a file: the browser downloads it, no page
            if "Download is starting" in str(error):
                continue
            raise
        if response is None or "text/html" not in (response.headers.get("content-type") or ""):
            continue
        if response.status >= 500:
            note(f"status {response.status}")
        page.wait_for_load_state("load")
        result.visited.append(target)
        seen = page.evaluate(PROBE)
        if seen["markers"]:
            note(f"{seen['markers']} payload elements parsed as markup")
        if seen["javascript"]:
            note(f"{seen['javascript']} javascript: URLs in attributes")
        for violation in seen["csp"]:
            note(f"CSP violation {violation}")
        html = page.content()
        for typed, evaluated in TEMPLATES.items():
            if typed in seen["text"]:
                result.seen_payloads.add(typed)
            # Results short enough to occur by chance (49 in a hash) are left to the literal check.
            if (
                len(evaluated) >= 6
                and evaluated in seen["text"]
                and typed not in seen["text"].replace(evaluated, "")
            ):
                note(f"template {typed!r} evaluated to {evaluated}")
        if "1787569" in html or "1788906" in html or "7777777" in html:
            note("a template expression was evaluated")
        result.seen_payloads.update(p for p in MARKUP if p.strip() in seen["text"])
        for href in [*seen["links"], *seen["fragments"]]:
            absolute = urljoin(live.url + target, href)
            parts = urlsplit(absolute)
            if parts.netloc != urlsplit(live.url).netloc or SKIP.search(parts.path):
                continue
            path = parts.path + (f"?{parts.query}" if parts.query else "")
            kind = ID.sub("/{id}", parts.path)
            if path in queued or per_kind[kind] >= PER_KIND:
                continue
            per_kind[kind] += 1
            queued.add(path)
            queue.append(path)
    return result


def test_payloads_in_every_text_field_never_execute_for_the_lead_or_the_advisor(
    browser: Browser,
    live_app: LiveServer,
) -> None:
    assert len(PAYLOADS) >= 50
    began = time.monotonic()
    planted = plant(live_app)
    visited: dict[str, int] = {}
    assert sum(planted.fields.values()) >= len(PAYLOADS)
    e, s = planted.engagement, planted.submission
    common = ["/", "/engagements", f"/engagements/{e}", f"/engagements/{e}/plan"]
    starts = {
        planted.lead.user.id: [*common, "/evidence", "/certificates"],
        planted.advisor.user.id: [*common, f"/submissions/{s}", "/reviews"],
    }
    for person in (planted.lead, planted.advisor):
        context = context_for(browser, live_app, person)
        page = context.new_page()
        result = crawl(page, live_app, starts[person.user.id])
        context.close()
        role = person.user.role
        visited[role] = len(result.visited)
        assert result.problems == [], f"{role}: {result.problems[:10]}"
        assert len(result.visited) >= 10, f"{role} reached only {result.visited}"
        # The typed text is shown as typed: the crawl really met the payloads.
        assert len(result.seen_payloads) >= 10, f"{role} saw only {sorted(result.seen_payloads)}"

    summary = os.environ.get("HARDENING_REPORT")
    if summary:
        tried = (
            f"{len(PAYLOADS)} payloads in {sum(planted.fields.values())} values of {len(planted.fields)} "
            f"kinds of field; {visited['supplier_lead']} documents as a supplier lead, "
            f"{visited['buyer_advisor']} as a buyer advisor, in {time.monotonic() - began:.0f} s"
        )
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(json.dumps({"tried": tried}) + "\n")


def test_the_crawls_checks_catch_a_payload_that_is_parsed(browser: Browser) -> None:
    """The detectors are live: the same page in a page with no policy shows the marker and the dialog."""
    context = browser.new_context()
    context.add_init_script(INIT)
    page = context.new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.set_content(f"<p>{MARKUP[2]}</p><p>{MARKUP[13]}</p>")
    page.wait_for_function("() => document.querySelector('img').complete")
    seen = page.evaluate(PROBE)
    context.close()
    assert seen["markers"] == 2 and seen["javascript"] == 1
    assert dialogs == ["i1"]
