"""Take the README's screenshots from a running Attest (`make run` first).

Usage: .venv/bin/python scripts/screenshots.py [base-url]
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

BASE = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8000"
OUT = Path(__file__).resolve().parents[1] / "docs" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
SHOTS = [
    ("home.png", "/"),
    ("catalogue-search.png", "/catalogues?q=removable+media"),
    ("catalogue.png", "/catalogues/schedule-2-4"),
    ("control.png", "/catalogues/cps-security-policy/controls/CPS-5.7"),
]


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        for name, path in SHOTS:
            page.goto(BASE + path)
            page.screenshot(path=str(OUT / name))
            print(f"wrote docs/screenshots/{name}")
        browser.close()


if __name__ == "__main__":
    main()
