"""Re-shoot the README's tour (docs/screenshots/*.png) against a real Attest with demo data.

Usage: .venv/bin/python scripts/screenshots.py      (or `make screenshots`)

The script starts its own instance: a fresh SQLite database and evidence folder in a temporary
folder, `attest db upgrade`, `attest demo`, then `attest serve` on a free port of 127.0.0.1. It
signs in as the demo lead and the demo advisor in Debian's Chromium (1280 px wide), writes each
page's PNG, then stops the server and removes the folder. Nothing of a `make run` (var/) is
touched, and no separate server is needed.
"""

# ruff: noqa: S603, S310 (runs only the venv's own `attest` and opens only its http:// address)
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "screenshots"
ATTEST = str(Path(sys.executable).parent / "attest")
CHROMIUM = os.environ.get("ATTEST_TEST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "demo password for attest"  # noqa: S105 (the demo accounts' published password)
LEAD, ADVISOR = "lead@northwind.example", "advisor@cps.example"
WIDTH, HEIGHT = 1280, 900


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def served_demo() -> Iterator[tuple[str, dict[str, str]]]:
    """A served Attest with demo data in a temporary folder: its base URL and environment."""
    with tempfile.TemporaryDirectory(prefix="attest-screenshots-") as folder:
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "ATTEST_ENV": "development",
            "ATTEST_DATA_DIR": str(Path(folder) / "var"),
            "ATTEST_DATABASE_URL": "",
            "ATTEST_EVIDENCE_DIR": str(Path(folder) / "evidence"),
            "ATTEST_CONTROLS_DIR": str(ROOT / "controls"),
            "ATTEST_BASE_URL": base,
            "ATTEST_MAIL_BACKEND": "console",
        }
        (Path(folder) / "var").mkdir()
        for command in (["db", "upgrade"], ["demo"]):
            subprocess.run([ATTEST, *command], cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
        server = subprocess.Popen(
            [ATTEST, "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(base + "/healthz", timeout=2):
                        break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        raise SystemExit("attest serve did not start") from None
                    time.sleep(0.2)
            yield base, env
        finally:
            server.terminate()
            server.wait(timeout=15)


def sign_in(page: Page, base: str, env: dict[str, str], email: str) -> None:
    page.goto(base + "/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    code = subprocess.run(
        [ATTEST, "demo-code", email], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    page.get_by_label("Security code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#account-link")


def shoot(page: Page, base: str, name: str, path: str, full: bool = False) -> None:
    page.goto(base + path)
    page.wait_for_load_state("networkidle")
    page.screenshot(path=str(OUT / name), full_page=full)
    print(f"wrote docs/screenshots/{name}")


def new_page(browser: Browser) -> Page:
    return browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}).new_page()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with served_demo() as (base, env), sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = new_page(browser)
        shoot(page, base, "sign-in.png", "/sign-in")
        sign_in(page, base, env, LEAD)
        shoot(page, base, "home.png", "/")
        shoot(page, base, "catalogue.png", "/catalogues/cps-security-policy")
        shoot(page, base, "catalogue-search.png", "/catalogues?q=removable+media")
        shoot(page, base, "control.png", "/catalogues/cps-security-policy/controls/CPS-5.7")
        page.goto(base + "/engagements")
        page.get_by_role("link", name="PR 2023 004").first.click()
        engagement = page.url.rstrip("/").split("/")[-1]
        shoot(page, base, "dashboard.png", f"/engagements/{engagement}")
        shoot(page, base, "work-view.png", f"/engagements/{engagement}/catalogues/cps-security-policy")
        shoot(page, base, "answer.png", f"/engagements/{engagement}/controls/CPS-1.6")
        shoot(page, base, "plan.png", f"/engagements/{engagement}/plan#risks")
        shoot(page, base, "import.png", f"/engagements/{engagement}/import")
        page.goto(f"{base}/engagements/{engagement}")
        page.locator("#export-bundle-background").click()  # one download asked for, to show
        shoot(page, base, "downloads.png", "/downloads")
        advisor = new_page(browser)
        sign_in(advisor, base, env, ADVISOR)
        shoot(advisor, base, "advisor-home.png", "/")
        shoot(advisor, base, "portfolio.png", "/portfolio")
        advisor.goto(base + "/")
        advisor.locator("#awaiting-decisions a").first.click()
        shoot(advisor, base, "review.png", advisor.url.removeprefix(base))
        browser.close()


if __name__ == "__main__":
    main()
