"""Take the README's screenshots from a running `make run` (demo data loaded).

Usage: .venv/bin/python scripts/screenshots.py [base-url]   (run from the folder `make run` uses)
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from playwright.sync_api import Page, sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
ATTEST = str(Path(sys.executable).parent / "attest")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PASSWORD = "demo password for attest"


def sign_in(page: Page, email: str) -> None:
    page.goto(BASE + "/sign-in")
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Continue").click()
    code = subprocess.run([ATTEST, "demo-code", email], capture_output=True, text=True, check=True).stdout.strip()
    page.get_by_label("Security code").fill(code)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_selector("#account-link")


def shoot(page: Page, name: str, path: str, full: bool = False) -> None:
    page.goto(BASE + path)
    page.screenshot(path=str(OUT / name), full_page=full)
    print(f"wrote docs/screenshots/{name}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        shoot(page, "sign-in.png", "/sign-in")
        sign_in(page, "lead@northwind.example")
        shoot(page, "catalogue-search.png", "/catalogues?q=removable+media")
        shoot(page, "control.png", "/catalogues/cps-security-policy/controls/CPS-5.7")
        page.goto(BASE + "/engagements")
        page.get_by_role("link", name="PR 2023 004").click()
        engagement = page.url.rstrip("/").split("/")[-1]
        shoot(page, "dashboard.png", f"/engagements/{engagement}")
        shoot(page, "work-view.png", f"/engagements/{engagement}/catalogues/cps-security-policy")
        shoot(page, "answer.png", f"/engagements/{engagement}/controls/CPS-1.6")
        shoot(page, "plan.png", f"/engagements/{engagement}/plan#risks")
        advisor = browser.new_page(viewport={"width": 1200, "height": 900})
        sign_in(advisor, "advisor@cps.example")
        shoot(advisor, "advisor-home.png", "/")
        advisor.locator("#overdue-decisions a").first.click()
        shoot(advisor, "review.png", advisor.url.removeprefix(BASE))
        browser.close()


if __name__ == "__main__":
    main()
