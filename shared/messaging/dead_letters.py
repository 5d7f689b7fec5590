"""Reading and replaying dead letters: `samleng dlq list|replay|drop QUEUE` (see docs/operations.md).

Dead letters stay in `<work queue>.dlq` until an operator acts. Listing peeks without consuming
(messages are fetched unacknowledged and returned when the channel closes). Replay puts the
chosen messages back on their work queue with the attempt counter reset; drop discards them.
Both act only on the ids given, or on all with `everything=True`.

A listing shows what failed and why (type, reason, attempts, the error's type and field paths),
never a personal value: the error header holds no exception text (shared.observability), and
what an older header may still hold is scrubbed again here. The bodies are never shown.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractConnection, AbstractIncomingMessage

from shared.messaging.consumer import (
    ATTEMPT_HEADER,
    ERROR_HEADER,
    FAILED_AT_HEADER,
    REASON_HEADER,
    copy_message,
)
from shared.messaging.publisher import Publisher
from shared.observability import scrub_text

REPLAYED_AT_HEADER = "x-samleng-replayed-at"


@dataclass(frozen=True)
class DeadLetter:
    message_id: str | None
    type: str | None
    correlation_id: str | None
    reason: str
    error: str
    attempts: int
    failed_at: str | None
    size: int

    def as_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False)


def work_queue_of(dead_letter_queue: str) -> str:
    if not dead_letter_queue.endswith(".dlq"):
        raise ValueError(f"{dead_letter_queue!r} is not a dead-letter queue (name must end in .dlq)")
    return dead_letter_queue.removesuffix(".dlq")


def describe(message: AbstractIncomingMessage) -> DeadLetter:
    headers = message.headers or {}
    reason = str(headers.get(REASON_HEADER) or "")
    if not reason and headers.get("x-death"):
        death = headers["x-death"][0]  # type: ignore[index]
        raw = death.get("reason", "broker") if isinstance(death, dict) else "broker"
        reason = f"broker:{raw.decode() if isinstance(raw, bytes) else raw}"
    return DeadLetter(
        message_id=message.message_id,
        type=message.type,
        correlation_id=message.correlation_id,
        reason=reason or "unknown",
        error=scrub_text(str(headers.get(ERROR_HEADER) or "")),
        attempts=int(headers.get(ATTEMPT_HEADER, 1)),  # type: ignore[arg-type]
        failed_at=str(headers[FAILED_AT_HEADER]) if FAILED_AT_HEADER in headers else None,
        size=len(message.body),
    )


async def _fetch_all(
    channel: aio_pika.abc.AbstractChannel, queue_name: str, limit: int
) -> list[AbstractIncomingMessage]:
    queue = await channel.declare_queue(queue_name, passive=True)
    messages: list[AbstractIncomingMessage] = []
    while len(messages) < limit:
        message = await queue.get(no_ack=False, fail=False)
        if message is None:
            break
        messages.append(message)
    return messages


async def list_dead_letters(
    connection: AbstractConnection, queue_name: str, limit: int = 1000
) -> list[DeadLetter]:
    work_queue_of(queue_name)
    channel = await connection.channel()
    try:
        return [describe(m) for m in await _fetch_all(channel, queue_name, limit)]
    finally:
        await channel.close()  # unacknowledged messages go back to the queue


async def replay(
    connection: AbstractConnection,
    queue_name: str,
    message_ids: Collection[str] = (),
    *,
    everything: bool = False,
    drop: bool = False,
    limit: int = 100_000,
) -> list[str]:
    """Replay (or drop) the chosen dead letters; returns the ids acted on."""
    target = work_queue_of(queue_name)
    if not everything and not message_ids:
        raise ValueError("name the message ids to act on, or ask for everything")
    publisher = await Publisher.open(connection, None)
    channel = await connection.channel()
    done: list[str] = []
    try:
        for message in await _fetch_all(channel, queue_name, limit):
            if not everything and message.message_id not in message_ids:
                continue
            if not drop:
                copy = copy_message(
                    message, {ATTEMPT_HEADER: 1, REPLAYED_AT_HEADER: datetime.now(UTC).isoformat()}
                )
                for header in (REASON_HEADER, ERROR_HEADER, FAILED_AT_HEADER):
                    copy.headers.pop(header, None)
                await publisher.send_to_queue(target, copy)
            await message.ack()
            done.append(message.message_id or "")
    finally:
        await channel.close()
        await publisher.close()
    return done


def summary(letters: list[DeadLetter]) -> dict[str, Any]:
    by_reason: dict[str, int] = {}
    for letter in letters:
        by_reason[letter.reason] = by_reason.get(letter.reason, 0) + 1
    return {"count": len(letters), "by_reason": by_reason}
