"""Dead letters on the console (real broker and Mongo-wire server): a letter dead-lettered into a
real queue is listed with its reason and attempts and nothing personal, replayed once onto its
work queue (attempt counter reset), or dropped; each act audited with the queue and the count;
editors and viewers may look but not act; only Samleng's dead-letter queues can be named."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.messaging.consumer import ATTEMPT_HEADER, ERROR_HEADER, FAILED_AT_HEADER, REASON_HEADER
from shared.messaging.topology import ConsumerGroup
from tests.support.console import bearer, operator_token
from tests.support.handed_over import emptied

EMAIL_LOW = ConsumerGroup(exchange="samleng", name="channel-email.low", routing_keys=())
QUEUE = EMAIL_LOW.dead_letter_queue
LETTERS = "/api/v1/operator/dead-letters"
SECRETS = ("secret@example.org", "Secret Name", "pl_secret")


@pytest.fixture
async def broker(rabbit: RabbitNode) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """The email channel's low band queues, declared as the channel declares them, empty."""
    async with emptied(rabbit.url, EMAIL_LOW) as channel:
        yield channel


async def dead_letter(channel: aio_pika.abc.AbstractChannel, message_id: str) -> None:
    """A request the email channel gave up on, as its runner dead-letters it: the body names the
    recipient; an old-style error header still echoes an address."""
    await channel.default_exchange.publish(
        aio_pika.Message(
            b'{"data": {"recipient": {"email": "secret@example.org", "name": "Secret Name"}}}',
            message_id=message_id,
            correlation_id="pl_secret",
            type="delivery.requested.v1",
            headers={
                REASON_HEADER: "retries-exhausted",
                ERROR_HEADER: "SMTPRecipientsRefused: secret@example.org refused",
                ATTEMPT_HEADER: 5,
                FAILED_AT_HEADER: "2026-11-30T10:00:00+00:00",
            },
        ),
        QUEUE,
    )


async def messages(channel: aio_pika.abc.AbstractChannel, name: str, expected: int) -> int:
    """The queue's ready count once it reaches `expected` (or whatever it is after 30 s)."""
    deadline = asyncio.get_running_loop().time() + 30
    while True:
        found = (await channel.declare_queue(name, passive=True)).declaration_result.message_count
        if found == expected or asyncio.get_running_loop().time() > deadline:
            return int(found or 0)
        await asyncio.sleep(0.1)


async def operator(console: str, db: Any, role: Role) -> tuple[str, dict[str, str]]:
    headers = bearer(await operator_token(db, role))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        me = await client.get("/api/v1/operator/me")
    return me.json()["operator"]["id"], headers


async def test_a_dead_letter_is_listed_redacted_and_replayed_once_onto_its_work_queue(
    console: str, db: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    await dead_letter(broker, "ev_one")
    await dead_letter(broker, "ev_two")
    assert await messages(broker, QUEUE, 2) == 2
    _, viewer = await operator(console, db, Role.viewer)
    publisher_id, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console) as client:
        queues = await client.get(LETTERS, headers=viewer)
        letters = await client.get(f"{LETTERS}/{QUEUE}", headers=viewer)
        replayed = await client.post(
            f"{LETTERS}/{QUEUE}/replay", json={"message_id": "ev_one"}, headers=publisher
        )
        again = await client.post(
            f"{LETTERS}/{QUEUE}/replay", json={"message_id": "ev_one"}, headers=publisher
        )
    assert queues.status_code == 200, queues.text
    row = {q["queue"]: q for q in queues.json()}[QUEUE]
    assert row == {
        "queue": QUEUE,
        "work_queue": EMAIL_LOW.queue,
        "channel": "email",
        "band": "low",
        "count": 2,
    }
    assert letters.status_code == 200, letters.text
    assert letters.json()["count"] == 2 and letters.json()["by_reason"] == {"retries-exhausted": 2}
    first = letters.json()["letters"][0]
    assert (first["message_id"], first["type"], first["reason"], first["attempts"]) == (
        "ev_one",
        "delivery.requested.v1",
        "retries-exhausted",
        5,
    )
    assert first["failed_at"].startswith("2026-11-30T10:00:00")
    for secret in SECRETS:
        assert secret not in letters.text and secret not in queues.text
    assert replayed.status_code == 200, replayed.text
    assert replayed.json() == {
        "queue": QUEUE,
        "work_queue": EMAIL_LOW.queue,
        "action": "replayed",
        "count": 1,
        "message_ids": ["ev_one"],
    }
    assert again.status_code == 404, "replayed once: it is no longer a dead letter"
    assert await messages(broker, EMAIL_LOW.queue, 1) == 1
    work = await broker.declare_queue(EMAIL_LOW.queue, passive=True)
    back = await work.get(no_ack=True)
    assert back.message_id == "ev_one" and b"secret@example.org" in back.body, "the letter itself, intact"
    assert back.headers[ATTEMPT_HEADER] == 1 and REASON_HEADER not in back.headers
    assert await messages(broker, QUEUE, 1) == 1, "the other letter stays"
    events = await db.audit_events.find({"action": "dead_letters.replayed"}).to_list(None)
    assert [(e["operator_id"], e["object_id"], e["detail"]) for e in events] == [
        (publisher_id, QUEUE, {"count": 1, "message_ids": ["ev_one"]})
    ]


