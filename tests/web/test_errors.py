"""Every error has a clear status and message; no stack trace reaches a user."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app


@pytest.fixture
def failing_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings)  # its own app: the routes added here must not reach other tests

    @app.get("/api/_boom")
    def api_boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/_boom")
    def page_boom() -> None:
        raise RuntimeError("secret internal detail")

    @app.get("/api/_typed/{number}")
    def typed(number: int) -> dict[str, int]:
        return {"number": number}

    with TestClient(app, raise_server_exceptions=False) as client:
        yield client
    app.state.engine.dispose()


def test_api_404_is_json(failing_client: TestClient) -> None:
    response = failing_client.get("/api/nothing-here")
    assert response.status_code == 404
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert error["message"]


def test_page_404_is_the_error_page(failing_client: TestClient) -> None:
    response = failing_client.get("/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    page = BeautifulSoup(response.text, "html.parser")
    assert page.h1 and page.h1.text == "Not Found"
    assert "nothing at this address" in page.text


def test_api_405_is_json(failing_client: TestClient) -> None:
    response = failing_client.delete("/healthz")
    assert response.status_code == 405
    response = failing_client.post("/api/_typed/1")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def test_page_405_is_the_error_page(failing_client: TestClient) -> None:
    response = failing_client.post("/")
    assert response.status_code == 405
    assert "POST is not allowed here" in response.text


def test_api_422_names_the_field(failing_client: TestClient) -> None:
    response = failing_client.get("/api/_typed/not-a-number")
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["details"][0]["field"] == "path.number"
    assert "number" in error["message"]


@pytest.mark.parametrize("path", ["/api/_boom", "/_boom"])
def test_500_hides_the_trace_and_gives_a_request_id(failing_client: TestClient, path: str) -> None:
    response = failing_client.get(path, headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 500
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    assert "req-12345678" in response.text
    assert response.headers["x-request-id"] == "req-12345678"


def test_api_500_is_json(failing_client: TestClient) -> None:
    assert failing_client.get("/api/_boom").json()["error"]["code"] == "internal_error"


def test_htmx_error_comes_as_a_toast(failing_client: TestClient) -> None:
    response = failing_client.get("/nothing-here", headers={"HX-Request": "true"})
    assert response.status_code == 404
    assert response.headers["hx-retarget"] == "#toasts"
    assert "<html" not in response.text
    assert 'role="alert"' in response.text
