"""Priority bands on the real broker and Mongo-wire server: a channel with one slow send slot and
a backlog of certificates sends the alerts that arrive after it first, each exactly once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any, ClassVar, cast

import aio_pika
import pytest

from devstack.broker import RabbitNode
from shared.channels import ChannelAdapter, ChannelSettings, OutboundMessage, SendResult
from shared.channels.service import channel_bootstrap, channel_router
from shared.contracts.delivery import BANDS, DeliveryRequested, DeliveryStatus
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.messaging.topology import declare_exchange
from shared.service import Service
from tests.support.channel_contract import message_for

pytestmark = pytest.mark.timeout(120)

CERTIFICATES, ALERTS = 200, 20
SEND_SECONDS = 0.04


class Slow(ChannelAdapter):
    """One send at a time, each taking a while; records the order in which sends start."""

    name: ClassVar[str] = "slow"
    address_kind = "email"
    rate_per_second = 10_000.0
    started: ClassVar[list[tuple[str, int]]]

    def max_concurrent_sends(self) -> int:
        return 1

    async def send(self, message: OutboundMessage) -> SendResult:
        self.started.append((message.delivery.delivery_id, message.delivery.priority))
        await asyncio.sleep(SEND_SECONDS)
        return SendResult(provider_message_id=message.delivery.delivery_id)


@pytest.fixture
def slow_channel() -> type[Slow]:
    """A channel of its own per test: the broker (and its queues) lives for the whole session."""
    return cast(
        type[Slow], type("SlowChannel", (Slow,), {"name": f"slow{uuid.uuid4().hex[:8]}", "started": []})
    )


@pytest.fixture
async def channel_service(
    slow_channel: type[Slow], rabbit: RabbitNode, mongo_uri: str, db_name: str
) -> AsyncIterator[Service[Any]]:
    settings = ChannelSettings(
        _env_file=None,
        amqp_url=rabbit.url,
        mongodb_uri=mongo_uri,
        mongodb_database=db_name,
        retry_delays_ms=[300],
    )
    connection = await aio_pika.connect(rabbit.url)  # where the channel's status events go
    channel = await connection.channel()
    exchange = await declare_exchange(channel, "samleng")
    statuses = await channel.declare_queue(exclusive=True)
    await statuses.bind(exchange, DeliveryStatus.event_type() + f".{slow_channel.name}")
    service: Service[Any] = Service(channel_router(slow_channel), settings, channel_bootstrap(slow_channel))
    await service.start()
    yield service
    await service.stop()
    for band in BANDS:
        await channel.queue_delete(f"samleng.channel-{slow_channel.name}.{band}")
    await connection.close()


def requests(channel: str, prefix: str, count: int, priority: int) -> list[DeliveryRequested]:
    template = message_for(Slow).delivery.model_copy(update={"channel": channel, "priority": priority})
    return [
        DeliveryRequested(
            correlation_id=f"pl_{prefix}",
            data=template.model_copy(update={"delivery_id": f"dl_{prefix}_{i:04d}"}),
        )
        for i in range(count)
    ]


async def test_alerts_overtake_a_backlog_of_certificates_and_nothing_is_sent_twice(
    slow_channel: type[Slow], channel_service: Service[Any], rabbit: RabbitNode, db: Any
) -> None:
    name = slow_channel.name
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    await publisher.publish_many(requests(name, "certificate", CERTIFICATES, priority=3))
    while len(slow_channel.started) < 5:  # the backlog is being worked through
        await asyncio.sleep(0.01)
    alerts = requests(name, "alert", ALERTS, priority=9)
    await publisher.publish(alerts[0])
    before_alerts = len(slow_channel.started)  # sends started before the first alert was queued
    await publisher.publish_many(alerts[1:])
    await connection.close()

    sends, deadline = db[f"sends_{name}"], time.monotonic() + 60
    while await sends.count_documents({"state": "sent"}) < CERTIFICATES + ALERTS:
        assert time.monotonic() < deadline, f"only {len(slow_channel.started)} sends started"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.5)  # a duplicate would show up now
    order = [delivery for delivery, _ in slow_channel.started]
    assert len(order) == CERTIFICATES + ALERTS
    assert not [d for d, n in Counter(order).items() if n > 1], "a delivery was sent twice"

    last_alert = max(i for i, (_, priority) in enumerate(slow_channel.started) if priority == 9)
    overtaken = [d for d, priority in slow_channel.started[before_alerts:last_alert] if priority == 3]
    # Only certificates already prefetched when the alert arrived (the queue's prefetch is twice
    # the one slot) may start before the last alert; the rest of the backlog waits.
    assert len(overtaken) <= 2, overtaken
    assert CERTIFICATES + ALERTS - last_alert - 1 >= CERTIFICATES // 2, "the backlog was not waiting"
