"""Operator routes: dead letters, the messages a consumer gave up on (shared/messaging/dead_letters.py).

    GET  /dead-letters                    every dead-letter queue with its count (deliveries.read)
    GET  /dead-letters/{queue}            one queue's letters: reason, attempts, type, when it
                                          failed — never the body or a personal value
                                          (deliveries.read)
    POST /dead-letters/{queue}/replay     put one letter (`message_id`) or all (`all`) back on
                                          its work queue, attempt counter reset
                                          (dead_letters.manage; audited `dead_letters.replayed`)
    POST /dead-letters/{queue}/drop       discard one or all (dead_letters.manage; audited
                                          `dead_letters.dropped`)

The queues are those of every consumer group Samleng runs, found as `make docs` finds them
(ops/discovery.py: each service's router, each installed channel's bands): a name that is not one
of them is unknown, so no other queue of the broker can be read or emptied through here.

The console reads the broker on its own connection, opened and closed per request (rare use):
passive declares for counts (no permission needed), `basic.get` on dead-letter queues to list
(read), and replay publishes to the work queue through the default exchange (write on
`amq.default`). A listing fetches the letters unacknowledged and gives them back when its channel
closes; a letter's `correlation_id` (a pledge's id) is not shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Self

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection
from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, Field, model_validator

from services.console.auth import Caller, body_schema, console_of, json_body, permit
from services.console.permissions import Permission
from services.console.settings import ConsoleSettings
from shared.channels.catalogue import channel_names
from shared.channels.queues import group_name
from shared.messaging import dead_letters
from shared.messaging.topology import ConsumerGroup
from shared.service import Router

router = APIRouter(tags=["dead letters"])

BROKER_TIMEOUT_SECONDS = 10.0
LIST_LIMIT = 1000


class BrokerAway(Exception):
    """The broker did not answer, or the connection was lost: nothing more was read or changed
    (a replay that lost its connection midway has done the letters it acknowledged)."""


@dataclass(frozen=True)
class KnownQueue:
    """A consumer group's work queue and its dead-letter queue; `channel` and `band` for a
    delivery channel's queues."""

    group: ConsumerGroup
    channel: str | None = None
    band: str | None = None

    @property
    def queue(self) -> str:
        return self.group.queue

    @property
    def dead_letter_queue(self) -> str:
        return self.group.dead_letter_queue


@functools.cache
def _topology() -> tuple[tuple[Router, str | None], ...]:
    """Every consuming service's router (publishers only, like intake, have no queue), with its
    channel's name for a delivery channel's (found once: it imports every service's module)."""
    from ops.discovery import discover_routers

    channels = {group_name(name): name for name in channel_names()}
    routers = discover_routers().items()
    return tuple((found, channels.get(name)) for name, found in routers if found.subscriptions)


async def known_queues(settings: ConsoleSettings) -> list[KnownQueue]:
    """The queues of every consumer group, in the routers' name order (bands in their order)."""
    routers = await asyncio.to_thread(_topology)
    queues: list[KnownQueue] = []
    for found, channel in routers:
        groups = found.consumer_groups(settings)
        bands: tuple[str | None, ...] = tuple(found.bands) if found.bands else (None,)
        queues.extend(KnownQueue(group, channel, band) for group, band in zip(groups, bands, strict=True))
    return queues


async def dead_letter_queue(settings: ConsoleSettings, name: str) -> KnownQueue:
    """The known queue whose dead-letter queue is `name`; 404 for any other name."""
    for known in await known_queues(settings):
        if known.dead_letter_queue == name:
            return known
    raise HTTPException(404, "no such dead-letter queue")


@contextlib.asynccontextmanager
async def broker(settings: ConsoleSettings) -> AsyncIterator[AbstractConnection]:
    """A connection of the console's own for reading queues, closed after use; `BrokerAway`
    when the broker cannot be reached."""
    try:
        connection = await aio_pika.connect(
            settings.amqp_url.get_secret_value(), timeout=BROKER_TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError, aio_pika.exceptions.AMQPError) as error:
        raise BrokerAway(type(error).__name__) from None
    try:
        yield connection
    except (ConnectionError, aio_pika.exceptions.AMQPConnectionError) as lost:
        raise BrokerAway(type(lost).__name__) from None  # what was acked before stays done
    finally:
        await connection.close()


