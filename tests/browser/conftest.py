"""A real Attest server on a free port and real Chromium (Debian's package) driving it."""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI
from playwright.sync_api import Browser, ConsoleMessage, Page, sync_playwright

from app.main import create_app
from tests.conftest import make_settings
from tests.factories import Person, make_person

CHROMIUM = os.environ.get("ATTEST_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    url: str
    app: FastAPI

    def person(self, role: str = "supplier_lead") -> Person:
        return make_person(self.app.state.engine, self.app.state.keys, role)

    def sign_in(self, page: Page, person: Person) -> None:
        """Sign in through the pages, as a person would: password, then the app's code."""
        page.goto(self.url + "/sign-in")
        page.get_by_label("Email address").fill(person.email)
        page.get_by_label("Password").fill(person.password)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Security code").fill(person.code())
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_selector("#account-link")


@pytest.fixture
def live_app(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    database = tmp_path / "attest.db"
    shutil.copyfile(sqlite_template, database)
    app = create_app(make_settings(tmp_path, f"sqlite:///{database}"))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if time.monotonic() > deadline:
            pytest.fail("the test server did not start")
        time.sleep(0.05)
    yield LiveServer(f"http://127.0.0.1:{port}", app)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM}: run `make test` (it installs Debian's chromium)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            problems.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda error: problems.append(str(error)))
    yield page
    context.close()
    assert problems == [], f"browser errors: {problems}"


@pytest.fixture
def browser_no_js(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()