async def test_dropping_all_empties_the_queue_and_is_audited(
    console: str, db: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    for n in range(3):
        await dead_letter(broker, f"ev_{n}")
    assert await messages(broker, QUEUE, 3) == 3
    admin_id, admin = await operator(console, db, Role.admin)
    async with httpx.AsyncClient(base_url=console, headers=admin) as client:
        dropped = await client.post(f"{LETTERS}/{QUEUE}/drop", json={"all": True})
        after = await client.get(f"{LETTERS}/{QUEUE}")
    assert dropped.status_code == 200, dropped.text
    assert (dropped.json()["action"], dropped.json()["count"]) == ("dropped", 3)
    assert after.json()["count"] == 0 and after.json()["letters"] == []
    assert await messages(broker, EMAIL_LOW.queue, 0) == 0, "nothing replayed"
    events = await db.audit_events.find({"action": "dead_letters.dropped"}).to_list(None)
    assert [(e["operator_id"], e["object_id"], e["detail"]["count"]) for e in events] == [
        (admin_id, QUEUE, 3)
    ]


async def test_editors_and_viewers_may_not_replay_or_drop(
    console: str, db: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    await dead_letter(broker, "ev_kept")
    assert await messages(broker, QUEUE, 1) == 1
    for role in (Role.editor, Role.viewer):
        _, headers = await operator(console, db, role)
        async with httpx.AsyncClient(base_url=console, headers=headers) as client:
            replay = await client.post(f"{LETTERS}/{QUEUE}/replay", json={"all": True})
            drop = await client.post(f"{LETTERS}/{QUEUE}/drop", json={"message_id": "ev_kept"})
        assert replay.status_code == drop.status_code == 403
    assert await messages(broker, QUEUE, 1) == 1
    assert await db.audit_events.count_documents({"action": {"$regex": "^dead_letters"}}) == 0


async def test_only_our_dead_letter_queues_can_be_named_and_the_body_says_one_or_all(
    console: str, db: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    _, publisher = await operator(console, db, Role.publisher)
    async with httpx.AsyncClient(base_url=console, headers=publisher) as client:
        work_queue = await client.get(f"{LETTERS}/{EMAIL_LOW.queue}")
        other = await client.post(f"{LETTERS}/samleng.nobody.dlq/drop", json={"all": True})
        both = await client.post(f"{LETTERS}/{QUEUE}/drop", json={"all": True, "message_id": "x"})
        neither = await client.post(f"{LETTERS}/{QUEUE}/replay", json={})
        anonymous = await client.get(LETTERS, headers={"Authorization": ""})
    assert work_queue.status_code == other.status_code == 404
    assert both.status_code == neither.status_code == 422
    assert anonymous.status_code == 401
