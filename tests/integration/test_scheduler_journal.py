"""Settling another replica's sent journal, on the real broker (the marks are recorded in memory:
the database side is test_scheduler.py's subject)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import aio_pika
import pytest

from services.scheduler.journal import JOURNAL_EXPIRES_MS, PREFETCH, REMINDER_HEADER, Journal, queue_of
from shared.messaging.publisher import Publisher

pytestmark = pytest.mark.timeout(120)
EXCHANGE = "samleng"


async def gone_replica_journal(url: str, owner: str, entries: int) -> list[str]:
    """The journal a killed replica left: `entries` published reminders it had not marked."""
    ids = [f"rm_gone_{n:05d}" for n in range(entries)]
    async with await aio_pika.connect(url) as connection:
        channel = await connection.channel(publisher_confirms=True)
        await channel.declare_queue(
            queue_of(EXCHANGE, owner), durable=True, arguments={"x-expires": JOURNAL_EXPIRES_MS}
        )
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(b"{}", headers={REMINDER_HEADER: reminder_id}), queue_of(EXCHANGE, owner)
                )
                for reminder_id in ids
            )
        )
    return ids


async def test_a_journal_longer_than_the_prefetch_is_settled_and_two_settles_of_it_take_turns(
    rabbit: Any,
) -> None:
    # A replica killed while its marking lagged leaves more entries than one prefetch: settling
    # once waited for a marker stuck behind them and gave up after 30 s, again at every claim
    # (the 10,000-reminder take-over stalled at 6,500).
    gone = "gone-host:1:" + "c" * 32
    ids = await gone_replica_journal(rabbit.url, gone, PREFETCH * 2 + 500)
    marked: list[str] = []

    async def mark(batch: Sequence[str], owner: str) -> None:
        assert owner == gone
        marked.extend(batch)

    connection = await aio_pika.connect_robust(rabbit.url)
    try:
        publisher = await Publisher.open(connection, EXCHANGE)
        journal = Journal(connection, publisher, EXCHANGE, "survivor:2:" + "d" * 32, mark)
        # Two claims holding records of the same gone replica settle its journal together: the
        # second must not take the first's hold on the journal for a living holder.
        outcomes = await asyncio.wait_for(
            asyncio.gather(journal.settle(gone, patience=0.5), journal.settle(gone, patience=0.5)), 60
        )
        assert outcomes == ["settled", "settled"]
        assert sorted(marked) == ids, "every entry marked once"
        probe = await connection.channel()
        queue = await probe.declare_queue(queue_of(EXCHANGE, gone), passive=True)
        assert queue.declaration_result.message_count == 0, "and acked"
    finally:
        await connection.close()
