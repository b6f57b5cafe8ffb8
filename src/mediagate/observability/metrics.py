"""Prometheus metrics: definitions, and the text a scrape answers.

Labels are bounded sets chosen by us (route templates, status codes, error
codes, reason classes), never request data: a path, a sid or a credential
in a label would be both a cardinality bomb and a leak.

Under several worker processes prometheus-client keeps the values in files
under ``PROMETHEUS_MULTIPROC_DIR`` (``multiproc.prepare``) and a scrape sums
them; the code that counts is the same either way.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import InfoMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from prometheus_client.metrics_core import Metric

    from mediagate.runtime.context import Runtime

# ``*_created`` series double the output and no dashboard here uses them.
disable_created_metrics()  # type: ignore[no-untyped-call]
REGISTRY = CollectorRegistry(auto_describe=True)

# Fast paths answer in well under a millisecond; the media hosts may stream
# large bodies for seconds.
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

WORKER_STARTS = Counter(
    "mediagate_worker_starts",
    "Server worker processes started (each worker counts 1 when it builds the app).",
    registry=REGISTRY,
)
HTTP_REQUESTS = Counter(
    "mediagate_http_requests",
    "HTTP requests answered, by route template, method and status.",
    ["route", "method", "status"],
    registry=REGISTRY,
)
HTTP_DURATION = Histogram(
    "mediagate_http_request_duration_seconds",
    "Time from request to the end of the response body, by route template.",
    ["route"],
    buckets=LATENCY_BUCKETS,
    registry=REGISTRY,
)
HTTP_BYTES = Counter(
    "mediagate_http_response_bytes",
    "Response body bytes sent, by route template (files sent zero-copy count their Content-Length).",
    ["route"],
    registry=REGISTRY,
)
FAST_ANSWERS = Counter(
    "mediagate_fast_path_answers",
    "Requests answered on the RSGI fast path from memory (serving/fast.py), by route template; "
    "the rest of that route's requests went through the full application.",
    ["route"],
    registry=REGISTRY,
)
RATE_LIMITED = Counter(
    "mediagate_rate_limited",
    "Requests refused with 429 Too Many Requests, by route template.",
    ["route"],
    registry=REGISTRY,
)
AUTH_FAILURES = Counter(
    "mediagate_auth_failures",
    "Rejected credentials by reason class (never the credential itself).",
    ["reason"],
    registry=REGISTRY,
)
INGEST_MEDIA = Counter(
    "mediagate_ingest_media",
    "Media fetched from a MediaUrl and stored, by channel.",
    ["channel"],
    registry=REGISTRY,
)
INGEST_BYTES = Counter(
    "mediagate_ingest_bytes",
    "Bytes of media fetched from MediaUrl and stored, by channel.",
    ["channel"],
    registry=REGISTRY,
)
INGEST_FAILURES = Counter(
    "mediagate_ingest_failures",
    "MediaUrl fetches that failed, by channel and Twilio error code (11200, 12300, 11751, 21620).",
    ["channel", "code"],
    registry=REGISTRY,
)
WEBHOOK_DELIVERIES = Counter(
    "mediagate_webhook_deliveries",
    "Webhook deliveries queued, by kind (incoming, status).",
    ["kind"],
    registry=REGISTRY,
)
WEBHOOK_ATTEMPTS = Counter(
    "mediagate_webhook_attempts",
    "Webhook delivery attempts, by kind and result (success, failure).",
    ["kind", "result"],
    registry=REGISTRY,
)
WEBHOOK_FAILURES = Counter(
    "mediagate_webhook_failures",
    "Webhook deliveries given up after their last attempt, by kind.",
    ["kind"],
    registry=REGISTRY,
)
RETENTION_DELETED = Counter(
    "mediagate_retention_deleted_media",
    "Media deleted by retention rules, by rule (retention/rules.py).",
    ["rule"],
    registry=REGISTRY,
)
ACCESS_RECORDS_DROPPED = Counter(
    "mediagate_access_records_dropped",
    "Fetches not recorded for retention because the in-memory buffer was full (MEDIAGATE_ACCESS_BUFFER_MAX).",
    registry=REGISTRY,
)
STORAGE_ERRORS = Counter(
    "mediagate_storage_errors",
    "Storage backend errors by operation and reason (full, unavailable, denied, other); "
    "a missing object is not an error.",
    ["operation", "reason"],
    registry=REGISTRY,
)
DEPENDENCY_CHECKS = Counter(
    "mediagate_dependency_checks",
    "Health checks of the dependencies processes share (redis, storage on S3), by result (ok, failed): "
    "they do not make /readyz fail (observability/health.py), so this is where their outages show.",
    ["dependency", "result"],
    registry=REGISTRY,
)
DATABASE_ERRORS = Counter(
    "mediagate_database_errors",
    "Database errors by DBAPI error class (OperationalError, IntegrityError, ...).",
    ["error"],
    registry=REGISTRY,
)
QUOTA_REFUSALS = Counter(
    "mediagate_quota_refusals",
    "Media refused because an account quota was reached, by quota (bytes, media, ingest_per_hour).",
    ["quota"],
    registry=REGISTRY,
)
ACCESS_AUDIT_DROPPED = Counter(
    "mediagate_access_audit_dropped",
    "Access events dropped because the in-memory audit queue was full (or unwritable at shutdown).",
    registry=REGISTRY,
)
ACCESS_AUDIT_WRITTEN = Counter(
    "mediagate_access_audit_written",
    "Access events written to the database.",
    registry=REGISTRY,
)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


ScrapeSource = Callable[["Runtime"], Iterable["Metric"]]
# Filled by the services that own the figures (``@scrape_source``), so this
# module, imported by nearly every service to count things, imports none of them.
_SOURCES: list[ScrapeSource] = []


def scrape_source(source: ScrapeSource) -> ScrapeSource:
    """Register ``source``: metric families read from the runtime at each scrape."""
    _SOURCES.append(source)
    return source


class ScrapeTimeCollector(Collector):
    """Values read when Prometheus scrapes rather than counted as they happen:
    the webhook queue and the quota usage live in the database, shared by every
    process, so any process can report them whole (a per-process gauge could not)."""

    def __init__(self, rt: Runtime) -> None:
        self._rt = rt

    def collect(self) -> Iterator[Metric]:
        from mediagate import __version__

        info = InfoMetricFamily("mediagate_build", "mediagate version.")
        info.add_metric([], {"version": __version__})
        yield info
        for source in _SOURCES:
            families: list[Metric] = []
            try:
                # Whole families only: a source that fails halfway yields nothing.
                families = list(source(self._rt))
            except Exception:  # counted by the engine's error hook; the rest of the scrape still answers
                families = []
            yield from families


def render(extra: Iterable[Collector] = ()) -> bytes:
    """The text exposition of every metric: this process's values, or every
    process's summed in multiprocess mode, plus scrape-time collectors."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        registry.register(_Forward(REGISTRY))
    for collector in extra:
        registry.register(collector)
    return generate_latest(registry)


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self._source = source

    def collect(self) -> Iterator[Metric]:
        return iter(self._source.collect())
