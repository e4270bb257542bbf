"""No secret in a URL (issue 15 item 11): no page puts the CSRF token in a form's action, a link
or a redirect; a plain (no-JavaScript) upload sends it as the body's first field, and a body
whose first part is not a valid token is refused with 403 before anything is stored."""

from __future__ import annotations

import re

from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.models import Engagement
from tests.factories import Person, csrf_token, sign_in
from tests.web.test_page_titles_and_fragments import Site, site  # noqa: F401 (the fixture)
from tests.web.test_uploads import PDF, setup, small_app, state  # noqa: F401 (fixtures)

URL_ATTRIBUTE = re.compile(r'\b(?:action|href|hx-post|hx-get|data-upload-url)="([^"]*)"')


def test_no_page_puts_the_token_in_a_url(site: Site) -> None:  # noqa: F811
    clients = {"lead": site.lead, "advisor": site.advisor, "admin": site.admin, "anonymous": site.anonymous}
    checked = 0
    for role, paths in site.pages.items():
        client = clients[role]
        token = csrf_token(site.app, client)
        for path in paths:
            response = client.get(path, follow_redirects=False)
            location = response.headers.get("location", "")
            assert "csrf_token" not in location and token not in location, (role, path)
            for url in URL_ATTRIBUTE.findall(response.text):
                assert "csrf_token" not in url and token not in url, (role, path, url)
                checked += 1
    assert checked > 100  # the crawl saw the pages' forms and links


def plain_client(app: FastAPI, lead: Person) -> tuple[TestClient, str]:
    """A signed-in browser without JavaScript: no X-CSRF-Token header, the token in the form."""
    client = sign_in(app, TestClient(app), lead)
    return client, str(client.headers.pop("X-CSRF-Token"))


def upload(client: TestClient, engagement: Engagement, body: bytes):  # type: ignore[no-untyped-def]
    return client.post(
        f"/engagements/{engagement.id}/evidence?control_id=CPS-1.1",
        content=body,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
        follow_redirects=False,
    )


def field(name: str, value: str) -> bytes:
    return f'--XyZ\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()


def file_part() -> bytes:
    head = '--XyZ\r\nContent-Disposition: form-data; name="file"; filename="policy.pdf"\r\n'
    return head.encode() + b"Content-Type: application/pdf\r\n\r\n" + PDF + b"\r\n"


END = b"--XyZ--\r\n"


def test_a_plain_upload_with_the_token_first_is_stored_and_redirects_to_a_clean_address(
    setup,  # noqa: F811
) -> None:
    app, engagement, lead = setup
    client, token = plain_client(app, lead)
    body = field("csrf_token", token) + field("control_ids", "CPS-1.1") + file_part() + END
    response = upload(client, engagement, body)
    assert response.status_code == 303, response.text
    assert "csrf_token" not in response.headers["location"] and token not in response.headers["location"]
    rows, files = state(app)
    assert rows == 1 and len(files) == 1


def test_a_plain_upload_without_the_token_first_is_refused_and_nothing_is_stored(
    setup,  # noqa: F811
) -> None:
    app, engagement, lead = setup
    client, token = plain_client(app, lead)
    bodies = {
        "no token": field("control_ids", "CPS-1.1") + file_part() + END,
        "token after the file": file_part() + field("csrf_token", token) + END,
        "token after another field": field("title", "T") + field("csrf_token", token) + file_part() + END,
        "wrong token": field("csrf_token", "x" * 43) + file_part() + END,
        "empty body": END,
    }
    for why, body in bodies.items():
        response = upload(client, engagement, body)
        assert response.status_code == 403, (why, response.status_code)
        assert "This form has expired" in response.text, why
        assert state(app) == (0, []), why
    # A token in the URL no longer counts.
    response = client.post(
        f"/engagements/{engagement.id}/evidence?csrf_token={token}",
        content=file_part() + END,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert response.status_code == 403 and state(app) == (0, [])


def test_the_header_still_suffices_and_other_routes_refuse_multipart_without_it(
    setup,  # noqa: F811
) -> None:
    app, engagement, lead = setup
    client, token = plain_client(app, lead)
    response = client.post(
        f"/engagements/{engagement.id}/evidence",
        content=file_part() + END,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ", "X-CSRF-Token": token},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert state(app)[0] == 1
    # A route that does not stream never takes its token from a multipart body.
    refused = client.post(
        f"/engagements/{engagement.id}/plan/risks",
        content=field("csrf_token", token) + field("title", "Risk") + END,
        headers={"Content-Type": "multipart/form-data; boundary=XyZ"},
    )
    assert refused.status_code == 403
