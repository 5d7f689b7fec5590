"""What tracing adds to messages, spans and HTTP metrics, and what it never adds: personal data
in AMQP headers or span attributes, raw URL paths (tokens) in span names or metric labels."""

from __future__ import annotations

from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from opentelemetry import trace
from opentelemetry.context import attach, detach
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY

from services.intake.app import create_app
from shared import tracing
from shared.contracts.pledge import PledgeSubmitted
from shared.contracts.pledge_input import PledgeInput, build_submission, validate_pledge
from shared.health import health_routes
from shared.http_telemetry import install_http_telemetry
from shared.messaging.consumer import ATTEMPT_HEADER, copy_message
from shared.messaging.publisher import Publisher
from tests.service.conftest import intake_settings

EMAIL = "dara@example.org"
NAME = "Sok Dara"
UPSTREAM = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
TOKEN = "tok_s3cr3t_0123456789abcdef"


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing(
        "unit", tracing.TracingSettings(_env_file=None), span_processors=[SimpleSpanProcessor(exporter)]
    )
    yield exporter
    tracing.shutdown_tracing()


class Exchange:
    """Records what would have gone to the broker."""

    def __init__(self) -> None:
        self.published: list[tuple[Any, str]] = []

    async def publish(self, message: Any, routing_key: str, **options: Any) -> None:
        self.published.append((message, routing_key))


def publisher() -> tuple[Publisher, Exchange]:
    exchange = Exchange()
    return Publisher(None, exchange), exchange  # type: ignore[arg-type]


def pledge() -> PledgeSubmitted:
    raw = PledgeInput(name=NAME, country="US", channels=["email"], email=EMAIL, consent=True)
    valid, errors = validate_pledge(raw, "en")
    assert valid is not None, errors
    return build_submission("pl_unit_0000000000000000000000000000000000", valid, "api", "en", "v1")


def only(exporter: InMemorySpanExporter) -> ReadableSpan:
    [span] = exporter.get_finished_spans()
    return span


def ids(span: ReadableSpan) -> tuple[str, str]:
    assert span.context is not None
    return trace.format_trace_id(span.context.trace_id), trace.format_span_id(span.context.span_id)


async def test_a_published_message_gains_only_the_traceparent_of_its_producer_span(
    spans: InMemorySpanExporter,
) -> None:
    event = pledge()
    sender, exchange = publisher()
    await sender.publish(event)
    [(message, routing_key)] = exchange.published
    assert set(message.headers) == {"traceparent"}
    producer = only(spans)
    trace_id, span_id = ids(producer)
    assert message.headers["traceparent"].split("-")[1:3] == [trace_id, span_id]
    assert producer.name == "pledge.submitted.v1 publish" and producer.kind == SpanKind.PRODUCER
    assert dict(producer.attributes or {}) == {
        "messaging.system": "rabbitmq",
        "messaging.operation.type": "publish",
        "messaging.destination.name": routing_key,
        "messaging.message.id": str(event.event_id),
    }


async def test_baggage_a_caller_sent_never_reaches_the_broker(spans: InMemorySpanExporter) -> None:
    incoming = {"traceparent": UPSTREAM, "tracestate": "vendor=abc", "baggage": f"email={EMAIL}"}
    sender, exchange = publisher()
    token = attach(tracing.context_from(incoming))
    try:
        await sender.publish(pledge())
    finally:
        detach(token)
    [(message, _)] = exchange.published
    assert set(message.headers) == {"traceparent", "tracestate"}
    assert message.headers["tracestate"] == "vendor=abc"
    assert message.headers["traceparent"].split("-")[1] == UPSTREAM.split("-")[1], "same trace"
    assert EMAIL not in repr(message.headers)


async def test_without_an_exporter_nothing_is_recorded_but_an_incoming_trace_passes_on() -> None:
    assert tracing.configure_tracing("unit", tracing.TracingSettings(_env_file=None)) is None
    sender, exchange = publisher()
    await sender.publish(pledge())  # no trace to continue: no header at all
    token = attach(tracing.context_from({"traceparent": UPSTREAM}))
    try:
        await sender.publish(pledge())
    finally:
        detach(token)
    (first, _), (second, _) = exchange.published
    assert first.headers == {}
    assert second.headers == {"traceparent": UPSTREAM}, "a process without exporter is a transparent hop"


