"""Prometheus metrics: the application's own and the Temporal SDK's (its core runtime telemetry).

One registry per process (prometheus_client's default), scraped at the API's `GET /metrics`:
- banjian_http_requests_total{method,route,status}, banjian_http_request_duration_seconds{method,route}
  (route = the path template, never a case id);
- banjian_action_duration_seconds{action,outcome}: a case action (or submission) as the client
  waits for its update, measured by a client interceptor;
- banjian_warnings_total{level,cause}: warnings the workflows fired, counted when the read model
  recorded them; banjian_activity_failures_total{activity,error}: failed activity attempts
  (both by a worker interceptor);
- banjian_cases{status}: open and closed cases by status, read from the read model at scrape time;
- banjian_feed_pending, _retrying, _max_attempts, _oldest_pending_seconds, _parked, _paused
  {subscriber}: the event feed's queues (banjian/feed_metrics.py), read at scrape time;
- banjian_archive_queue_depth: closed cases still waiting for their archive package (the workers'
  sweepers drain the queue within seconds; a depth that only grows means no sweeper runs), read at
  scrape time;
- temporal_*: the SDK's own metrics (workflow and activity task latencies, polls, sticky cache,
  requests to the server, …). Decision: *bridged*, not a second port. The core runtime records
  them into a `MetricBuffer`; temporalio's `MetricsExporter` drains it every second into an
  OpenTelemetry `MeterProvider` whose `PrometheusMetricReader` exposes them in this registry. So
  one scrape per process gets both, and no extra port has to be opened, checked or secured.
"""
from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from temporalio import client as tclient
from temporalio.runtime import (
    LogForwardingConfig,
    LoggingConfig,
    MetricBuffer,
    MetricBufferDurationFormat,
    Runtime,
    TelemetryConfig,
    TelemetryFilter,
)
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


@dataclass(frozen=True)
class AppMetrics:
    http_requests: Counter
    http_seconds: Histogram
    action_seconds: Histogram
    warnings: Counter
    activity_failures: Counter


@cache
def app_metrics() -> AppMetrics:
    """The process's application metrics (created once, in the default registry)."""
    return AppMetrics(
        Counter("banjian_http_requests", "HTTP requests answered, by route template and status",
                ["method", "route", "status"]),
        Histogram("banjian_http_request_duration_seconds", "HTTP request latency by route template",
                  ["method", "route"], buckets=LATENCY_BUCKETS),
        Histogram("banjian_action_duration_seconds", "Case actions and submissions: time until the workflow "
                  "answered the update", ["action", "outcome"], buckets=LATENCY_BUCKETS),
        Counter("banjian_warnings", "Warnings (notice, yellow and red cards) fired by case workflows",
                ["level", "cause"]),
        Counter("banjian_activity_failures", "Failed activity attempts (each is retried)", ["activity", "error"]),
    )


# ---- the Temporal SDK's metrics ----------------------------------------------------------------------
def core_logging() -> LoggingConfig:
    """The SDK core's own warnings through Python's logging (logger `temporalio.core`), so they take the
    process's log format (text or JSON) instead of coloured lines written straight to stderr."""
    return LoggingConfig(filter=TelemetryFilter(core_level="WARN", other_level="ERROR"),
                         forwarding=LogForwardingConfig(logger=logging.getLogger("temporalio.core")))


@cache
def _sdk_buffer() -> tuple[MetricBuffer, Runtime]:
    buffer = MetricBuffer(100_000, MetricBufferDurationFormat.SECONDS)
    return buffer, Runtime(telemetry=TelemetryConfig(metrics=buffer, logging=core_logging()))


@cache
def _sdk_provider():
    """The process's meter provider, read by the Prometheus registry (created once: its reader
    registers itself there)."""
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from opentelemetry.sdk.metrics import MeterProvider

    return MeterProvider(metric_readers=[PrometheusMetricReader(disable_target_info=True)])


def _sdk_exporter():
    """A drain of the buffer for the running event loop: the exporter's events belong to the loop
    that first waits on them, so each loop (tests run several in one process) gets its own."""
    from temporalio.contrib.opentelemetry import MetricsExporter

    buffer, _ = _sdk_buffer()
    return MetricsExporter(buffer, _sdk_provider(), poll_interval=timedelta(seconds=1))


_drains: dict[int, asyncio.Task] = {}


def sdk_runtime() -> Runtime:
    """The process's Temporal runtime, its metrics bridged into the Prometheus registry. Call it from
    the event loop that runs the clients: the buffer is drained by a task on that loop."""
    _, runtime = _sdk_buffer()
    loop = asyncio.get_running_loop()
    task = _drains.get(id(loop))
    if task is None or task.done():
        _drains.clear()  # a task of a loop that has ended is of no use
        _drains[id(loop)] = loop.create_task(_sdk_exporter().run(), name="temporal-metrics-drain")
    return runtime


# ---- what the application measures itself ----------------------------------------------------------------
class _CasesByStatus(Collector):
    def __init__(self, counts: Callable[[], Iterable[tuple[str, int]]]) -> None:
        self.counts = counts

    def collect(self):
        family = GaugeMetricFamily("banjian_cases", "Cases in the read model by status", labels=["status"])
        for status, n in self.counts():
            family.add_metric([status], n)
        yield family


