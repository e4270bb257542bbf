"""Optional OpenTelemetry traces: one server span per request, sent over OTLP/HTTP to the
collector named by ATTEST_TRACES_ENDPOINT (e.g. `http://otel-collector:4318/v1/traces`).

Unset (the default), nothing is imported or sent. A span is named and described like the
request's log line: the method and the route *template* (`GET /invitations/{token}`), the
status and the request id, never the concrete path, query string, headers or cookies, because
paths carry ids and sometimes secrets (invitation and calendar-feed tokens). An incoming W3C
`traceparent` is continued, so a proxy's or a caller's trace joins up with Attest's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from app import __version__
from app.config import Settings

SERVICE_NAME = "attest"


@dataclass
class Tracing:
    """The tracer of one installation and its provider (flushed and shut down with the app)."""

    tracer: Any
    provider: Any

    def start(self, method: str, headers: Mapping[str, str]) -> Any:
        from opentelemetry.propagate import extract
        from opentelemetry.trace import SpanKind

        return self.tracer.start_span(method, kind=SpanKind.SERVER, context=extract(dict(headers)))

    @staticmethod
    def finish(span: Any, *, method: str, route: str, status: int, request_id: str) -> None:
        from opentelemetry.trace import Status, StatusCode

        span.update_name(f"{method} {route}")
        span.set_attributes(
            {
                "http.request.method": method,
                "http.route": route,
                "http.response.status_code": status,
                "attest.request_id": request_id,
            }
        )
        if status >= 500:
            span.set_status(Status(StatusCode.ERROR))
        span.end()

    def shutdown(self) -> None:
        self.provider.shutdown()


def make_tracing(settings: Settings) -> Tracing | None:
    """Tracing to the configured collector, or None when no collector is configured."""
    if not settings.traces_endpoint:
        return None
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": SERVICE_NAME, "service.version": __version__})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.traces_endpoint)))
    return Tracing(provider.get_tracer("attest.http"), provider)
