"""The sent journal: the broker's own record of what each replica has published.

A replica publishes every `reminder.due.v1` with a `BCC` to its journal queue
(`<exchange>.event-scheduler.sent.<replica>`, durable, bound to `event-scheduler.sent.<replica>`).
The broker routes that one publish to the dispatcher's queue and to the journal together and
confirms only when both hold it, so "in the journal" is the same fact as "published" — including
a publish whose confirm never reached a replica that died. Consumers do not see the `BCC`.

The replica consumes its own journal: it marks the records `published` in the database and acks
the entries only after that write. So at any moment, a record published but not yet marked has
its entry in the journal, and a replica that dies leaves those entries there (unacked ones
return to the queue when its connection closes).

Before a replica sends a record another replica held (`prev_owner`), it *settles* that replica's
journal: it takes the queue as its only consumer (`exclusive`; refused while the holder is still
connected, which is the broker telling us the holder lives), puts a marker at the end, and
marks and acks the entries as they arrive, a prefetch at a time, up to the marker. Then it reads the record again: if it was
published, it is not sent again. A holder that is still connected marks its own entries; after
waiting `patience` for that, the record is read again and sent if still pending.

Journals of replicas that are gone expire after JOURNAL_EXPIRES_MS without a consumer (the
broker deletes them); a replica killed and not followed by any other within that time leaves
its last unmarked records to be sent again after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import aio_pika
import aiormq
import structlog
from aio_pika.abc import AbstractChannel, AbstractIncomingMessage, AbstractRobustConnection

from shared.messaging.publisher import Publisher
from shared.messaging.topology import declare_exchange

log = structlog.stdlib.get_logger("samleng.scheduler.journal")

REMINDER_HEADER = "x-reminder-id"
MARKER_HEADER = "x-journal-marker"
JOURNAL_EXPIRES_MS = 7 * 24 * 3600 * 1000
PREFETCH = 2000
RETRY_SECONDS = 0.5
SETTLE_TIMEOUT_SECONDS = 30.0  # for our marker to come through another replica's journal

Mark = Callable[[Sequence[str], str], Awaitable[None]]  # (reminder ids, whose journal) -> marked


def replica_of(owner: str) -> str:
    """The journal name part of an owner id (`host:pid:hex`)."""
    return owner.rsplit(":", 1)[-1]


def routing_key_of(owner: str) -> str:
    return f"event-scheduler.sent.{replica_of(owner)}"


def queue_of(exchange: str, owner: str) -> str:
    return f"{exchange}.{routing_key_of(owner)}"


class Journal:
    def __init__(
        self,
        connection: AbstractRobustConnection,
        publisher: Publisher,
        exchange: str,
        owner: str,
        mark: Mark,
    ) -> None:
        self._connection = connection
        self._publisher = publisher
        self._exchange = exchange
        self.owner = owner
        self.queue = queue_of(exchange, owner)
        self._bcc = [routing_key_of(owner)]
        self._mark = mark
        self._channel: AbstractChannel | None = None
        self._inbox: list[AbstractIncomingMessage] = []
        self._ready = asyncio.Event()
        self._markers: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._settling: dict[str, asyncio.Lock] = {}
        self.unmarked: set[str] = set()  # confirmed by the broker, not yet marked in the database

    def headers(self, reminder_id: str) -> dict[str, Any]:
        """What a reminder is published with: a copy to the journal, saying which record it is."""
        return {"BCC": self._bcc, REMINDER_HEADER: reminder_id}

    async def open(self) -> None:
        self._channel = await self._connection.channel()
        await self._channel.set_qos(prefetch_count=PREFETCH)
        exchange = await declare_exchange(self._channel, self._exchange)
        queue = await self._channel.declare_queue(
            self.queue, durable=True, arguments={"x-expires": JOURNAL_EXPIRES_MS}
        )
        await queue.bind(exchange, routing_key_of(self.owner))
        await queue.consume(self._on_message)
        self._task = asyncio.create_task(self._mark_loop(), name="scheduler-journal")

    async def close(self, timeout: float) -> None:
        """Wait (up to `timeout`) until what this replica published is marked, then let go: entries
        left in the journal are settled by whoever takes the records next."""
        deadline = time.monotonic() + timeout
        while self.unmarked and time.monotonic() < deadline:  # noqa: ASYNC110 (a set, polled briefly)
            await asyncio.sleep(0.05)
        if self.unmarked:
            log.warning(
                "journal entries left unmarked; the next holder settles them", count=len(self.unmarked)
            )
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._channel and not self._channel.is_closed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._channel.close(), timeout=2)

    # --- this replica's own journal ----------------------------------------------------------

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inbox.append(message)
        self._ready.set()

    async def _mark_loop(self) -> None:
        while True:
            await self._ready.wait()
            self._ready.clear()
            batch, self._inbox = self._inbox, []
            if not batch:
                continue
            ids = [str(m.headers[REMINDER_HEADER]) for m in batch if REMINDER_HEADER in m.headers]
            while ids:
                try:
                    await self._mark(ids, self.owner)
                    break
                except Exception as error:  # the database is away: the entries wait in the journal
                    log.warning("marking failed; will retry", error=repr(error))
                    await asyncio.sleep(RETRY_SECONDS)
            with contextlib.suppress(Exception):  # a closed channel gives them back: marked again
                await batch[-1].ack(multiple=True)
            self.unmarked.difference_update(ids)
            for message in batch:
                marker = message.headers.get(MARKER_HEADER)
                if marker is not None and str(marker) in self._markers:
                    self._markers.pop(str(marker)).set_result(None)

    async def flush(self, timeout: float) -> bool:
        """Wait until every entry of this replica's journal published before now is marked."""
        marker = uuid.uuid4().hex
        done = asyncio.get_running_loop().create_future()
        self._markers[marker] = done
        try:
            await self._publisher.send_to_queue(self.queue, _marker(marker))
            await asyncio.wait_for(done, timeout)
            return True
        except Exception as error:
            log.warning("own journal not flushed", error=repr(error))
            return False
        finally:
            self._markers.pop(marker, None)

    # --- another replica's journal -----------------------------------------------------------

    async def settle(self, owner: str, patience: float) -> str:
        """Mark everything `owner` published; returns how: `settled` (we took its journal),
        `absent` (no journal: nothing to settle), or `holder-alive` (it kept its journal for
        `patience` seconds: it marks its own entries)."""
        if owner == self.owner:
            return "settled" if await self.flush(patience) else "holder-alive"
        queue_name = queue_of(self._exchange, owner)
        # One settle per journal at a time: several claims may hold records of the same previous
        # holder, and a second settle would find the journal taken (by us) and mistake that for
        # the holder being alive. Waiting for the first costs nothing: the journal is empty then.
        async with self._settling.setdefault(owner, asyncio.Lock()):
            return await self._settle(queue_name, owner, patience)

    async def _settle(self, queue_name: str, owner: str, patience: float) -> str:
        deadline = time.monotonic() + patience
        while True:
            channel = await self._connection.channel()
            try:
                return await self._take(channel, queue_name, owner)
            except aiormq.exceptions.ChannelNotFoundEntity:
                return "absent"
            except aiormq.exceptions.ChannelAccessRefused:
                if time.monotonic() > deadline:
                    log.warning("previous holder still holds its journal", journal=queue_name)
                    return "holder-alive"
                await asyncio.sleep(0.2)
            finally:
                if not channel.is_closed:
                    with contextlib.suppress(Exception):
                        await channel.close()

    async def _take(self, channel: AbstractChannel, queue_name: str, owner: str) -> str:
        await channel.set_qos(prefetch_count=PREFETCH)
        queue = await channel.declare_queue(queue_name, passive=True)
        taken: list[AbstractIncomingMessage] = []
        arrived = asyncio.Event()

        async def on_message(message: AbstractIncomingMessage) -> None:
            taken.append(message)
            arrived.set()

        tag = await queue.consume(on_message, exclusive=True)
        # The only consumer now: whatever the holder had unacked is back in the queue, before the
        # marker (a queue is FIFO), so everything it published arrives before the marker does.
        # Entries are marked and acked as they arrive, a prefetch at a time: a journal longer
        # than the prefetch (a holder whose marking fell behind) would otherwise never let the
        # marker through. Patience is for progress: the wait restarts with every batch.
        marker = uuid.uuid4().hex
        await self._publisher.send_to_queue(queue_name, _marker(marker))
        marked = 0
        while True:
            if not taken:
                arrived.clear()
                await asyncio.wait_for(arrived.wait(), SETTLE_TIMEOUT_SECONDS)
            batch, taken = taken, []
            ids = [str(m.headers[REMINDER_HEADER]) for m in batch if REMINDER_HEADER in m.headers]
            while ids:
                try:
                    await self._mark(ids, owner)
                    break
                except Exception as error:
                    log.warning("marking a previous holder's entries failed; will retry", error=repr(error))
                    await asyncio.sleep(RETRY_SECONDS)
            await batch[-1].ack(multiple=True)
            marked += len(ids)
            if any(m.headers.get(MARKER_HEADER) == marker for m in batch):
                break
        await queue.cancel(tag)
        if marked:
            log.info("previous holder's journal settled", journal=queue_name, marked=marked)
        return "settled"


def _marker(marker: str) -> aio_pika.Message:
    return aio_pika.Message(
        b"", headers={MARKER_HEADER: marker}, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
    )
