"""Body limits per route on intake (real broker and Mongo-wire server): public routes keep a
small limit, the Plan of Action takes its documented 5 MB PDF, the subscriber import its 5,000
rows, and a 413 says the limit of the route it came from."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from shared.messaging.topology import ConsumerGroup, declare_group
from tests.service.conftest import OPERATOR
from tests.service.test_intake_sessions import drain, seed

AUTH = {"Authorization": f"Bearer {OPERATOR}"}
FIVE_MB = 5_000_000


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """Subscriptions and Plans of Action intake hands over, declared but not consumed."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    group = ConsumerGroup(
        exchange="samleng",
        name="test-limits",
        routing_keys=("subscription.requested.v1", "session.plan_published.v1"),
    )
    queue = await declare_group(channel, group)
    await queue.purge()
    yield queue
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


def pdf_of(size: int) -> bytes:
    head = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n"
    return head + b"0" * (size - len(head))


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


async def test_a_5_mb_plan_of_action_pdf_is_accepted_and_stored_whole(
    intake: str, handed_over: Any, db: Any
) -> None:
    await seed(db)
    pdf = pdf_of(FIVE_MB)
    body = {"texts": {"en": "We agreed to write to the UN.", "km": "យើងបានព្រមព្រៀង ..."}}
    async with httpx.AsyncClient(base_url=intake, headers=AUTH, timeout=60) as client:
        accepted = await client.post(
            "/api/v1/operator/sessions/ss_seeded/plan-of-action",
            json={**body, "pdf_base64": base64.b64encode(pdf).decode()},
        )
        too_big = await client.post(
            "/api/v1/operator/sessions/ss_seeded/plan-of-action",
            json={**body, "pdf_base64": base64.b64encode(pdf_of(7 * 1024 * 1024)).decode()},
        )
        documented = (await client.get("/openapi.json")).json()
    assert accepted.status_code == 202, accepted.text[:500]
    [event] = await drain(handed_over)
    stored = await db["session_files.files"].find_one({"_id": _object_id(event["data"]["pdf_file_id"])})
    assert stored is not None and stored["length"] == FIVE_MB
    assert too_big.status_code == 413
    assert too_big.json()["detail"][0]["limit_bytes"] == 8 * 1024 * 1024
    operation = documented["paths"]["/api/v1/operator/sessions/{session_id}/plan-of-action"]["post"]
    assert operation["x-body-limit-bytes"] == 8 * 1024 * 1024, "the limit is shown in /docs"


async def test_a_5000_row_subscriber_import_is_accepted(intake: str, handed_over: Any) -> None:
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
    async with httpx.AsyncClient(base_url=intake, headers=AUTH, timeout=300) as client:
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


def _object_id(value: str) -> Any:
    from bson import ObjectId

    return ObjectId(value)
