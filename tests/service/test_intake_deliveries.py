"""Delivery states on the status URL, the operators' delivery list and unsubscribe, over real HTTP
against the real broker and Mongo-wire server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from services.intake import ids
from shared.contracts.member import ConsentWithdrawn
from shared.messaging.topology import ConsumerGroup, declare_group
from tests.service.conftest import OPERATOR, SECRET
from tests.support.forms import csrf

TOKEN = "tok_" + "a" * 30
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
async def withdrawals(rabbit: RabbitNode) -> AsyncIterator[Any]:
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    group = ConsumerGroup(exchange="samleng", name="pledge-intake", routing_keys=("consent.withdrawn.v1",))
    queue = await declare_group(channel, group)
    await queue.purge()
    yield queue
    await queue.purge()
    await connection.close()


def delivery(index: int, channel: str, state: str, pledge_id: str = "pl_x", **extra: Any) -> dict[str, Any]:
    return {
        "_id": f"dl_{index:024d}",
        "purpose": "certificate",
        "source_id": f"KCAP-2026-{index:06d}",
        "correlation_id": pledge_id,
        "member_id": f"mb_{index}",
        "channel": channel,
        "state": state,
        "attempt": 1,
        "reason": None,
        "created_at": T0 + timedelta(seconds=index),
        "updated_at": T0 + timedelta(seconds=index),
        "request": {"recipient": {"email": "secret@example.org", "name": "Secret Name"}},
        "history": [],
        **extra,
    }


async def test_operators_list_deliveries_with_filters_and_without_addresses(intake: str, db: Any) -> None:
    await db.deliveries.insert_many(
        [
            delivery(i, "email" if i % 2 else "post", "sent" if i % 3 else "failed_permanent")
            for i in range(1, 13)
        ]
    )
    async with httpx.AsyncClient(base_url=intake) as client:
        anonymous = await client.get("/api/v1/operator/deliveries")
        wrong = await client.get("/api/v1/operator/deliveries", headers={"Authorization": "Bearer nope"})
        auth = {"Authorization": f"Bearer {OPERATOR}"}
        failed_email = await client.get(
            "/api/v1/operator/deliveries",
            params={"state": "failed_permanent", "channel": "email"},
            headers=auth,
        )
        first = await client.get("/api/v1/operator/deliveries", params={"limit": 5}, headers=auth)
        second = await client.get(
            "/api/v1/operator/deliveries",
            params={"limit": 5, "before": first.json()["next_before"]},
            headers=auth,
        )
    assert anonymous.status_code == 401 and wrong.status_code == 401
    assert [d["delivery_id"] for d in failed_email.json()["deliveries"]] == [f"dl_{i:024d}" for i in (9, 3)]
    assert "secret@example.org" not in failed_email.text and "Secret Name" not in failed_email.text
    page1 = [d["delivery_id"] for d in first.json()["deliveries"]]
    page2 = [d["delivery_id"] for d in second.json()["deliveries"]]
    assert page1 == [f"dl_{i:024d}" for i in range(12, 7, -1)]
    assert page2 == [f"dl_{i:024d}" for i in range(7, 2, -1)]


async def test_the_public_pledge_status_does_not_show_how_messages_travel(intake: str, db: Any) -> None:
    """Whether a certificate or a "was it you?" notice went out, and where, would tell the submitter
    whether the contact was already known: the status says recorded, nothing more (operators see
    deliveries in their list)."""
    pledge_id = ids.new_pledge_id(SECRET.encode())
    await db.pledges.insert_one(
        {"_id": pledge_id, "state": "recorded", "recorded_at": T0, "member_id": "mb_1"}
    )
    await db.deliveries.insert_many(
        [
            delivery(
                1, "email", "failed_permanent", pledge_id, reason="smtp-550", fallback={"channel": "post"}
            ),
            delivery(2, "post", "sent", pledge_id, fallback_from="dl_" + "0" * 23 + "1"),
            delivery(3, "messenger", "waiting", pledge_id, reason="waiting-for-psid"),
        ]
    )
    async with httpx.AsyncClient(base_url=intake) as client:
        api = await client.get(f"/api/v1/pledges/{pledge_id}")
        page = await client.get(f"/pledge/{pledge_id}", params={"lang": "en"})
    assert set(api.json()) == {"pledge_id", "state", "reason", "detail", "recorded_at"}
    assert api.json()["state"] == "recorded"
    assert 'data-state="recorded"' in page.text and "data-channel" not in page.text
    assert "secret@example.org" not in api.text + page.text


async def test_one_click_unsubscribe_hands_a_withdrawal_to_pledge_intake(
    intake: str, db: Any, withdrawals: Any
) -> None:
    await db.members.insert_one({"_id": "mb_42", "unsubscribe_token": TOKEN})
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(f"/u/{TOKEN}", params={"lang": "km"})
        response = await client.post(
            f"/u/{TOKEN}",
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    assert page.status_code == 200 and 'id="unsubscribe-button"' in page.text and "ឈប់ទទួលសារ" in page.text
    assert response.status_code == 200 and 'data-state="done"' in response.text
    message = None
    for _ in range(100):
        message = await withdrawals.get(no_ack=True, fail=False)
        if message is not None:
            break
        await asyncio.sleep(0.05)
    assert message is not None
    event = ConsentWithdrawn.model_validate_json(message.body)
    assert (event.data.member_id, event.data.scope, event.data.source) == ("mb_42", "all", "list-unsubscribe")


async def test_a_get_changes_nothing_and_unknown_tokens_are_404(
    intake: str, db: Any, withdrawals: Any
) -> None:
    await db.members.insert_one({"_id": "mb_43", "unsubscribe_token": TOKEN})
    async with httpx.AsyncClient(base_url=intake) as client:
        await client.get(f"/u/{TOKEN}")
        unknown_get = await client.get("/u/" + "b" * 32)
        unknown_post = await client.post("/u/" + "b" * 32, data=await csrf(client))
    assert unknown_get.status_code == 404 and unknown_post.status_code == 404
    await asyncio.sleep(0.3)
    assert await withdrawals.get(no_ack=True, fail=False) is None


async def test_unsubscribing_while_the_broker_is_away_answers_503_and_asks_to_retry(
    make_intake: Any, dead_broker_url: str, db: Any
) -> None:
    await db.members.insert_one({"_id": "mb_44", "unsubscribe_token": TOKEN})
    async with (
        make_intake(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.post(f"/u/{TOKEN}", data=await csrf(client))
    assert response.status_code == 503 and 'data-state="retry"' in response.text


async def test_operators_read_chat_replies_newest_first_and_nobody_else_does(intake: str, db: Any) -> None:
    start = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
    await db.inbound_messages.insert_many(
        [
            {
                "_id": f"ev_{i}",
                "member_id": None if i == 4 else f"mb_{i % 2}",
                "channel": "whatsapp" if i % 2 else "signal",
                "sender_kind": "phone",
                "sender": f"+85512000{i:03d}",
                "text": ["DONE", "Where is the forum?", "STOP", "ចប់", "hello?"][i],
                "stop": i == 2,
                "received_at": start + timedelta(minutes=i),
            }
            for i in range(5)
        ]
    )
    auth = {"Authorization": f"Bearer {OPERATOR}"}
    async with httpx.AsyncClient(base_url=intake) as client:
        assert (await client.get("/api/v1/operator/replies")).status_code == 401
        newest = await client.get("/api/v1/operator/replies", params={"limit": 2}, headers=auth)
        older = await client.get(
            "/api/v1/operator/replies", params={"before": newest.json()["next_before"]}, headers=auth
        )
        whatsapp = await client.get("/api/v1/operator/replies", params={"channel": "whatsapp"}, headers=auth)
        strangers = await client.get(
            "/api/v1/operator/replies", params={"unknown_sender": "true"}, headers=auth
        )
    assert [r["text"] for r in newest.json()["replies"]] == ["hello?", "ចប់"]
    assert [r["reply_id"] for r in older.json()["replies"]] == ["ev_2", "ev_1", "ev_0"]
    assert older.json()["replies"][0]["stop"] is True and older.json()["next_before"] is None
    assert {r["channel"] for r in whatsapp.json()["replies"]} == {"whatsapp"}
    assert [r["sender"] for r in strangers.json()["replies"]] == ["+85512000004"]
