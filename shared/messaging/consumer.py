"""The consumer runner: one per consumer group, written once, used by every service.

For each message it parses the envelope into its contract, calls the handler with the attempt
number, and maps the outcome (see errors.py):

    handler returns            -> ack
    RetryableError / other     -> copy into the next retry tier (attempt + 1), then ack
    (incl. PublishFailed)         (a failed follow-up publish, e.g. unroutable, is retried too);
                                  after the last tier -> dead-letter queue, reason `retries-exhausted`
    PermanentError             -> dead-letter queue at once, with the handler's reason
    OutcomeUnknownError        -> dead-letter queue, reason `outcome-unknown` (reconcile, never resend)
    invalid body / unknown type-> dead-letter queue, reason `invalid-payload` / `unknown-type`
    sealed, subject erased     -> ack and drop (the person was erased: their data key is gone)
    sealed, no vault here      -> retried like RetryableError, reason `no-master-key`

A sealed message (an event about a person, shared/messaging/publisher.py `sealed_body`) is opened
with the process's vault before it is validated; the handler sees the plain event.

The `x-samleng-error` header and the log lines describe a failure by the exception's type and
safe fields (shared.observability.describe_error): never its text, which may echo personal data.
Each dead letter expires after RETENTION_DEAD_LETTER_DAYS (a per-message TTL; shared/retention.py).

A copy is acked only after the broker confirmed the copy, so a crash in between can duplicate a
message but never lose one; handlers are idempotent (unique keys). A consumer killed mid-message
leaves it unacked: the broker redelivers it, and after `delivery_limit` such crashes dead-letters it.

Each message is handled inside a CONSUMER span `<type> process` whose parent is the publisher's
span (the `traceparent` header; retry and dead-letter copies keep it), so what a handler publishes
joins the same trace (shared/tracing.py). Its log lines carry the `trace_id`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import aio_pika
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractQueue
from pydantic import ValidationError

from shared import tracing
from shared.contracts import Event
from shared.messaging.errors import HandlerError, PermanentError, PublishFailed, RetryableError
from shared.messaging.publisher import SEALED_KEY, Publisher
from shared.messaging.topology import ConsumerGroup, declare_group
from shared.observability import (
    HANDLER_SECONDS,
    IN_FLIGHT,
    MESSAGES_CONSUMED,
    describe_error,
    describe_validation_error,
    scrub_text,
)
from shared.personal_data import PersonalDataUnreadable, Vault
from shared.retention import RetentionSettings


class NoMasterKey(RetryableError):
    """A sealed message reached a process without the master key (a configuration error)."""


ATTEMPT_HEADER = "x-samleng-attempt"
REASON_HEADER = "x-samleng-reason"
ERROR_HEADER = "x-samleng-error"
FAILED_AT_HEADER = "x-samleng-failed-at"
QUEUE_HEADER = "x-samleng-queue"

DepsT = TypeVar("DepsT")
EventT_co = TypeVar("EventT_co", bound=Event[Any])


class MessageContext(Generic[DepsT]):
    """What a handler knows besides the event: its dependencies and the delivery facts.

    `log` is bound to the message (type, id, correlation, attempt) on first use only, so the
    common path pays nothing for it.
    """

    __slots__ = (
        "_log",
        "_message",
        "_queue_log",
        "attempt",
        "deps",
        "max_attempts",
        "publisher",
        "redelivered",
    )

    def __init__(
        self,
        deps: DepsT,
        attempt: int,
        max_attempts: int,
        redelivered: bool,
        publisher: Publisher,
        message: AbstractIncomingMessage | None = None,
        queue_log: Any = None,
    ) -> None:
        self.deps = deps
        self.attempt = attempt
        self.max_attempts = max_attempts
        self.redelivered = redelivered
        self.publisher = publisher
        self._message = message
        self._queue_log = queue_log
        self._log: Any = None

    @property
    def log(self) -> Any:
        if self._log is None:
            base = self._queue_log or structlog.stdlib.get_logger("samleng.consumer")
            self._log = _bind_message(base, self._message, self.attempt) if self._message else base
        return self._log

    async def publish(self, event: Event[Any]) -> None:
        await self.publisher.publish(event)


def _bind_message(log: Any, message: AbstractIncomingMessage, attempt: int) -> Any:
    log = log.bind(
        event_type=message.type or message.routing_key,
        event_id=message.message_id,
        correlation_id=message.correlation_id,
        attempt=attempt,
    )
    trace_id = tracing.trace_id()
    return log.bind(trace_id=trace_id) if trace_id else log


Handler = Callable[[Any, MessageContext[Any]], Awaitable[None]]


@dataclass(frozen=True)
class _TypeMetrics:
    acked: Any
    seconds: Any


@dataclass(frozen=True)
class Subscription:
    event_cls: type[Event[Any]]
    handler: Handler
    binding: str = ""

    @property
    def routing_key(self) -> str:
        """What the group's queue is bound to: the event type, or a narrower/wider pattern."""
        return self.binding or self.event_cls.event_type()


