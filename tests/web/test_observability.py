"""Observability as an operator meets it: one JSON log line per request (request id, user id,
route template, method, status, duration) with no secret in any line, and /metrics in
Prometheus format behind its bearer token, in process and in a real `attest serve` with two
workers sharing prometheus_client's multiprocess folder.

Counters are process-wide and the suite runs on two xdist workers, so metric checks read the
change across a request (a delta), never an absolute value.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import Engine

from app.adapters.crypto import Keys
from app.adapters.logs import AttestLogHandler, JsonFormatter, TextFormatter
from app.adapters.mail import ConsoleMailer, Message, SmtpMailer
from app.clock import today
from app.config import Settings
from app.db import session_scope
from app.domain.audit import AuditAction
from app.http.auth import session_cookie_name
from app.main import create_app
from app.models import User, utcnow
from app.services import audit, reminders, sessions
from tests.conftest import CONTROLS, SECRET_KEY, make_settings
from tests.factories import make_engagement, make_org, make_person, sign_in
from tests.smtp import Inbox, free_port, start

TOKEN = "metrics-token-" + "m" * 24
AUTH = {"Authorization": f"Bearer {TOKEN}"}
REQUEST_FIELDS = {"request_id", "user_id", "method", "route", "status", "duration_ms"}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, metrics_token=TOKEN)


LogLines = Callable[[], list[dict[str, Any]]]


@pytest.fixture
def json_log() -> Iterator[LogLines]:
    """Attest's own handler in JSON on the root logger, writing to a buffer; yields a function
    returning every line written so far, parsed (each line must be one JSON object). The
    test client's own `httpx` logger is left out: it is the client, not the server."""
    buffer = io.StringIO()
    handler = AttestLogHandler(buffer, "json")
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)

    def lines() -> list[dict[str, Any]]:
        parsed = [json.loads(line) for line in buffer.getvalue().splitlines()]
        return [line for line in parsed if line["logger"] != "httpx"]

    yield lines
    root.removeHandler(handler)
    root.setLevel(level)


def request_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if line["logger"] == "attest.request"]


def scrape(client: TestClient) -> str:
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.text
    return str(response.text)


def sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample in a scrape (0 when the series does not exist yet)."""
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return 0.0


def signed_in_lead(app: FastAPI, client: TestClient) -> tuple[str, str]:
    """Sign `client` in as a supplier lead with one engagement; (user id, engagement id)."""
    engine, keys = app.state.engine, app.state.keys
    lead = make_person(engine, keys, "supplier_lead")
    engagement = make_engagement(engine, make_org(engine, "buyer"), lead.organisation)
    sign_in(app, client, lead)
    return lead.user.id, engagement.id


# --- the request line ---------------------------------------------------------------------------


def test_a_request_writes_one_json_line_with_the_route_template(
    app: FastAPI, anonymous: TestClient, json_log: LogLines
) -> None:
    user_id, engagement_id = signed_in_lead(app, anonymous)
    before = len(request_lines(json_log()))
    response = anonymous.get(
        f"/engagements/{engagement_id}?tab=overview", headers={"X-Request-ID": "obs-0001"}
    )
    assert response.status_code == 200
    lines = request_lines(json_log())[before:]
    assert len(lines) == 1, lines
    (line,) = lines
    assert set(line) >= REQUEST_FIELDS
    assert line["request_id"] == "obs-0001" == response.headers["X-Request-ID"]
    assert line["user_id"] == user_id
    assert line["route"] == "/engagements/{engagement_id}"
    assert (line["method"], line["status"], line["level"]) == ("GET", 200, "info")
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    written = json.dumps(line)
    assert engagement_id not in written and "overview" not in written  # no concrete path or query


def test_in_text_format_the_request_line_names_the_request_and_user(
    app: FastAPI, anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    user_id, engagement_id = signed_in_lead(app, anonymous)
    assert (
        anonymous.get(f"/engagements/{engagement_id}", headers={"X-Request-ID": "obs-text-01"}).status_code
        == 200
    )
    (record,) = [r for r in caplog.records if getattr(r, "request_id", "") == "obs-text-01"]
    line = TextFormatter().format(record)
    assert line.endswith(
        f" INFO attest.request: GET /engagements/{{engagement_id}} 200 {getattr(record, 'duration_ms')} ms"
        f" [request obs-text-01, user {user_id}]"
    )
    assert "\n" not in line


def test_anonymous_static_and_unknown_requests_name_a_template_too(
    anonymous: TestClient, json_log: LogLines
) -> None:
    assert anonymous.get("/static/app.css").status_code == 200
    assert anonymous.get("/no/such/page/3f9c2a").status_code == 404
    assert anonymous.post("/healthz").status_code == 405
    static, unknown, wrong_method = request_lines(json_log())[-3:]
    assert (static["route"], static["status"], static["user_id"]) == ("/static/{path}", 200, None)
    assert (unknown["route"], unknown["status"]) == ("unmatched", 404)
    assert "3f9c2a" not in json.dumps(unknown)
    assert (wrong_method["route"], wrong_method["method"], wrong_method["status"]) == (
        "/healthz",
        "POST",
        405,
    )
    assert len({static["request_id"], unknown["request_id"], wrong_method["request_id"]}) == 3


def test_an_unhandled_error_logs_its_trace_under_the_request_id(
    settings: Settings, json_log: LogLines
) -> None:
    failing = create_app(settings)  # its own app: the shared one keeps no test-only route

    @failing.get("/_observability_boom/{item}")
    def boom(item: str) -> None:
        raise RuntimeError("the disk is on fire")

    try:
        with TestClient(failing, base_url="http://127.0.0.1:8000", raise_server_exceptions=False) as client:
            response = client.get("/_observability_boom/x1", headers={"X-Request-ID": "obs-boom-01"})
    finally:
        failing.state.engine.dispose()
    assert response.status_code == 500
    lines = [line for line in json_log() if line.get("request_id") == "obs-boom-01"]
    error = next(line for line in lines if line["logger"] == "attest.errors")
    assert error["level"] == "error"
    assert "RuntimeError: the disk is on fire" in error["exception"]  # the operator sees it, not the user
    assert "the disk is on fire" not in response.text
    (request,) = request_lines(lines)
    assert (request["route"], request["status"]) == ("/_observability_boom/{item}", 500)


def api_token_for(app: FastAPI, user_id: str) -> str:
    with session_scope(app.state.engine, write=True) as session:
        user = session.get(User, user_id)
        assert user is not None
        _, token = sessions.create_token(session, user, name="logs test", expires_days=1, now=utcnow())
        session.commit()
    return token


def test_no_token_cookie_or_query_string_reaches_a_log_line(
    app: FastAPI, anonymous: TestClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    user_id, engagement_id = signed_in_lead(app, anonymous)
    api_token = api_token_for(app, user_id)
    cookie = anonymous.cookies[session_cookie_name(app.state.settings)]
    query_secret = "q-secret-7c1e55d0"
    invitation = "invitation-token-9b2f41aa77"
    with TestClient(app, base_url="http://127.0.0.1:8000") as api:
        got = api.get(
            f"/api/engagements/{engagement_id}?access_token={query_secret}",
            headers={"Authorization": f"Bearer {api_token}"},
        )
        assert got.status_code == 200
    assert anonymous.get(f"/engagements/{engagement_id}?password={query_secret}").status_code == 200
    assert anonymous.get(f"/invitations/{invitation}?next={query_secret}").status_code == 404
    assert anonymous.get(f"/metrics?x={query_secret}", headers=AUTH).status_code == 200
    # Every record the server wrote (the test client's own httpx lines aside), in both formats.
    records = [r for r in caplog.records if r.name != "httpx"]
    routes = [getattr(r, "route", "") for r in records if r.name == "attest.request"]
    expected = ["/api/engagements/{engagement_id}", "/engagements/{engagement_id}", "/invitations/{token}"]
    assert routes[-4:] == [*expected, "/metrics"]
    written = "\n".join(f.format(r) for r in records for f in (JsonFormatter(), TextFormatter()))
    for secret in (
        api_token,
        cookie,
        query_secret,
        invitation,
        TOKEN,
        engagement_id,
        "access_token",
        "password=",
    ):
        assert secret not in written, secret


# --- /metrics -------------------------------------------------------------------------------------


def test_metrics_is_404_when_no_token_is_set(app: FastAPI, anonymous: TestClient) -> None:
    app.state.settings = app.state.settings.model_copy(update={"metrics_token": ""})
    for headers in ({}, AUTH, {"Authorization": "Bearer "}):
        response = anonymous.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert "There is nothing at this address." in response.text
        assert "attest_http" not in response.text


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token-but-long-enough"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": TOKEN},
    ],
)
def test_metrics_refuses_a_missing_or_wrong_token_with_401(
    anonymous: TestClient, headers: dict[str, str]
) -> None:
    response = anonymous.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "ATTEST_METRICS_TOKEN" in response.text
    assert "attest_http" not in response.text


def test_metrics_answers_with_the_token_and_is_not_in_the_api_schema(anonymous: TestClient) -> None:
    response = anonymous.get("/metrics", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert response.headers["cache-control"] == "no-store"
    assert "# TYPE attest_http_request_duration_seconds histogram" in response.text
    assert "# TYPE attest_mail_failures_total counter" in response.text
    assert "/metrics" not in anonymous.get("/api/openapi.json").json()["paths"]


def test_the_latency_histogram_counts_a_request_by_its_route_template(
    app: FastAPI, anonymous: TestClient
) -> None:
    _, engagement_id = signed_in_lead(app, anonymous)
    labels = {"route": "/engagements/{engagement_id}", "method": "GET", "status_class": "2xx"}
    before = scrape(anonymous)
    assert anonymous.get(f"/engagements/{engagement_id}").status_code == 200
    after = scrape(anonymous)
    name = "attest_http_request_duration_seconds"
    assert sample(after, f"{name}_count", **labels) - sample(before, f"{name}_count", **labels) == 1
    assert (
        sample(after, f"{name}_bucket", le="+Inf", **labels)
        - sample(before, f"{name}_bucket", le="+Inf", **labels)
        == 1
    )
    assert sample(after, f"{name}_sum", **labels) > sample(before, f"{name}_sum", **labels)
    assert engagement_id not in after


class RefusingInbox(Inbox):
    """An SMTP server that refuses every recipient (550), as for an unknown mailbox."""

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        return "550 5.1.1 no such mailbox here"


def a_message() -> Message:
    return Message(
        to="lead@northwind.example", subject="Attest reminder", text="Due soon.", html="<p>Due soon.</p>"
    )


def test_a_refused_recipient_counts_as_a_mail_failure(anonymous: TestClient) -> None:
    inbox = RefusingInbox()
    controller = start(inbox)
    try:
        mailer = SmtpMailer(inbox.host, inbox.port, "attest@example.gov.uk", timeout=5)
        before = sample(scrape(anonymous), "attest_mail_failures_total")
        with pytest.raises(Exception, match="no such mailbox"):
            mailer.send(a_message())
        assert sample(scrape(anonymous), "attest_mail_failures_total") - before == 1
    finally:
        controller.stop()


def test_an_unreachable_mail_server_counts_as_a_mail_failure_and_a_delivery_does_not(
    anonymous: TestClient,
) -> None:
    closed = SmtpMailer("127.0.0.1", free_port(), "attest@example.gov.uk", timeout=5)
    before = sample(scrape(anonymous), "attest_mail_failures_total")
    with pytest.raises(ConnectionRefusedError):
        closed.send(a_message())
    assert sample(scrape(anonymous), "attest_mail_failures_total") - before == 1

    inbox = Inbox()
    controller = start(inbox)
    try:
        SmtpMailer(inbox.host, inbox.port, "attest@example.gov.uk", timeout=5).send(a_message())
    finally:
        controller.stop()
    assert len(inbox.to("lead@northwind.example")) == 1
    assert sample(scrape(anonymous), "attest_mail_failures_total") - before == 1


def test_reminder_lag_appears_after_the_first_run_and_the_unbuilt_hooks_stay_absent(
    app: FastAPI, anonymous: TestClient, settings: Settings
) -> None:
    def exported(text: str, name: str) -> bool:
        return any(line.startswith(name + " ") for line in text.splitlines())

    before = scrape(anonymous)
    assert not exported(before, "attest_reminder_lag_seconds")  # no run yet: absent, not 0
    mailer = ConsoleMailer("attest@localhost", io.StringIO())
    result = reminders.run(app.state.engine, mailer, settings, as_of=today())
    assert result.ran
    after = scrape(anonymous)
    assert exported(after, "attest_reminder_lag_seconds")
    assert 0 <= sample(after, "attest_reminder_lag_seconds") < 60
    assert not exported(after, "attest_audit_chain_head_age_seconds")  # an empty log: absent, not 0
    with session_scope(app.state.engine, write=True) as session:
        audit.record(session, app.state.keys.audit, audit.Who(), AuditAction.USER_INVITED)
        session.commit()
    recorded = scrape(anonymous)
    assert 0 <= sample(recorded, "attest_audit_chain_head_age_seconds") < 60


# --- a real `attest serve` with two workers --------------------------------------------------------

ATTEST = str(Path(sys.executable).parent / "attest")


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def test_attest_serve_with_two_workers_logs_json_once_per_request_and_adds_up_metrics(
    tmp_path: Path, database_url: str, engine: Engine
) -> None:
    lead = make_person(engine, Keys(SECRET_KEY), "supplier_lead")
    with session_scope(engine, write=True) as session:
        _, api_token = sessions.create_token(session, lead.user, name="served", expires_days=1, now=utcnow())
        session.commit()
    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATTEST_", "PROMETHEUS_"))}
    env.update(
        ATTEST_ENV="test",
        ATTEST_DATABASE_URL=database_url,
        ATTEST_DATA_DIR=str(tmp_path / "var"),
        ATTEST_EVIDENCE_DIR=str(tmp_path / "evidence"),
        ATTEST_CONTROLS_DIR=str(CONTROLS),
        ATTEST_SECRET_KEY=SECRET_KEY,
        ATTEST_LOG_FORMAT="json",
        ATTEST_METRICS_TOKEN=TOKEN,
        PROMETHEUS_MULTIPROC_DIR=str(multiproc),
    )
    stderr_path = tmp_path / "stderr.log"
    base = f"http://127.0.0.1:{port}"
    with stderr_path.open("w") as stderr:
        server = subprocess.Popen(
            [ATTEST, "serve", "--port", str(port), "--workers", "2"],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        try:
            deadline = time.monotonic() + 60
            while get_or_none(f"{base}/readyz") != 200:
                assert server.poll() is None and time.monotonic() < deadline, stderr_path.read_text()
                time.sleep(0.2)
            before = get(f"{base}/metrics", AUTH)[1]
            requests = 16
            for _ in range(requests):
                assert get(f"{base}/healthz")[0] == 200
            status, _ = get(
                f"{base}/api/engagements?access_token=q-secret-55aa", {"Authorization": f"Bearer {api_token}"}
            )
            assert status == 200
            assert get(f"{base}/invitations/invite-secret-1234abcd?q=q-secret-55aa")[0] == 404
            after = get(f"{base}/metrics", AUTH)[1]
        finally:
            server.terminate()
            server.wait(timeout=20)

    labels = {"route": "/healthz", "method": "GET", "status_class": "2xx"}
    name = "attest_http_request_duration_seconds_count"
    assert sample(after, name, **labels) - sample(before, name, **labels) == requests
    assert list(multiproc.glob("histogram_*.db"))  # the workers count in the shared folder

    text = stderr_path.read_text()
    lines = [json.loads(line) for line in text.splitlines()]  # every stderr line is one JSON object
    healthz = [line for line in request_lines(lines) if line["route"] == "/healthz"]
    assert len(healthz) == requests  # one line per request: uvicorn's access log is off
    assert not [line for line in lines if line["logger"] == "uvicorn.access"]
    assert any(line["logger"] == "uvicorn.error" for line in lines)  # uvicorn's own lines are JSON too
    api = next(line for line in request_lines(lines) if line["route"] == "/api/engagements")
    assert api["user_id"] == lead.user.id and api["status"] == 200
    for secret in (api_token, TOKEN, "q-secret-55aa", "invite-secret-1234abcd", "access_token"):
        assert secret not in text


def get_or_none(url: str) -> int | None:
    try:
        return get(url)[0]
    except OSError:
        return None


COUNTING_CHILD = """
import sys
from app.adapters import metrics
for _ in range(int(sys.argv[1])):
    metrics.observe_request("/healthz", "GET", 200, 0.01)
metrics.count_mail_failure()
"""


def test_in_multiprocess_mode_a_scrape_adds_up_every_process(tmp_path: Path) -> None:
    """Two real processes count into one PROMETHEUS_MULTIPROC_DIR; a third scrapes the sum."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROMETHEUS_")}
    env["PROMETHEUS_MULTIPROC_DIR"] = str(tmp_path)
    for count in (3, 4):
        subprocess.run([sys.executable, "-c", COUNTING_CHILD, str(count)], env=env, check=True, timeout=60)
    scraper = "from app.adapters.metrics import exposition; print(exposition({})[0].decode())"
    text = subprocess.run(
        [sys.executable, "-c", scraper], env=env, check=True, timeout=60, capture_output=True, text=True
    ).stdout
    labels = {"route": "/healthz", "method": "GET", "status_class": "2xx"}
    assert sample(text, "attest_http_request_duration_seconds_count", **labels) == 7
    assert sample(text, "attest_mail_failures_total") == 2
