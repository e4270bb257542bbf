"""Optional OpenTelemetry traces (issue 14 item 8): with ATTEST_TRACES_ENDPOINT set, each request
is one server span, exported over OTLP/HTTP to a collector (here a real HTTP server on
127.0.0.1 decoding the protobuf the exporter sends). The span names the route template and
never a concrete path, so invitation and calendar-feed tokens stay out of the traces; an
incoming traceparent is continued. Without the setting nothing is exported."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.conftest import built_app, make_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SECRET = "inv_" + "s" * 43


class Collector:
    def __init__(self) -> None:
        self.spans: list[dict[str, object]] = []
        self.raw: list[bytes] = []
        collector = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                collector.raw.append(body)
                request = ExportTraceServiceRequest.FromString(body)
                for resource in request.resource_spans:
                    for scope in resource.scope_spans:
                        for span in scope.spans:
                            attributes = {a.key: a.value for a in span.attributes}
                            collector.spans.append(
                                {
                                    "name": span.name,
                                    "trace_id": span.trace_id.hex(),
                                    "route": attributes["http.route"].string_value,
                                    "status": attributes["http.response.status_code"].int_value,
                                }
                            )
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1/traces"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def collector() -> Iterator[Collector]:
    running = Collector()
    yield running
    running.server.shutdown()


@pytest.fixture
def traced_app(tmp_path: Path, database_url: str, collector: Collector) -> Iterator[FastAPI]:
    application = built_app(make_settings(tmp_path, database_url, traces_endpoint=collector.url))
    yield application
    application.state.tracing.shutdown()
    application.state.engine.dispose()


def test_each_request_is_one_span_named_by_its_route_never_its_path(
    traced_app: FastAPI, collector: Collector
) -> None:
    client = TestClient(traced_app, base_url="http://127.0.0.1:8000")
    assert client.get("/healthz").status_code == 200
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    invitation = client.get(f"/invitations/{SECRET}", headers={"traceparent": traceparent})
    assert invitation.status_code in (200, 404)
    traced_app.state.tracing.provider.force_flush()

    by_route = {span["route"]: span for span in collector.spans}
    assert by_route["/healthz"]["name"] == "GET /healthz" and by_route["/healthz"]["status"] == 200
    followed = by_route["/invitations/{token}"]
    assert followed["name"] == "GET /invitations/{token}"
    assert followed["trace_id"] == TRACE_ID  # the caller's trace continues
    assert all(SECRET.encode() not in body for body in collector.raw)  # no token in any export


def test_without_a_collector_nothing_is_traced(app: FastAPI) -> None:
    assert app.state.tracing is None
    assert TestClient(app).get("/healthz").status_code == 200
