"""One pledge, one trace: from intake's POST through pledge-intake, the certificate renderer, the
dispatcher and the email channel to the SMTP send, across real HTTP and real broker hops.

All five services run in this test's process (intake on a real socket, the four workers as
`Service`s with their real bootstraps, as `run_service` starts them), against the session's
RabbitMQ node, the Mongo-wire server and the SMTP sink, with an in-memory span exporter attached
through `configure_tracing(span_processors=...)`. In one process they share one tracer provider,
so a span's service is told by its consumer group, not by its resource. A second test checks the
OTLP/HTTP exporter as production configures it, against a tiny receiver.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Iterator
from fnmatch import fnmatch
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from devstack.broker import RabbitNode
from services.certificates.app import CertificateSettings
from services.certificates.app import bootstrap as renderer_bootstrap
from services.certificates.app import router as renderer_router
from services.channels.email.adapter import EmailAdapter, EmailSettings
from services.dispatcher.app import DispatcherSettings
from services.dispatcher.app import bootstrap as dispatcher_bootstrap
from services.dispatcher.app import router as dispatcher_router
from services.pledge_intake.app import bootstrap as pledge_intake_bootstrap
from services.pledge_intake.app import router as pledge_intake_router
from shared import tracing
from shared.channels.service import channel_bootstrap, channel_router
from shared.service import Service
from shared.settings import ServiceSettings
from shared.tracing import TracingSettings, configure_tracing, shutdown_tracing
from tests.support.http import serve
from tests.support.infra import MailSink

pytestmark = pytest.mark.timeout(240)

EMAIL = "dara.trace@example.org"
NAME = "Sok Dara Trace"


@pytest.fixture
def exporter() -> Iterator[InMemorySpanExporter]:
    spans = InMemorySpanExporter()
    configure_tracing(
        "samleng-test", TracingSettings(_env_file=None), span_processors=[SimpleSpanProcessor(spans)]
    )
    yield spans
    shutdown_tracing()


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailSink]:
    sink = MailSink(tmp_path / "mail-run").start()
    yield sink
    sink.stop()


@pytest.fixture
async def workers(
    service_env: dict[str, str], rabbit: RabbitNode, mongo_uri: str, db_name: str, mail: MailSink
) -> AsyncIterator[list[Service[Any]]]:
    """pledge-intake, certificate-renderer, alert-dispatcher and the email channel, started."""
    common: dict[str, Any] = {
        "_env_file": None,
        "amqp_url": rabbit.url,
        "mongodb_uri": mongo_uri,
        "mongodb_database": db_name,
        "retry_delays_ms": [300, 900],
        "shutdown_grace_seconds": 5,
    }
    services: list[Service[Any]] = [
        Service(pledge_intake_router, ServiceSettings(**common), pledge_intake_bootstrap),
        Service(renderer_router, CertificateSettings(**common, render_threads=1), renderer_bootstrap),
        Service(
            dispatcher_router,
            DispatcherSettings(**common, public_base_url="https://pledge.example.org"),
            dispatcher_bootstrap,
        ),
        Service(
            channel_router(EmailAdapter),
            EmailSettings(**common, SMTP_HOST="127.0.0.1", SMTP_PORT=mail.smtp_port),
            channel_bootstrap(EmailAdapter),
        ),
    ]
    started: list[Service[Any]] = []
    try:
        for service in services:
            await service.start()
            started.append(service)
        yield started
    finally:
        for service in reversed(started):
            await service.stop()


async def wait_for(check: Callable[[], Any], what: str, timeout: float = 120.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = await check()
        if found:
            return found
        await asyncio.sleep(0.2)
    raise AssertionError(f"no {what} within {timeout:.0f}s")


def one(spans: list[ReadableSpan], name: str, kind: SpanKind, group: str = "*") -> ReadableSpan:
    """The one span of this kind whose name (and consumer group) match the patterns."""
    found = [
        s
        for s in spans
        if fnmatch(s.name, name)
        and s.kind == kind
        and fnmatch(str((s.attributes or {}).get("messaging.consumer.group.name", "")), group)
    ]
    assert len(found) == 1, (name, group, [s.name for s in spans])
    return found[0]


def parent_of(child: ReadableSpan, parent: ReadableSpan) -> bool:
    assert child.parent is not None and parent.context is not None
    return bool(child.parent.span_id == parent.context.span_id)


async def test_one_pledge_is_one_trace_from_the_post_to_the_smtp_send(
    make_intake: Callable[..., Any],
    workers: list[Service[Any]],
    mail: MailSink,
    exporter: InMemorySpanExporter,
) -> None:
    async with make_intake() as intake, httpx.AsyncClient(base_url=intake, timeout=30) as client:
        accepted = await client.post(
            "/api/v1/pledges",
            json={"name": NAME, "country": "US", "channels": ["email"], "email": EMAIL, "consent": True},
        )
        assert accepted.status_code == 202, accepted.text

        async def mailed() -> bool:
            listing: list[Any] = (await client.get(f"{mail.url}/api/v1/messages")).json()["messages"]
            return bool(listing)

        await wait_for(mailed, "email in the sink")

        def sent() -> list[ReadableSpan]:
            return [s for s in exporter.get_finished_spans() if s.name == "email send"]

        async def send_span_finished() -> list[ReadableSpan]:
            return sent()

        await wait_for(send_span_finished, "finished `email send` span", timeout=30)

    spans = list(exporter.get_finished_spans())
    server = one(spans, "POST /api/v1/pledges", SpanKind.SERVER)
    assert server.context is not None
    trace = [s for s in spans if s.context is not None and s.context.trace_id == server.context.trace_id]

    submitted = one(trace, "pledge.submitted.v1 publish", SpanKind.PRODUCER)
    intake_process = one(trace, "pledge.submitted.v1 process", SpanKind.CONSUMER, "pledge-intake")
    recorded = one(trace, "pledge.recorded.v1 publish", SpanKind.PRODUCER)
    render = one(trace, "pledge.recorded.v1 process", SpanKind.CONSUMER, "certificate-renderer")
    issued = one(trace, "certificate.issued.v1 publish", SpanKind.PRODUCER)
    dispatch = one(trace, "certificate.issued.v1 process", SpanKind.CONSUMER, "alert-dispatcher")
    requested = one(trace, "delivery.requested.v1.email.* publish", SpanKind.PRODUCER)
    deliver = one(
        trace, "delivery.requested.v1 process", SpanKind.CONSUMER, "channel-email.*"
    )  # certificates: band low
    send = one(trace, "email send", SpanKind.CLIENT)

    chain = [
        (submitted, server),
        (intake_process, submitted),
        (recorded, intake_process),
        (render, recorded),
        (issued, render),
        (dispatch, issued),
        (requested, dispatch),
        (deliver, requested),
        (send, deliver),
    ]
    broken = [(child.name, parent.name) for child, parent in chain if not parent_of(child, parent)]
    assert broken == []
    assert (send.attributes or {})["samleng.outcome"] == "sent"
    for process in (intake_process, render, dispatch, deliver):
        assert (process.attributes or {})["samleng.outcome"] == "ack"

    pledge_id = accepted.json()["pledge_id"]
    for item in spans:  # nothing personal, and no ids from URL paths, in any span
        text = repr((item.name, dict(item.attributes or {}), [dict(e.attributes or {}) for e in item.events]))
        assert EMAIL not in text and NAME not in text and pledge_id not in text, text


async def test_spans_are_exported_over_otlp_http_when_an_endpoint_is_set() -> None:
    """The exporter as production configures it, against a tiny OTLP/HTTP receiver."""
    received: list[ExportTraceServiceRequest] = []

    async def traces(request: Request) -> Response:
        received.append(ExportTraceServiceRequest.FromString(await request.body()))
        return Response(b"", media_type="application/x-protobuf")

    async with serve(Starlette(routes=[Route("/v1/traces", traces, methods=["POST"])])) as collector:
        settings = TracingSettings(_env_file=None, exporter_otlp_endpoint=collector)
        assert configure_tracing("pledge-intake", settings) is not None
        with tracing.publishing("pledge.recorded.v1", "event-1"):
            pass
        await asyncio.to_thread(shutdown_tracing)  # flushes; the receiver runs in this loop
    [export] = received
    [resource_spans] = export.resource_spans
    resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
    assert resource["service.name"] == "pledge-intake"
    [span] = [s for scope in resource_spans.scope_spans for s in scope.spans]
    assert span.name == "pledge.recorded.v1 publish"