def test_the_exporter_is_configured_by_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/")
    assert tracing.TracingSettings(_env_file=None).traces_endpoint == "http://collector:4318/v1/traces"
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    full = tracing.TracingSettings(
        _env_file=None,
        exporter_otlp_endpoint="http://collector:4318",
        exporter_otlp_traces_endpoint="http://tempo:4318/v1/traces",
    )
    assert full.traces_endpoint == "http://tempo:4318/v1/traces"
    disabled = tracing.TracingSettings(
        _env_file=None, sdk_disabled=True, exporter_otlp_endpoint="http://collector:4318"
    )
    assert tracing.configure_tracing("unit", disabled) is None
    assert tracing.tracer_provider() is None


def test_retry_and_dead_letter_copies_keep_the_trace_context() -> None:
    incoming = SimpleNamespace(
        body=b"{}",
        content_type="application/json",
        content_encoding="utf-8",
        message_id="m1",
        correlation_id="c1",
        type="pledge.submitted.v1",
        routing_key="pledge.submitted.v1",
        timestamp=None,
        headers={"traceparent": UPSTREAM, "tracestate": "vendor=abc", "x-death": [{"count": 1}]},
    )
    copy = copy_message(incoming, {ATTEMPT_HEADER: 2})  # type: ignore[arg-type]
    assert copy.headers is not None
    assert copy.headers["traceparent"] == UPSTREAM and copy.headers["tracestate"] == "vendor=abc"


def samples(service: str) -> dict[tuple[str, str, str], float]:
    """Request counts of one service's HTTP histogram, by (method, route, status) (the registry
    is the process's: compare before and after)."""
    found = {}
    for metric in REGISTRY.collect():
        if metric.name != "samleng_http_request_seconds":
            continue
        for sample in metric.samples:
            labels = sample.labels
            if sample.name.endswith("_count") and labels["service"] == service:
                found[(labels["method"], labels["route"], labels["status"])] = sample.value
    return found


def webhook_app(service: str) -> FastAPI:
    app = FastAPI()
    install_http_telemetry(app, service)

    webhooks = APIRouter()

    @webhooks.get("/u/{token}")
    async def unsubscribe(token: str) -> dict[str, str]:
        return {"ok": "yes"}

    app.include_router(webhooks, prefix="/hooks")  # the route's template carries the prefix

    async def ready() -> dict[str, bool]:
        return {"all": True}

    for route in health_routes(service, ready):
        app.router.routes.append(route)
    return app


async def test_http_spans_and_metrics_name_the_route_template_never_the_path(
    spans: InMemorySpanExporter,
) -> None:
    transport = httpx.ASGITransport(app=webhook_app("unit-web"))
    before = samples("unit-web")
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.get(f"/hooks/u/{TOKEN}", headers={"traceparent": UPSTREAM})).status_code == 200
        assert (await client.get(f"/nothing/{TOKEN}")).status_code == 404
        assert (await client.get("/health/live")).status_code == 200
    after = samples("unit-web")
    counted = {key: value - before.get(key, 0) for key, value in after.items()}
    assert counted == {
        ("GET", "/hooks/u/{token}", "200"): 1.0,
        ("GET", "unmatched", "404"): 1.0,
        ("GET", "/health/live", "200"): 1.0,
    }
    [served] = spans.get_finished_spans()  # neither the health probe nor the 404 made a span
    assert served.name == "GET /hooks/u/{token}" and served.kind == SpanKind.SERVER
    assert served.parent is not None
    assert trace.format_span_id(served.parent.span_id) == UPSTREAM.split("-")[2]
    assert dict(served.attributes or {}) == {
        "http.request.method": "GET",
        "http.route": "/hooks/u/{token}",
        "url.scheme": "http",
        "http.response.status_code": 200,
    }


async def test_intake_counts_its_requests_by_route_template() -> None:
    app = create_app(intake_settings("amqp://unused", "mongodb://unused", "unused"))
    transport = httpx.ASGITransport(app=app)
    key = ("GET", "/api/v1/pledges/{pledge_id}", "404")
    before = samples("intake").get(key, 0)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/api/v1/pledges/pl_not_a_real_id")
    assert response.status_code == 404
    assert samples("intake").get(key) == before + 1
    assert not any("pl_not_a_real_id" in route for _, route, _ in samples("intake"))