@dataclass(frozen=True)
class QueueCount:
    """What a passive declare tells: ready messages and consumers; None when the queue does not
    exist (its service never started)."""

    messages: int | None
    consumers: int | None


async def count(connection: AbstractConnection, names: list[str]) -> dict[str, QueueCount]:
    """Each queue's count by a passive declare (reads nothing, changes nothing). A missing
    queue closes its channel: the next name gets a new one."""
    counts: dict[str, QueueCount] = {}
    channel: AbstractChannel | None = None
    try:
        for name in names:
            if channel is None or channel.is_closed:
                channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:  # ChannelNotFoundEntity among them
                counts[name] = QueueCount(None, None)
                continue
            result = queue.declaration_result
            counts[name] = QueueCount(result.message_count, result.consumer_count)
    finally:
        if channel is not None and not channel.is_closed:
            await channel.close()
    return counts


# ---- the API ------------------------------------------------------------------------------------


class DeadLetterQueue(BaseModel):
    queue: str = Field(examples=["samleng.channel-email.high.dlq"])
    work_queue: str = Field(description="Where a replayed letter goes.")
    channel: str | None = Field(default=None, description="For a delivery channel's queues.")
    band: str | None = None
    count: int | None = Field(description="Letters waiting; None: the queue does not exist yet.")


class DeadLetterView(BaseModel):
    """A dead letter without its body: what failed and why, nothing personal."""

    message_id: str | None
    type: str | None = Field(description="The event type, e.g. `delivery.requested.v1`.")
    reason: str = Field(examples=["retries-exhausted", "invalid-payload", "outcome-unknown"])
    error: str = Field(description="The error's type and field paths (never its text).")
    attempts: int
    failed_at: datetime | str | None
    size: int = Field(description="Body size in bytes.")

    @classmethod
    def of(cls, letter: dead_letters.DeadLetter) -> Self:
        failed_at: datetime | str | None = letter.failed_at
        if letter.failed_at is not None:
            with contextlib.suppress(ValueError):
                failed_at = datetime.fromisoformat(letter.failed_at)
        return cls(
            message_id=letter.message_id,
            type=letter.type,
            reason=letter.reason,
            error=letter.error,
            attempts=letter.attempts,
            failed_at=failed_at,
            size=letter.size,
        )


class DeadLetterList(BaseModel):
    queue: str
    work_queue: str
    count: int = Field(description="Letters in the queue.")
    letters: list[DeadLetterView] = Field(description=f"The first {LIST_LIMIT}, oldest first.")
    by_reason: dict[str, int]


class DeadLetterAction(BaseModel):
    """One letter by its message id, or every letter in the queue."""

    message_id: str | None = Field(default=None, min_length=1, max_length=200)
    all: bool = Field(default=False, description="Every letter in the queue.")

    @model_validator(mode="after")
    def one_or_all(self) -> Self:
        if (self.message_id is None) == (not self.all):
            raise ValueError("give either message_id or all (not both)")
        return self


class DeadLetterOutcome(BaseModel):
    queue: str
    work_queue: str
    action: str = Field(examples=["replayed", "dropped"])
    count: int
    message_ids: list[str]


def unavailable() -> HTTPException:
    return HTTPException(503, "the broker did not answer; retry", headers={"Retry-After": "30"})


async def queue_counts(settings: ConsoleSettings) -> list[DeadLetterQueue]:
    """Every dead-letter queue with its count (`BrokerAway` when the broker is away)."""
    queues = await known_queues(settings)
    async with broker(settings) as connection:
        counts = await count(connection, [known.dead_letter_queue for known in queues])
    return [
        DeadLetterQueue(
            queue=known.dead_letter_queue,
            work_queue=known.queue,
            channel=known.channel,
            band=known.band,
            count=counts[known.dead_letter_queue].messages,
        )
        for known in queues
    ]


