"""Traces across HTTP and broker hops (OpenTelemetry), exported over OTLP/HTTP when configured.

One trace follows a pledge from the POST that submitted it to the provider call that delivered
its certificate; each hop's span is the parent of the next:

    SERVER    POST /api/v1/pledges                   intake (shared/http_telemetry.py)
    PRODUCER  pledge.submitted.v1 publish            Publisher.publish
    CONSUMER  pledge.submitted.v1 process            pledge-intake (Consumer)
    PRODUCER  pledge.recorded.v1 publish
    CONSUMER  pledge.recorded.v1 process             certificate-renderer
    ...       certificate.issued.v1 / delivery.requested.v1 ...
    CLIENT    email send                             the channel runner, around `adapter.send()`

Between processes the context travels in two AMQP headers, `traceparent` and `tracestate` (W3C
Trace Context), and in nothing else: no baggage, so nothing a client sends along reaches the
broker. Span names and attributes carry routing keys, event and delivery ids, channel names and
outcomes; never payload fields, addresses, message text or URL paths (they hold tokens).

Configuration is the standard OpenTelemetry environment (see .env.example):

    OTEL_SDK_DISABLED=true                    no tracing at all
    OTEL_EXPORTER_OTLP_ENDPOINT               e.g. http://collector:4318 (OTLP/HTTP; /v1/traces added)
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT        the full traces URL instead
    OTEL_EXPORTER_OTLP_HEADERS                e.g. authorization for a hosted collector (a secret)

Without an endpoint no SDK is set up: the tracer is a no-op that still hands an incoming trace
context on, so such a process costs next to nothing and is a transparent hop in other processes'
traces. Tests attach their own span processor: `configure_tracing(..., span_processors=[...])`.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.util.re import parse_env_headers
from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

INSTRUMENTATION = "samleng"
TRACE_HEADERS = frozenset({"traceparent", "tracestate"})
PROPAGATOR = TraceContextTextMapPropagator()

OUTCOME = "samleng.outcome"
ERROR_TYPE = "error.type"


class TracingSettings(BaseSettings):
    """The standard OpenTelemetry variables Samleng reads itself (the SDK reads the others, e.g.
    OTEL_TRACES_SAMPLER, OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_TIMEOUT, from the environment)."""

    model_config = SettingsConfigDict(
        env_prefix="OTEL_", env_file=".env", extra="ignore", env_ignore_empty=True
    )

    sdk_disabled: bool = Field(default=False, description="true = no tracing at all.")
    exporter_otlp_endpoint: str | None = Field(
        default=None, description="OTLP/HTTP base URL, e.g. http://collector:4318; unset = no export."
    )
    exporter_otlp_traces_endpoint: str | None = Field(
        default=None, description="Full OTLP/HTTP traces URL; overrides the base URL for traces."
    )
    exporter_otlp_headers: SecretStr | None = Field(
        default=None, description="`key=value,...` sent with every export (e.g. an API key)."
    )

    @property
    def traces_endpoint(self) -> str | None:
        if self.exporter_otlp_traces_endpoint:
            return self.exporter_otlp_traces_endpoint
        if self.exporter_otlp_endpoint:
            return self.exporter_otlp_endpoint.rstrip("/") + "/v1/traces"
        return None


@dataclass
class _State:
    provider: TracerProvider | None
    tracer: trace.Tracer


_NO_OP = trace.NoOpTracer()
_state = _State(provider=None, tracer=_NO_OP)


def configure_tracing(
    service_name: str,
    settings: TracingSettings | None = None,
    *,
    span_processors: Sequence[SpanProcessor] = (),
) -> TracerProvider | None:
    """Set up this process's tracing; the provider, or None when nothing would record spans.

    An OTLP/HTTP exporter (batched, in the background) is added only when an endpoint is set;
    `span_processors` are added as well (tests: an in-memory exporter). Call `shutdown_tracing()`
    at stop to flush. Calling it again replaces the previous setup (after shutting it down).
    """
    settings = settings or TracingSettings()
    shutdown_tracing()
    endpoint = settings.traces_endpoint
    if settings.sdk_disabled or (endpoint is None and not span_processors):
        return None
    resource = Resource.create(
        {
            "service.name": service_name,
            "service.namespace": "samleng",
            "service.instance.id": f"{socket.gethostname()}:{os.getpid()}",
        }
    )
    provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    if endpoint is not None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        headers = settings.exporter_otlp_headers
        exporter = OTLPSpanExporter(
            endpoint=endpoint,
            headers=parse_env_headers(headers.get_secret_value(), liberal=True) if headers else None,
        )
        provider.add_span_processor(BatchSpanProcessor(exporter))
    for processor in span_processors:
        provider.add_span_processor(processor)
    _state.provider = provider
    _state.tracer = provider.get_tracer(INSTRUMENTATION)
    return provider


def shutdown_tracing() -> None:
    """Flush and stop the exporter; afterwards spans are no longer recorded."""
    provider, _state.provider, _state.tracer = _state.provider, None, _NO_OP
    if provider is not None:
        provider.shutdown()


def tracer_provider() -> TracerProvider | None:
    """The provider `configure_tracing()` set up, or None (tests add processors to it)."""
    return _state.provider


def tracer() -> trace.Tracer:
    return _state.tracer


@contextmanager
def span(
    name: str,
    kind: SpanKind,
    attributes: Mapping[str, str | int | bool],
    context: Context | None = None,
) -> Iterator[Span]:
    """A current span that records an escaping exception by its type only: exception messages
    may hold personal data (an address in an SMTP reply), so they never reach a span."""
    with _state.tracer.start_as_current_span(
        name,
        context=context,
        kind=kind,
        attributes=attributes,
        record_exception=False,
        set_status_on_exception=False,
    ) as current:
        try:
            yield current
        except BaseException as error:
            failed(current, error)
            raise


def failed(target: Span, error: BaseException | str) -> None:
    """Mark a span failed with the error's type (or a short stable reason), never its message."""
    kind = error if isinstance(error, str) else type(error).__qualname__
    target.set_attribute(ERROR_TYPE, kind)
    target.set_status(StatusCode.ERROR, kind)


