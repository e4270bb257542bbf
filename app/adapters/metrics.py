"""Prometheus metrics (prometheus_client): what each process counts, and the /metrics text.

Counted as things happen, in the process where they happen:

- `attest_http_request_duration_seconds` (histogram; labels route, method, status_class): every
  request, by its route template (`/engagements/{engagement_id}`, never the concrete path;
  `unmatched` when no route matched), observed by app.http.middleware;
- `attest_mail_failures_total` (counter): each message the SMTP server did not accept
  (app.adapters.mail).

Read at scrape time (app.services.metrics computes the values): the gauges in SCRAPE_GAUGES.
A gauge whose value is None (nothing to report yet, or its source is not built yet) is left
out of the text rather than given a made-up value.

Several processes (uvicorn --workers N): when PROMETHEUS_MULTIPROC_DIR names a folder (empty
at start, shared by the processes of one host, set before any of them starts), each process
writes its counts there and a scrape adds up every process's files (prometheus_client's
multiprocess mode); without it the counts are this process's own (the default registry).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
UNMATCHED_ROUTE = "unmatched"
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# The *_created series double the text and no Attest alert reads them.
disable_created_metrics()  # type: ignore[no-untyped-call]

REQUEST_DURATION = Histogram(
    "attest_http_request_duration_seconds",
    "Time from receiving a request to the end of its response, by route template, method and status class.",
    ["route", "method", "status_class"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
MAIL_FAILURES = Counter(
    "attest_mail_failures_total",
    "Mail messages the mail server did not accept (connection refused, recipient refused, "
    "authentication or TLS failure, timeout).",
)

# Scrape-time gauges (app.services.metrics fills in each value).
REMINDER_LAG = "attest_reminder_lag_seconds"
JOB_QUEUE_DEPTH = "attest_job_queue_depth"
JOB_QUEUE_OLDEST_AGE = "attest_job_queue_oldest_age_seconds"
AUDIT_CHAIN_HEAD_AGE = "attest_audit_chain_head_age_seconds"
SCRAPE_GAUGES: dict[str, str] = {
    REMINDER_LAG: "Seconds since the last reminder run finished (absent until one has).",
    JOB_QUEUE_DEPTH: "Background jobs waiting to run.",
    JOB_QUEUE_OLDEST_AGE: "Age in seconds of the oldest background job still waiting.",
    AUDIT_CHAIN_HEAD_AGE: "Seconds since the newest audit chain head was last written.",
}


def status_class(status: int) -> str:
    return f"{status // 100}xx" if 100 <= status <= 599 else "other"


def observe_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count one finished request (route is the template, never the concrete path)."""
    label = method if method in METHODS else "other"
    REQUEST_DURATION.labels(route=route, method=label, status_class=status_class(status)).observe(seconds)


def count_mail_failure() -> None:
    MAIL_FAILURES.inc()


class _ThisProcess(Collector):
    """The default registry's metrics (this process's counts, and the process collectors)."""

    def collect(self) -> Iterator[Metric]:
        yield from REGISTRY.collect()


class _ScrapeGauges(Collector):
    def __init__(self, values: Mapping[str, float | None]) -> None:
        self.values = values

    def describe(self) -> Iterator[Metric]:
        for name, help_text in SCRAPE_GAUGES.items():
            yield GaugeMetricFamily(name, help_text)

    def collect(self) -> Iterator[Metric]:
        for name, help_text in SCRAPE_GAUGES.items():
            value = self.values.get(name)
            if value is not None:
                yield GaugeMetricFamily(name, help_text, value=value)


def multiprocess_dir() -> str:
    return os.environ.get(MULTIPROC_ENV, "")


def exposition(values: Mapping[str, float | None]) -> tuple[bytes, str]:
    """The /metrics body in Prometheus text format, and its content type."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    registry.register(_ScrapeGauges(values))
    return generate_latest(registry), CONTENT_TYPE_LATEST
