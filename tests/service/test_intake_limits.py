"""Body limits per route (real broker and Mongo-wire server): intake's public routes keep a small
limit and a 413 says the limit of the route it came from; the console's subscriber import takes
its 5,000 rows (the Plan of Action's 5 MB PDF: tests/service/test_console_sessions.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from shared.messaging.topology import ConsumerGroup, declare_group
from tests.support.console import bearer


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """Subscriptions handed over, declared but not consumed."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    group = ConsumerGroup(
        exchange="samleng",
        name="test-limits",
        routing_keys=("subscription.requested.v1",),
    )
    queue = await declare_group(channel, group)
    await queue.purge()
    yield queue
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


async def test_a_public_route_refuses_a_large_body_and_the_413_says_its_limit(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post(
            "/api/v1/pledges",
            content=b"{" + b" " * 70_000 + b"}",
            headers={"content-type": "application/json"},
        )
        streamed = await client.post(
            "/api/v1/pledges",
            content=_chunks([b"{", b" " * 40_000, b" " * 40_000, b"}"]),
            headers={"content-type": "application/json"},
        )
    for refused in (response, streamed):
        assert refused.status_code == 413
        [problem] = refused.json()["detail"]
        assert problem["field"] == "body" and problem["limit_bytes"] == 65536
        assert "64 KiB" in problem["message"]


async def test_a_5000_row_subscriber_import_is_accepted(
    console: str, admin_token: str, handed_over: Any
) -> None:
    rows = [
        {
            "name": f"សុខ ដារា {_letters(n)}",
            "country": "US",
            "email": f"member{n}@example.org",
            "channels": ["email"],
            "topics": ["political-prisoners"],
            "language": "km",
            "time_zone": "America/Los_Angeles",
            "confirmed": True,
            "consent_record": {
                "text_version": "paper-2026-10",
                "locale": "km",
                "accepted_at": "2026-10-01T10:00:00-07:00",
            },
        }
        for n in range(5000)
    ]
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token), timeout=300) as client:
        response = await client.post("/api/v1/operator/subscribers", json={"subscribers": rows})
    assert response.status_code == 200, response.text[:500]
    assert response.json()["accepted"] == 5000, response.json()["results"][:2]
    declared = await handed_over.channel.declare_queue(handed_over.name, passive=True)
    assert declared.declaration_result.message_count == 5000


def _letters(n: int) -> str:
    """Names may not carry digits: row n gets a distinct run of letters."""
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[rest] + out
        if n == 0:
            return out.capitalize()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    """A body without Content-Length: the limit must hold while it streams in."""
    for part in parts:
        yield part