def merged(parts: dict[str, bytes]) -> bytes:
    """Several processes' Prometheus texts as one (`banjian up`: the API and its worker processes),
    every sample labelled `process` with the name it came under; a family keeps the type it has
    in the first text that declares it."""
    from prometheus_client.metrics_core import Metric
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Metric] = {}
    for process, text in parts.items():
        for family in text_string_to_metric_families(text.decode()):
            into = families.get(family.name)
            if into is None:
                into = families[family.name] = Metric(family.name, family.documentation, family.type, family.unit)
            elif into.type != family.type:
                continue
            into.samples.extend(Sample(s.name, {"process": process, **s.labels}, s.value, s.timestamp, s.exemplar)
                                for s in family.samples)

    class _Merged(Collector):
        def collect(self):
            yield from families.values()

    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged())
    return generate_latest(registry)


def core_metrics_runtime(port: int) -> Runtime:
    """A runtime whose core serves the SDK's metrics itself, in Rust, on 127.0.0.1:`port`: a worker
    process under load makes thousands of metric updates a second, and the bridge above turns each
    into Python work (about 3 % of a worker's CPU under the benchmark, docs/benchmarks.md)."""
    from temporalio.runtime import PrometheusConfig

    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(
        bind_address=f"127.0.0.1:{port}", durations_as_seconds=True), logging=core_logging()))


def serve_worker_metrics(port: int, sdk_port: int | None = None) -> None:
    """A worker process's own metrics endpoint (127.0.0.1 only; `banjian up`'s API merges it): the
    process's registry, followed by the SDK's metrics its core serves on `sdk_port` (if given)."""
    import threading
    import urllib.request
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    app_metrics()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = generate_latest(REGISTRY)
            if sdk_port is not None:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{sdk_port}/metrics", timeout=2) as r:
                        body += r.read()
                except OSError:  # the core's endpoint not up yet: this scrape has the process's own
                    pass
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:  # scrapes are not worth a log line
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()


class _ArchiveQueueDepth(Collector):
    def __init__(self, depth: Callable[[], int]) -> None:
        self.depth = depth

    def collect(self):
        yield GaugeMetricFamily("banjian_archive_queue_depth", "Closed cases whose archive package the workers' "
                                "sweepers have not built yet (banjian/archive_queue.py)", value=self.depth())


def exposition(cases_by_status: Callable[[], Iterable[tuple[str, int]]] | None = None,
               archive_queue_depth: Callable[[], int] | None = None, database_up: bool | None = None,
               feed_queues: Collector | None = None) -> bytes:
    """The Prometheus text of this process, with the case counts, the archive queue's depth and the
    feed's queues (`banjian/feed_metrics.py`) of the caller's database, and `banjian_database_up`
    (whether that database answered this scrape; when it did not, the read-model series are left out
    rather than the scrape failing)."""
    app_metrics()
    out = generate_latest(REGISTRY)
    extra = CollectorRegistry(auto_describe=False)
    if cases_by_status is not None:
        extra.register(_CasesByStatus(cases_by_status))
    if archive_queue_depth is not None:
        extra.register(_ArchiveQueueDepth(archive_queue_depth))
    if feed_queues is not None:
        extra.register(feed_queues)
    if database_up is not None:
        extra.register(_DatabaseUp(database_up))
    if cases_by_status is not None or archive_queue_depth is not None or database_up is not None \
            or feed_queues is not None:
        out += generate_latest(extra)
    return out


class _DatabaseUp(Collector):
    def __init__(self, up: bool) -> None:
        self.up = up

    def collect(self):
        yield GaugeMetricFamily("banjian_database_up", "Whether the read model's database answered this scrape",
                                value=1 if self.up else 0)


class ActionTimer(tclient.Interceptor):
    """Client interceptor: how long each case action (an update) and submission took."""

    def intercept_client(self, next: tclient.OutboundInterceptor) -> tclient.OutboundInterceptor:
        return _ActionTimerOutbound(next)


def _action_of(name: str, args: Iterable[Any]) -> str:
    first = next(iter(args), None)
    return str(getattr(first, "action", None) or name)


class _ActionTimerOutbound(tclient.OutboundInterceptor):
    async def _timed(self, action: str, call):
        start, outcome = time.perf_counter(), "ok"
        try:
            return await call
        except Exception as e:
            outcome = type(e).__name__
            raise
        finally:
            app_metrics().action_seconds.labels(action, outcome).observe(time.perf_counter() - start)

    async def start_workflow_update(self, input: tclient.StartWorkflowUpdateInput):
        return await self._timed(_action_of(input.update, input.args), super().start_workflow_update(input))

    async def start_update_with_start_workflow(self, input: tclient.StartWorkflowUpdateWithStartInput):
        update = input.update_workflow_input
        return await self._timed(_action_of(update.update, update.args),
                                 super().start_update_with_start_workflow(input))


class ActivityMetrics(Interceptor):
    """Worker interceptor: failed activity attempts, and warnings once the read model has them."""

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetricsInbound(next)


class _ActivityMetricsInbound(ActivityInboundInterceptor):
    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        from temporalio import activity

        name = activity.info().activity_type
        try:
            result = await super().execute_activity(input)
        except BaseException as e:
            if not isinstance(e, asyncio.CancelledError):
                app_metrics().activity_failures.labels(name, type(e).__name__).inc()
            raise
        for arg in input.args:
            for e in getattr(arg, "events", None) or []:
                if getattr(e, "action", None) == "warning":
                    data = e.data or {}
                    app_metrics().warnings.labels(str(data.get("level")), str(data.get("cause"))).inc()
        return result
