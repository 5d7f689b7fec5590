"""What a service hands over to the broker, read back in a test: a queue bound to the routing
keys a test watches, declared but not consumed, and the events it holds so far; or a service's
own queues, declared as it declares them and kept empty around a test.

    async with watched(rabbit.url, "test-sessions", ("registration.submitted.v1",)) as queue:
        ...
        [event] = await drain(queue)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractQueue

from shared.messaging.topology import ConsumerGroup, declare_group


@contextlib.asynccontextmanager
async def watched(
    rabbit_url: str, name: str, routing_keys: Sequence[str], *, keep: bool = False
) -> AsyncIterator[AbstractQueue]:
    """The queue `name` bound to `routing_keys`, emptied; deleted afterwards, or only emptied when
    `keep` (a real consumer's queue, declared as that service declares it)."""
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    queue = await declare_group(
        channel, ConsumerGroup(exchange="samleng", name=name, routing_keys=tuple(routing_keys))
    )
    await queue.purge()
    try:
        yield queue
    finally:
        if keep:
            await queue.purge()
        else:
            await queue.delete(if_unused=False, if_empty=False)
        await connection.close()


@contextlib.asynccontextmanager
async def emptied(rabbit_url: str, group: ConsumerGroup) -> AsyncIterator[AbstractChannel]:
    """A channel on which `group`'s work and dead-letter queues are declared as its consumers
    declare them, empty before and after."""
    connection = await aio_pika.connect(rabbit_url)
    channel = await connection.channel()
    await declare_group(channel, group)
    names = (group.queue, group.dead_letter_queue)
    for name in names:
        await (await channel.declare_queue(name, passive=True)).purge()
    try:
        yield channel
    finally:
        for name in names:
            await (await channel.declare_queue(name, passive=True)).purge()
        await connection.close()


async def drain(queue: Any, settle: float = 0.0) -> list[dict[str, Any]]:
    """Every event in `queue` so far, taken off it (after `settle` seconds for the last publisher
    confirms to land)."""
    if settle:
        await asyncio.sleep(settle)
    found = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        found.append(json.loads(message.body))
    return found