async def letters_of(settings: ConsoleSettings, queue: str) -> DeadLetterList:
    """One known dead-letter queue's letters (404 for another name, `BrokerAway`)."""
    known = await dead_letter_queue(settings, queue)
    async with broker(settings) as connection:
        counts = await count(connection, [queue])
        found = (
            []
            if counts[queue].messages is None
            else await dead_letters.list_dead_letters(connection, queue, LIST_LIMIT)
        )
    return DeadLetterList(
        queue=queue,
        work_queue=known.queue,
        count=counts[queue].messages or 0,
        letters=[DeadLetterView.of(letter) for letter in found],
        by_reason=dead_letters.summary(found)["by_reason"],
    )


async def act(
    request: Request, who: Caller, queue: str, action: DeadLetterAction, *, drop: bool
) -> DeadLetterOutcome:
    """Replay (or drop) one letter or all, audited as `dead_letters.replayed` (`.dropped`) with
    the queue and the count; 404 when the one named is not there, `BrokerAway`."""
    console = console_of(request)
    known = await dead_letter_queue(console.settings, queue)
    ids = () if action.message_id is None else (action.message_id,)
    async with broker(console.settings) as connection:
        counts = await count(connection, [queue])
        done = (
            []
            if counts[queue].messages is None
            else await dead_letters.replay(connection, queue, ids, everything=action.all, drop=drop)
        )
    verb = "dropped" if drop else "replayed"
    if ids and not done:
        raise HTTPException(404, "no such letter in this queue")
    await console.audit.record(
        who.event(f"dead_letters.{verb}", "queue", queue, count=len(done), message_ids=done[:100])
    )
    return DeadLetterOutcome(
        queue=queue, work_queue=known.queue, action=verb, count=len(done), message_ids=done
    )


@router.get(
    "/dead-letters",
    response_model=list[DeadLetterQueue],
    dependencies=[permit(Permission.deliveries_read)],
    summary="Every dead-letter queue with its count",
    responses={503: {"description": "The broker did not answer: retry"}},
)
async def list_queues(request: Request) -> list[DeadLetterQueue]:
    try:
        return await queue_counts(console_of(request).settings)
    except BrokerAway:
        raise unavailable() from None


@router.get(
    "/dead-letters/{queue}",
    response_model=DeadLetterList,
    dependencies=[permit(Permission.deliveries_read)],
    summary="One dead-letter queue's letters (reason, attempts, type; never the body)",
    responses={404: {"description": "Not a dead-letter queue of ours"}, 503: {"description": "Retry"}},
)
async def list_letters(request: Request, queue: str) -> DeadLetterList:
    try:
        return await letters_of(console_of(request).settings, queue[:200])
    except BrokerAway:
        raise unavailable() from None


async def _act(
    request: Request, who: Caller, queue: str, body: DeadLetterAction, drop: bool
) -> DeadLetterOutcome:
    try:
        return await act(request, who, queue[:200], body, drop=drop)
    except BrokerAway:
        raise unavailable() from None


@router.post(
    "/dead-letters/{queue}/replay",
    response_model=DeadLetterOutcome,
    dependencies=[permit(Permission.dead_letters_manage)],
    openapi_extra=body_schema(DeadLetterAction),
    summary="Put one dead letter (or all) back on its work queue",
    responses={404: {"description": "No such queue or letter"}, 503: {"description": "Retry"}},
)
async def replay(
    request: Request,
    who: Caller,
    queue: str,
    body: Annotated[DeadLetterAction, Depends(json_body(DeadLetterAction))],
) -> DeadLetterOutcome:
    return await _act(request, who, queue, body, drop=False)


@router.post(
    "/dead-letters/{queue}/drop",
    response_model=DeadLetterOutcome,
    dependencies=[permit(Permission.dead_letters_manage)],
    openapi_extra=body_schema(DeadLetterAction),
    summary="Discard one dead letter (or all)",
    responses={404: {"description": "No such queue or letter"}, 503: {"description": "Retry"}},
)
async def drop(
    request: Request,
    who: Caller,
    queue: str,
    body: Annotated[DeadLetterAction, Depends(json_body(DeadLetterAction))],
) -> DeadLetterOutcome:
    return await _act(request, who, queue, body, drop=True)
