from __future__ import annotations

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient


def test_home_page_says_what_attest_is(client: TestClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    page = BeautifulSoup(response.text, "html.parser")
    assert "Security Management Plan" in page.text
    assert "Information Security Approval Statement" in page.text
    assert page.select("#catalogue-list li")


def test_pages_use_only_vendored_assets(client: TestClient) -> None:
    page = BeautifulSoup(client.get("/").text, "html.parser")
    sources = [t.get("src") for t in page.find_all("script")] + [t.get("href") for t in page.find_all("link")]
    assert sources and all(str(s).startswith("/static/") for s in sources)
    assert not [t for t in page.find_all("script") if t.string and t.string.strip()]
    for source in sources:
        assert client.get(str(source)).status_code == 200


def test_security_headers(client: TestClient) -> None:
    headers = client.get("/").headers
    csp = headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "same-origin"
    assert headers["x-request-id"]


def test_no_brand_assets_or_external_urls_in_vendored_css(client: TestClient) -> None:
    css = client.get("/static/govuk-frontend-5.14.0/govuk-frontend.min.css").text
    assert "@font-face" not in css
    assert "url(http" not in css and "url(//" not in css
