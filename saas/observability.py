"""JSON logs that carry the request id and tenant, and the Prometheus metrics."""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import orjson
from prometheus_client import Counter, Histogram, Summary
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

request_id_var: ContextVar[str | None] = ContextVar("saas_request_id", default=None)
tenant_var: ContextVar[str | None] = ContextVar("saas_tenant_slug", default=None)

_RESERVED = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message"}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
            "request_id": request_id_var.get(),
            "tenant": tenant_var.get(),
        }
        entry.update({k: v for k, v in record.__dict__.items() if k not in _RESERVED})
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


def configure_logging(level: str) -> None:
    # The JSON lines carry none of these: skip collecting them for every record.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our middleware logs requests


HTTP_REQUESTS = Counter(
    "saas_http_requests_total", "HTTP requests served", ["method", "route", "status"]
)
HTTP_LATENCY = Histogram("saas_http_request_duration_seconds", "HTTP request latency", ["route"])
GRAPHQL_OPERATIONS = Counter(
    "saas_graphql_operations_total",
    "GraphQL operations by tenant, operation name and outcome",
    ["tenant", "operation", "type", "outcome"],
)
GRAPHQL_ERRORS = Counter(
    "saas_graphql_errors_total",
    "GraphQL errors by tenant, operation name and error code",
    ["tenant", "operation", "code"],
)
# Buckets per operation; per tenant only sum and count, so that the series do not
# multiply tenants by operations by buckets.
GRAPHQL_LATENCY = Histogram(
    "saas_graphql_operation_duration_seconds", "GraphQL operation latency", ["operation"]
)
GRAPHQL_TENANT_LATENCY = Summary(
    "saas_graphql_tenant_duration_seconds", "GraphQL time spent per tenant", ["tenant"]
)

_OPERATION_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,63}$")
_MAX_OPERATION_LABELS = 500
_seen_operations: set[str] = set()


def operation_label(name: str | None) -> str:
    """Operation names come from clients: keep the label set bounded."""
    if name is None:
        return "anonymous"
    if not _OPERATION_NAME.fullmatch(name):
        return "invalid"
    if name not in _seen_operations:
        if len(_seen_operations) >= _MAX_OPERATION_LABELS:
            return "other"
        _seen_operations.add(name)
    return name


@lru_cache(maxsize=1024)
def http_series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    """The series of one kind of request, looked up once per label values rather than
    with ``labels()`` (a lock and validation) per request. Nothing removes a series; if
    something ever does, it must clear this cache and ``_graphql_series``'s too."""
    return HTTP_REQUESTS.labels(method, route, str(status)), HTTP_LATENCY.labels(route)


@lru_cache(maxsize=4096)
def _graphql_series(
    tenant: str, operation: str, kind: str, outcome: str
) -> tuple[Counter, Histogram, Summary]:
    """Like ``http_series``, for GraphQL operations."""
    return (
        GRAPHQL_OPERATIONS.labels(tenant, operation, kind, outcome),
        GRAPHQL_LATENCY.labels(operation),
        GRAPHQL_TENANT_LATENCY.labels(tenant),
    )


def record_graphql(
    tenant: str,
    operation: str | None,
    kind: str | None,
    outcome: str,
    codes: list[str],
    seconds: float,
) -> None:
    label = operation_label(operation)
    operations, latency, tenant_latency = _graphql_series(tenant, label, kind or "unknown", outcome)
    operations.inc()
    for code in codes:
        GRAPHQL_ERRORS.labels(tenant, label, code).inc()
    latency.observe(seconds)
    tenant_latency.observe(seconds)


class BackendCollector(Collector):
    """Gauges read from the tenancy backend at scrape time (open clients, pool use)."""

    def __init__(self, stats: Callable[[], dict[str, float]]) -> None:
        self.stats = stats

    def collect(self) -> Iterator[GaugeMetricFamily]:
        for name, value in self.stats().items():
            yield GaugeMetricFamily(f"saas_db_{name}", f"database backend: {name}", value=value)


class Stopwatch:
    __slots__ = ("started",)

    def __init__(self) -> None:
        self.started = time.perf_counter()

    @property
    def seconds(self) -> float:
        return time.perf_counter() - self.started
