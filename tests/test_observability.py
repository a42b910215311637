"""Metrics, traces and structured logs (issue 12 item 7)."""
from __future__ import annotations

import asyncio
import io
import json
import logging
import sys
import uuid

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from temporalio.client import Client, WorkflowFailureError
from temporalio.worker import Worker

from banjian.logs import configure_logging
from banjian.metrics import ActivityMetrics
from banjian.settings import Settings
from banjian.temporal import connect
from banjian.tracing import temporal_interceptors
from tests.conftest import TEST_CONVERTER, TEST_PAYLOAD_KEYS, make_stack
from tests.failing_activity import CallsAFailingActivity, always_fails


def series(text: str, name: str, **labels: str) -> float:
    """The value of one series in Prometheus text (0 when absent)."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name + "{"):
            continue
        head, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return 0.0


@pytest.fixture(scope="module")
async def metered(temporal_env, tmp_path_factory):
    """A stack whose client runs on the metered Temporal runtime (as `connect` builds it)."""
    target = temporal_env.client.service_client.config.target_host
    client = await connect(Settings(temporal_address=target, payload_keys=TEST_PAYLOAD_KEYS))
    async for s in make_stack(temporal_env, client, tmp_path_factory.mktemp("metrics"), None):
        yield s


async def test_metrics_carry_app_and_temporal_series_after_a_case(metered):
    stack = metered
    applicant = stack.applicant()
    case = (await applicant.apply("food-business-licence")).json()
    clerk = stack.staff("amr", "clerk")
    assert (await clerk.act(case["id"], "accept", "材料齐全")).status_code == 200
    assert (await clerk.act(case["id"], "accept", "again")).status_code == 409
    other = (await applicant.apply("food-business-licence")).json()
    await stack.advance(other["id"], 10)  # deemed acceptance: a red card
    # a failing activity, twice (retried once)
    queue = f"failing-{uuid.uuid4().hex[:6]}"
    async with Worker(stack.client, task_queue=queue, workflows=[CallsAFailingActivity], activities=[always_fails],
                      interceptors=[ActivityMetrics()]):
        with pytest.raises(WorkflowFailureError):
            await stack.client.execute_workflow(CallsAFailingActivity.run, id=f"fails-{queue}", task_queue=queue)
    for _ in range(30):  # the SDK's buffer is drained every second: wait for its series to arrive
        r = await stack.http.get("/metrics")
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
        text = r.text
        if "temporal_activity_execution_failed" in text:
            break
        await asyncio.sleep(0.5)
    assert series(text, "banjian_http_requests_total", method="POST", route="/api/cases/{case_id}/actions",
                  status="200") >= 1
    assert series(text, "banjian_http_requests_total", route="/api/cases/{case_id}/actions", status="409") >= 1
    assert case["id"] not in text  # route templates, never ids
    assert series(text, "banjian_http_request_duration_seconds_count", route="/api/cases") >= 2
    assert series(text, "banjian_action_duration_seconds_count", action="accept", outcome="ok") >= 1
    assert series(text, "banjian_action_duration_seconds_count", action="open", outcome="ok") >= 2
    assert series(text, "banjian_cases", status="accepted") >= 2
    assert series(text, "banjian_warnings_total", level="red", cause="acceptance_overdue") >= 1
    assert series(text, "banjian_activity_failures_total", activity="always_fails", error="RuntimeError") >= 2
    temporal = [line for line in text.splitlines() if line.startswith("temporal_")]
    assert any(line.startswith("temporal_workflow_task_schedule_to_start_latency") or
               line.startswith("temporal_request") for line in temporal), text[-3000:]
    # (which SDK series appear depends on which worker of the test session reported last: the SDK's
    # runtime is one per process; the application's own failure counter is checked above)


async def test_metrics_token_when_set(stack, monkeypatch):
    monkeypatch.setattr(stack.app.state.settings, "metrics_token", "scrape-secret-1")
    assert (await stack.http.get("/metrics")).status_code == 401
    r = await stack.http.get("/metrics", headers={"Authorization": "Bearer scrape-secret-1"})
    assert r.status_code == 200


async def test_a_trace_runs_from_http_through_the_update_to_the_activity(temporal_env, tmp_path_factory):
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    target = temporal_env.client.service_client.config.target_host
    client = await Client.connect(target, data_converter=TEST_CONVERTER, interceptors=temporal_interceptors(provider))
    async for stack in make_stack(temporal_env, client, tmp_path_factory.mktemp("traces"), None,
                                  tracer_provider=provider):
        case = (await stack.applicant().apply("food-business-licence")).json()
        clerk = stack.staff("amr", "clerk")
        exporter.clear()
        assert (await clerk.act(case["id"], "accept", "材料齐全")).status_code == 200
    spans = exporter.get_finished_spans()
    by_id = {s.context.span_id: s for s in spans}

    def ancestors(span):
        while span.parent is not None and span.parent.span_id in by_id:
            span = by_id[span.parent.span_id]
            yield span

    http = [s for s in spans if s.name == "POST /api/cases/{case_id}/actions"]
    assert len(http) == 1, [s.name for s in spans]
    update = [s for s in spans if s.name.startswith("StartWorkflowUpdate:")]
    handled = [s for s in spans if s.name.startswith("HandleUpdate:")]
    run_activity = [s for s in spans if s.name.startswith("RunActivity:")]
    assert update and handled and run_activity, sorted({s.name for s in spans})
    # the request and the client's update call: one trace, the update's span a child of the request's
    assert update[0].context.trace_id == http[0].context.trace_id
    assert http[0] in ancestors(update[0])
    # temporalio's TracingInterceptor puts the workflow's spans in the workflow's own trace and links
    # the update handler to the caller's span (carried in the update's Temporal headers) ...
    handler = next(h for h in handled if h.name == "HandleUpdate:act")
    assert any(link.context.span_id == update[0].context.span_id and link.context.trace_id == http[0].context.trace_id
               for link in handler.links)
    # ... and the activities the update ran follow in that trace
    record = [a for a in run_activity if a.name in ("RunActivity:record_case", "RunActivity:record_transition")]
    assert record and all(a.context.trace_id == handler.context.trace_id for a in record)
    started = {s.context.span_id for s in spans if s.name in ("StartActivity:record_case", "StartActivity:record_transition")}
    assert any(a.parent.span_id in started for a in record)


async def test_a_json_log_line_carries_the_request_and_case_ids(stack, people):
    case = (await people.applicant(3).apply("food-business-licence")).json()
    out = io.StringIO()
    handler = configure_logging(Settings(log_format="json"), stream=out)
    try:
        r = await stack.http.get(f"/api/cases/{case['id']}",
                                 headers={**await people.clerk.headers(), "X-Request-Id": "req-test-42"})
        assert r.status_code == 200 and r.headers["x-request-id"] == "req-test-42"
        logging.getLogger("banjian.test").warning("after the request")
    finally:
        logging.getLogger().removeHandler(handler)
    lines = [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]
    access = [x for x in lines if x["logger"] == "banjian.http" and x.get("route") == "/api/cases/{case_id}"]
    assert access, lines
    line = access[-1]
    assert line["request_id"] == "req-test-42" and line["case_id"] == case["id"]
    assert line["status"] == 200 and line["method"] == "GET" and line["level"] == "INFO" and "time" in line
    outside = next(x for x in lines if x["logger"] == "banjian.test")
    assert outside["request_id"] is None and outside["case_id"] is None
    # without a caller's id, one is made and sent back
    r = await stack.http.get("/api/health")
    assert len(r.headers["x-request-id"]) == 32


def test_the_http_client_logs_requests_only_when_debugging():
    """Every feed POST used to log an `httpx` INFO line; failures are the feed's own warnings."""
    for level, expected in (("INFO", logging.WARNING), ("DEBUG", logging.DEBUG)):
        handler = configure_logging(Settings(log_level=level), stream=io.StringIO())
        try:
            assert logging.getLogger("httpx").level == expected
        finally:
            logging.getLogger().removeHandler(handler)
            logging.getLogger("httpx").setLevel(logging.NOTSET)


