"""The broker topology, declared once, as data.

    exchange  samleng (topic, durable)
    queue     samleng.<group>                 one durable queue per consumer group (quorum),
                                              bound to the group's routing keys; replicas share it
    queue     samleng.<group>.retry.<delay>   one per retry tier: TTL, no consumers, dead-letters
                                              back to the work queue (default exchange)
    queue     samleng.<group>.dlq             dead letters with their reason in headers

The work queue itself dead-letters into its .dlq when the broker gives up on a message that keeps
killing its consumers (quorum `x-delivery-limit`). Tier names carry their delay, so changing
the delays adds queues instead of clashing with the old declarations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractExchange, AbstractQueue

QueueType = Literal["quorum", "classic"]


def delay_label(delay_ms: int) -> str:
    for unit, size in (("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if delay_ms >= size and delay_ms % size == 0:
            return f"{delay_ms // size}{unit}"
    return f"{delay_ms}ms"


@dataclass(frozen=True)
class ConsumerGroup:
    exchange: str
    name: str
    routing_keys: tuple[str, ...]
    retry_delays_ms: tuple[int, ...] = (10_000, 60_000, 600_000, 3_600_000)
    delivery_limit: int = 5
    queue_type: QueueType = "quorum"

    @property
    def queue(self) -> str:
        return f"{self.exchange}.{self.name}"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.queue}.dlq"

    @property
    def max_attempts(self) -> int:
        """First try plus one per retry tier."""
        return len(self.retry_delays_ms) + 1

    def retry_queue(self, attempt: int) -> str:
        """Tier the message waits in after failing attempt number `attempt` (1-based)."""
        delay = self.retry_delays_ms[min(attempt, len(self.retry_delays_ms)) - 1]
        return f"{self.queue}.retry.{delay_label(delay)}"

    def work_queue_arguments(self) -> dict[str, Any]:
        args: dict[str, Any] = {
            "x-dead-letter-exchange": "",
            "x-dead-letter-routing-key": self.dead_letter_queue,
        }
        if self.queue_type == "quorum":
            args["x-queue-type"] = "quorum"
            args["x-delivery-limit"] = self.delivery_limit
        return args

    def retry_queues(self) -> dict[str, dict[str, Any]]:
        return {
            f"{self.queue}.retry.{delay_label(delay)}": {
                "x-message-ttl": delay,
                "x-dead-letter-exchange": "",
                "x-dead-letter-routing-key": self.queue,
            }
            for delay in self.retry_delays_ms
        }

    def dead_letter_arguments(self) -> dict[str, Any]:
        return {"x-queue-type": "quorum"} if self.queue_type == "quorum" else {}


async def declare_exchange(channel: AbstractChannel, name: str) -> AbstractExchange:
    return await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)


async def declare_group(channel: AbstractChannel, group: ConsumerGroup) -> AbstractQueue:
    exchange = await declare_exchange(channel, group.exchange)
    await channel.declare_queue(
        group.dead_letter_queue, durable=True, arguments=group.dead_letter_arguments()
    )
    for name, arguments in group.retry_queues().items():
        await channel.declare_queue(name, durable=True, arguments=arguments)
    queue = await channel.declare_queue(group.queue, durable=True, arguments=group.work_queue_arguments())
    for key in group.routing_keys:
        await queue.bind(exchange, routing_key=key)
    return queue
