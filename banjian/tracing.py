"""OpenTelemetry tracing, off by default: HTTP request → Temporal update → workflow → activity.

`BANJIAN_TRACING=otlp` exports spans over OTLP/HTTP to `BANJIAN_OTLP_ENDPOINT` (default: the
exporter's own, http://localhost:4318/v1/traces); `console` prints them (for a look). The API is
instrumented with opentelemetry-instrumentation-fastapi; Temporal clients and workers carry
temporalio's `TracingInterceptor`, which passes the context in Temporal headers, so one trace
runs from the request through the update and the workflow into its activities.
"""
from __future__ import annotations

from functools import cache
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from temporalio import client as tclient

from banjian.settings import Settings


@cache
def _provider(mode: str, endpoint: str | None, service: str) -> TracerProvider:
    exporter: SpanExporter
    if mode == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=endpoint) if endpoint else OTLPSpanExporter()
    else:
        exporter = ConsoleSpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    return provider


def tracer_provider(settings: Settings) -> TracerProvider | None:
    """The process's tracer provider as the settings describe it, or None (tracing off)."""
    if settings.tracing == "off":
        return None
    return _provider(settings.tracing, settings.otlp_endpoint, settings.service_name)


def temporal_interceptors(provider: Any | None) -> list[tclient.Interceptor]:
    """Interceptors for a Temporal client (its workers inherit them): tracing when a provider is given."""
    if provider is None:
        return []
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor(provider.get_tracer("banjian.temporal"))]


def instrument_app(app: Any, provider: Any | None) -> None:
    """Spans for every HTTP request of the API (the health probe and /metrics excluded)."""
    if provider is None:
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    FastAPIInstrumentor.instrument_app(app, tracer_provider=provider, excluded_urls="/metrics,/api/health")