def mark_outcome(outcome: str, error: BaseException | str | None = None) -> None:
    """Record what became of the current span's work (ack, retry, dead_letter, sent, ...)."""
    current = trace.get_current_span()
    current.set_attribute(OUTCOME, outcome)
    if error is not None:
        failed(current, error)


# ---- W3C trace context in AMQP and HTTP headers ----------------------------------------------


def trace_headers(context: Context | None = None) -> dict[str, str]:
    """`traceparent` (and `tracestate`) of the current span, for a message's headers; empty
    when there is no trace."""
    carrier: dict[str, str] = {}
    PROPAGATOR.inject(carrier, context)
    return carrier


class _HeaderGetter(Getter[Mapping[str, Any]]):
    """AMQP header values arrive as str or bytes; only the trace headers are ever read."""

    def get(self, carrier: Mapping[str, Any], key: str) -> list[str] | None:
        value = carrier.get(key)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        return [value] if isinstance(value, str) else None

    def keys(self, carrier: Mapping[str, Any]) -> list[str]:
        return [key for key in carrier if key in TRACE_HEADERS]


_GETTER = _HeaderGetter()


def context_from(headers: Mapping[str, Any] | None) -> Context:
    """The trace context a message or request carried; without one, an empty context, so the
    span starts a new trace rather than joining whatever happens to be current."""
    if not headers or "traceparent" not in headers:
        return Context()
    return PROPAGATOR.extract(headers, context=Context(), getter=_GETTER)


def http_headers(raw: Sequence[tuple[bytes, bytes]]) -> dict[str, bytes]:
    """The trace headers of an ASGI request (names are lower-case bytes)."""
    return {name.decode("latin-1"): value for name, value in raw if name in (b"traceparent", b"tracestate")}


def trace_id() -> str | None:
    """The current trace id (hex), for log lines that should lead to their trace."""
    context = trace.get_current_span().get_span_context()
    return trace.format_trace_id(context.trace_id) if context.is_valid else None


# ---- broker hops -------------------------------------------------------------------------------

MESSAGING = {"messaging.system": "rabbitmq"}


@contextmanager
def publishing(routing_key: str, message_id: str) -> Iterator[Span]:
    """The PRODUCER span of one publish; `trace_headers()` inside it names it as the parent."""
    with span(
        f"{routing_key} publish",
        SpanKind.PRODUCER,
        {
            **MESSAGING,
            "messaging.operation.type": "publish",
            "messaging.destination.name": routing_key,
            "messaging.message.id": message_id,
        },
    ) as current:
        yield current


@contextmanager
def processing(
    event_type: str,
    headers: Mapping[str, Any] | None,
    *,
    message_id: str | None,
    queue: str,
    group: str,
    attempt: int,
) -> Iterator[Span]:
    """The CONSUMER span of handling one message, child of the span that published it."""
    with span(
        f"{event_type} process",
        SpanKind.CONSUMER,
        {
            **MESSAGING,
            "messaging.operation.type": "process",
            "messaging.destination.name": queue,
            "messaging.consumer.group.name": group,
            "messaging.message.id": message_id or "",
            "samleng.event.type": event_type,
            "samleng.attempt": attempt,
        },
        context_from(headers),
    ) as current:
        yield current