def test_metrics_of_several_processes_merge_into_one_text_labelled_by_process():
    from prometheus_client.parser import text_string_to_metric_families

    from banjian.metrics import merged

    api = (b'# HELP banjian_warnings_total Warnings\n# TYPE banjian_warnings_total counter\n'
           b'banjian_warnings_total{level="red",cause="statutory_overdue"} 2.0\n'
           b'# HELP up_check Up\n# TYPE up_check gauge\nup_check{process="worker1"} 0.0\n')
    worker = (b'# HELP banjian_warnings_total Warnings\n# TYPE banjian_warnings_total counter\n'
              b'banjian_warnings_total{level="red",cause="statutory_overdue"} 3.0\n')
    families = {f.name: f for f in text_string_to_metric_families(merged({"api": api, "worker1": worker}).decode())}
    warnings = families["banjian_warnings"]
    assert warnings.type == "counter"
    assert sorted((s.labels["process"], s.value) for s in warnings.samples) == [("api", 2.0), ("worker1", 3.0)]
    # a sample that names its process already keeps it
    assert [s.labels["process"] for s in families["up_check"].samples] == ["worker1"]


def test_the_log_follows_stderr_when_a_caller_swaps_and_closes_it(monkeypatch):
    """An in-process command (the CLI under a test runner) swaps sys.stderr and closes it afterwards:
    later records go to the current stderr, never into the closed one ('--- Logging error ---')."""
    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    handler = configure_logging(Settings())
    try:
        logging.getLogger("banjian.test").warning("one")
        first.close()
        monkeypatch.setattr(sys, "stderr", second)
        logging.getLogger("banjian.test").warning("two")
    finally:
        logging.getLogger().removeHandler(handler)
    assert "two" in second.getvalue() and "Logging error" not in second.getvalue()
