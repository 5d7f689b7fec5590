"""The public pledge status (it does not show deliveries) and unsubscribe, over real HTTP against the
real broker and Mongo-wire server. Operators read deliveries and replies in the console
(tests/service/test_console_deliveries.py); intake serves neither."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import pledge_ids as ids
from shared.contracts.member import ConsentWithdrawn
from tests.service.conftest import SECRET
from tests.support.forms import csrf
from tests.support.handed_over import watched

TOKEN = "tok_" + "a" * 30
T0 = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)


@pytest.fixture
async def withdrawals(rabbit: RabbitNode) -> AsyncIterator[Any]:
    async with watched(rabbit.url, "pledge-intake", ("consent.withdrawn.v1",), keep=True) as queue:
        yield queue


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


async def test_intake_serves_no_operator_delivery_or_reply_route(intake: str, db: Any) -> None:
    await db.deliveries.insert_one(delivery(1, "email", "sent"))
    async with httpx.AsyncClient(base_url=intake) as client:
        answers = [
            await client.get("/api/v1/operator/deliveries"),
            await client.get("/api/v1/operator/replies"),
        ]
    assert [a.status_code for a in answers] == [404, 404]