def attempt_of(message: AbstractIncomingMessage) -> int:
    value = (message.headers or {}).get(ATTEMPT_HEADER, 1)
    try:
        return max(1, int(value))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return 1


class Consumer(Generic[DepsT]):
    def __init__(
        self,
        group: ConsumerGroup,
        subscriptions: Mapping[str, Subscription],
        deps: DepsT,
        publisher: Publisher,
        *,
        dead_letter_ttl_ms: int | None = None,
    ) -> None:
        self.group = group
        self.vault: Vault | None = publisher.vault
        self._dead_letter_ttl_ms = dead_letter_ttl_ms or RetentionSettings().dead_letter_ttl_ms
        self._subscriptions = dict(subscriptions)
        self._deps = deps
        self._publisher = publisher
        self._queue: AbstractQueue | None = None
        self._consumer_tag: str | None = None
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._log = structlog.stdlib.get_logger("samleng.consumer").bind(queue=group.queue)
        self._metric_cache: dict[str, _TypeMetrics] = {}
        self._in_flight_gauge = IN_FLIGHT.labels(group.queue)

    @property
    def consuming(self) -> bool:
        return self._consumer_tag is not None

    async def start(self, channel: AbstractChannel, prefetch: int) -> None:
        await channel.set_qos(prefetch_count=prefetch)
        self._queue = await declare_group(channel, self.group)
        self._consumer_tag = await self._queue.consume(self._on_message)
        self._log.info("consuming", routing_keys=list(self.group.routing_keys), prefetch=prefetch)

    async def stop(self, grace_seconds: float) -> None:
        """Stop taking messages, let in-flight ones finish; unfinished ones go back to the queue."""
        if self._queue is not None and self._consumer_tag is not None:
            try:
                await self._queue.cancel(self._consumer_tag)
            except Exception as error:  # the channel may already be gone; the broker requeues
                self._log.warning("cancel failed", error=describe_error(error))
        self._consumer_tag = None
        if self._in_flight:
            self._log.info("draining in-flight messages", count=len(self._in_flight))
            _, pending = await asyncio.wait(self._in_flight, timeout=grace_seconds)
            for task in pending:
                task.cancel()

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        self._in_flight_gauge.inc()
        try:
            await self._process(message)
        finally:
            self._in_flight_gauge.dec()
            if task is not None:
                self._in_flight.discard(task)

    async def _process(self, message: AbstractIncomingMessage) -> None:
        """Handle one message inside its CONSUMER span, the child of the span that published it."""
        event_type = message.type or message.routing_key or ""
        attempt = attempt_of(message)
        with tracing.processing(
            event_type,
            message.headers,
            message_id=message.message_id,
            queue=self.group.queue,
            group=self.group.name,
            attempt=attempt,
        ):
            await self._handle(message, event_type, attempt)

    async def _handle(self, message: AbstractIncomingMessage, event_type: str, attempt: int) -> None:
        subscription = self._subscriptions.get(event_type)
        if subscription is None:
            log = _bind_message(self._log, message, attempt)
            await self._dead_letter(message, "unknown-type", f"no handler for type {event_type!r}", log)
            return
        try:
            event = await self._parse(subscription.event_cls, message.body)
        except PersonalDataUnreadable:
            log = _bind_message(self._log, message, attempt)
            await message.ack()
            MESSAGES_CONSUMED.labels(self.group.queue, event_type, "erased").inc()
            tracing.mark_outcome("ack")
            log.info("dropped: its person was erased (data key gone)")
            return
        except NoMasterKey as error:
            log = _bind_message(self._log, message, attempt)
            await self._retry_or_dead_letter(message, attempt, error, log)
            return
        except ValidationError as invalid:
            log = _bind_message(self._log, message, attempt)
            await self._dead_letter(message, "invalid-payload", describe_validation_error(invalid), log)
            return
        ctx = MessageContext(
            self._deps,
            attempt,
            self.group.max_attempts,
            bool(message.redelivered),
            self._publisher,
            message,
            self._log,
        )
        metrics = self._metrics(event_type)
        started = time.perf_counter()
        try:
            await subscription.handler(event, ctx)
        except PermanentError as error:
            await self._dead_letter(message, error.reason, scrub_text(str(error)), ctx.log)
        except RetryableError as error:
            await self._retry_or_dead_letter(message, attempt, error, ctx.log)
        except HandlerError as error:
            await self._dead_letter(message, error.reason, scrub_text(str(error)), ctx.log)
        except PublishFailed as error:  # e.g. no consumer bound yet for what we publish: no traceback
            await self._retry_or_dead_letter(message, attempt, error, ctx.log)
        except asyncio.CancelledError:
            raise
        except Exception as error:
            ctx.log.exception("handler crashed")
            await self._retry_or_dead_letter(message, attempt, error, ctx.log)
        else:
            await message.ack()
            metrics.acked.inc()
            tracing.mark_outcome("ack")
        finally:
            metrics.seconds.observe(time.perf_counter() - started)

    async def _parse(self, event_cls: type[Event[Any]], body: bytes) -> Event[Any]:
        if b'"sealed"' not in body:
            return event_cls.model_validate_json(body)
        try:
            raw = json.loads(body)
        except ValueError:
            return event_cls.model_validate_json(body)  # the same invalid-payload answer
        if not isinstance(raw, dict) or SEALED_KEY not in raw or "data" in raw:
            return event_cls.model_validate(raw)
        if self.vault is None:
            raise NoMasterKey("a sealed message but no master key in this process", reason="no-master-key")
        sealed = raw.pop(SEALED_KEY)
        if not isinstance(sealed, str):
            return event_cls.model_validate(raw)
        raw["data"] = await self.vault.unseal(sealed)
        return event_cls.model_validate(raw)

    def _metrics(self, event_type: str) -> _TypeMetrics:
        metrics = self._metric_cache.get(event_type)
        if metrics is None:
            queue = self.group.queue
            metrics = _TypeMetrics(
                acked=MESSAGES_CONSUMED.labels(queue, event_type, "ack"),
                seconds=HANDLER_SECONDS.labels(queue, event_type),
            )
            self._metric_cache[event_type] = metrics
        return metrics

    async def _retry_or_dead_letter(
        self, message: AbstractIncomingMessage, attempt: int, error: Exception, log: Any
    ) -> None:
        if attempt >= self.group.max_attempts:
            await self._dead_letter(message, "retries-exhausted", describe_error(error), log)
            return
        tier = self.group.retry_queue(attempt)
        copy = copy_message(message, {ATTEMPT_HEADER: attempt + 1, ERROR_HEADER: _short(error)})
        await self._publisher.send_to_queue(tier, copy)
        await message.ack()
        MESSAGES_CONSUMED.labels(self.group.queue, message.type or "", "retry").inc()
        tracing.mark_outcome("retry", error)
        log.warning("retry scheduled", retry_queue=tier, error=_short(error), next_attempt=attempt + 1)

    async def _dead_letter(
        self, message: AbstractIncomingMessage, reason: str, detail: str, log: Any
    ) -> None:
        copy = copy_message(
            message,
            {
                REASON_HEADER: reason,
                ERROR_HEADER: detail[:1000],
                FAILED_AT_HEADER: datetime.now(UTC).isoformat(),
                QUEUE_HEADER: self.group.queue,
            },
        )
        copy.expiration = self._dead_letter_ttl_ms / 1000
        await self._publisher.send_to_queue(self.group.dead_letter_queue, copy)
        await message.ack()
        MESSAGES_CONSUMED.labels(self.group.queue, message.type or "", "dead_letter").inc()
        tracing.mark_outcome("dead_letter", reason)
        log.error("dead-lettered", reason=reason, detail=detail[:300])


def _short(error: Exception) -> str:
    """What a retry copy's header and the log say about the failure: never the exception's text."""
    return describe_error(error)[:500]


def copy_message(message: AbstractIncomingMessage, headers: dict[str, Any]) -> aio_pika.Message:
    """A copy for a retry tier or the dead-letter queue: body, properties and headers (the trace
    context among them, so a retried attempt stays in its trace) plus `headers`."""
    merged = {k: v for k, v in (message.headers or {}).items() if k != "x-death"}
    merged.update(headers)
    if "x-death" in (message.headers or {}):
        merged.setdefault("x-samleng-broker-death", json.dumps(_plain(message.headers["x-death"]))[:1000])
    return aio_pika.Message(
        body=message.body,
        content_type=message.content_type,
        content_encoding=message.content_encoding,
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=message.message_id,
        correlation_id=message.correlation_id,
        type=message.type or message.routing_key,
        timestamp=message.timestamp,
        headers=merged,
    )


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, datetime):
        return value.isoformat()
    return value
