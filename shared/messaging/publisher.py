"""Publishing with publisher confirms, where an unroutable message is an error, never silence.

`publish()` returns only after the broker confirmed the message (persistent, so it survives a
broker restart). While the broker is away (restart, network blip) it waits for the robust
connection to come back, up to `timeout`, then raises BrokerUnavailable. A retried publish can
reach the broker twice; consumers deduplicate (see shared/storage.py `insert_once`).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterable
from typing import Any

import aio_pika
import aiormq
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractMessage

from shared import tracing
from shared.contracts import Event
from shared.messaging.errors import BrokerUnavailable, UnroutableMessage
from shared.messaging.topology import ConsumerGroup, declare_exchange, declare_group
from shared.observability import MESSAGES_PUBLISHED
from shared.personal_data import Vault

TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    aio_pika.exceptions.AMQPConnectionError,
    aio_pika.exceptions.ChannelInvalidStateError,
    aio_pika.exceptions.DeliveryError,
    aiormq.exceptions.AMQPError,
    ConnectionError,
    asyncio.TimeoutError,
)


def to_message(
    event: Event[Any], headers: dict[str, Any] | None = None, body: bytes | None = None
) -> aio_pika.Message:
    """The event as a persistent AMQP message, with the current trace context in its headers
    (`traceparent`/`tracestate` only; see shared/tracing.py); `body` replaces the event's JSON
    (a sealed event, `sealed_body`)."""
    all_headers: dict[str, Any] = dict(headers or {})
    all_headers.update(tracing.trace_headers())
    if event.causation_id is not None:
        all_headers["x-causation-id"] = str(event.causation_id)
    return aio_pika.Message(
        body=body if body is not None else event.model_dump_json().encode(),
        content_type="application/json",
        content_encoding="utf-8",
        delivery_mode=aio_pika.DeliveryMode.PERSISTENT,
        message_id=str(event.event_id),
        correlation_id=event.correlation_id,
        type=event.type,
        timestamp=event.occurred_at,
        headers=all_headers,
    )


SEALED_KEY = "sealed"


async def sealed_body(vault: Vault | None, event: Event[Any]) -> bytes | None:
    """The body of an event about a person (its contract's `sealed_by`) with its data encrypted
    under the subject's key: the envelope plus `sealed` instead of `data`. None: send it as it is
    (nothing personal, or encryption off)."""
    subject = event.seal_subject() if vault is not None else None
    if subject is None or vault is None:
        return None
    envelope = event.model_dump(mode="json", exclude={"data"})
    envelope[SEALED_KEY] = await vault.seal(
        subject, event.data.model_dump(mode="json"), aliases=event.seal_aliases()
    )
    return json.dumps(envelope, separators=(",", ":")).encode()


class Publisher:
    def __init__(self, channel: AbstractChannel, exchange: AbstractExchange, timeout: float = 15.0) -> None:
        self._channel = channel
        self._exchange = exchange
        self._timeout = timeout
        self.vault: Vault | None = None
        """Set by the process that opened one: events about a person are then sent sealed."""

    @classmethod
    async def open(
        cls, connection: aio_pika.abc.AbstractConnection, exchange: str | None, timeout: float = 15.0
    ) -> Publisher:
        """A publisher on its own confirming channel; `exchange=None` only sends to queues."""
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        target = await declare_exchange(channel, exchange) if exchange else channel.default_exchange
        return cls(channel, target, timeout)

    async def publish(self, event: Event[Any], headers: dict[str, Any] | None = None) -> None:
        """`headers` go with the message; a `BCC` list of routing keys also delivers it to the
        queues bound to those keys, in the same publish, without showing them to consumers."""
        routing_key = event.routing_key()
        body = await sealed_body(self.vault, event)
        with tracing.publishing(routing_key, str(event.event_id)):
            await self._send(self._exchange, to_message(event, headers, body), routing_key)
        MESSAGES_PUBLISHED.labels(event.type).inc()

    async def publish_many(self, events: Iterable[Event[Any]]) -> None:
        """Publish concurrently (confirms pipelined); raises the first failure after all settle."""
        results = await asyncio.gather(*(self.publish(e) for e in events), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def send_to_queue(self, queue: str, message: AbstractMessage) -> None:
        """Put a message straight into one queue (retry tiers, dead letters, replays); its headers,
        the trace context among them, go with it unchanged."""
        await self._send(self._channel.default_exchange, message, queue)

    async def _send(self, exchange: AbstractExchange, message: AbstractMessage, routing_key: str) -> None:
        deadline = time.monotonic() + self._timeout
        delay = 0.1
        while True:
            try:
                await exchange.publish(message, routing_key, mandatory=True, timeout=self._timeout)
                return
            except aio_pika.exceptions.PublishError as returned:
                raise UnroutableMessage(routing_key) from returned
            except TRANSIENT_ERRORS as error:
                if time.monotonic() + delay > deadline:
                    raise BrokerUnavailable(
                        f"broker did not confirm {routing_key!r} within {self._timeout:.0f}s: {error!r}"
                    ) from error
                await asyncio.sleep(delay)
                delay = min(delay * 2, 1.0)

    async def declare(self, group: ConsumerGroup) -> None:
        """Declare another group's queues (idempotent), so messages for it wait until it starts."""
        await declare_group(self._channel, group)

    async def declare_delay_queue(self, name: str, target_queue: str, ttl_ms: int) -> None:
        """A queue without consumers whose messages move to `target_queue` after `ttl_ms` (a durable
        timer: one TTL per queue keeps expiry in FIFO order; dead-lettered via the default exchange)."""
        await self._channel.declare_queue(
            name,
            durable=True,
            arguments={
                "x-message-ttl": ttl_ms,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": target_queue,
            },
        )

    async def close(self) -> None:
        if not self._channel.is_closed:
            await self._channel.close()
