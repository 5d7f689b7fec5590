"""Retention with short settings (seconds), on the real Mongo-wire server and the real broker.

Each kind of record goes on time and nothing still in progress goes: deliveries and send logs
after their final state, pending subscriptions and chat replies after their age (the rules
pledge-intake declares), dead letters after theirs. Mongo records are deleted by the sweeper of
the process that declared the rule (shared/retention.py); here the waits sweep by themselves
(the period is `RETENTION_SWEEP_SECONDS`, 300 s by default), and one test runs the periodic loop.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any, Literal

import aio_pika
import pytest

from devstack.broker import RabbitNode
from services.dispatcher.app import on_delivery_status
from services.dispatcher.deliveries import Deps, ensure_delivery_indexes
from shared.channels.runner import SendLog
from shared.contracts import Event, Payload, utcnow
from shared.contracts.delivery import DeliveryStatus, DeliveryStatusData
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError
from shared.retention import (
    DAY_SECONDS,
    SWEEPER,
    RetentionRule,
    RetentionSettings,
    Sweeper,
    declare_retention,
)
from shared.service import Resources, Router, Service
from shared.settings import ServiceSettings

pytestmark = pytest.mark.timeout(180)

RETENTION_SECONDS = 2.0
CEILING_SECONDS = 45.0  # retention + sweeps on a busy two-core machine, with room to spare


def days(seconds: float) -> float:
    return seconds / DAY_SECONDS


@pytest.fixture
def ttl_db(db: Any) -> Any:
    return db


async def gone(collection: Any, ids: list[Any], ceiling: float = CEILING_SECONDS) -> float:
    """Seconds until none of `ids` is left; fails after `ceiling`."""
    started = time.monotonic()
    while await collection.count_documents({"_id": {"$in": ids}}):
        await SWEEPER.sweep()
        if time.monotonic() - started > ceiling:
            left = await collection.find({"_id": {"$in": ids}}).to_list(None)
            raise AssertionError(f"still there after {ceiling}s: {left}")
        await asyncio.sleep(0.2)
    return time.monotonic() - started


def status_ctx(deliveries: Any) -> Any:
    deps = Deps(deliveries=deliveries, db=deliveries.database, channels={}, public_base_url="")
    return SimpleNamespace(deps=deps, log=None, attempt=1)


async def test_final_deliveries_and_send_logs_go_after_their_retention_and_work_in_progress_stays(
    ttl_db: Any,
) -> None:
    deliveries = ttl_db.deliveries
    await ensure_delivery_indexes(deliveries, RetentionSettings(delivery_days=days(RETENTION_SECONDS)))
    long_ago = utcnow() - timedelta(days=400)
    await deliveries.insert_many(
        [
            {"_id": "dl_final", "state": "pending", "attempt": 1, "updated_at": long_ago},
            {"_id": "dl_sent", "state": "pending", "attempt": 1, "updated_at": long_ago},
            {"_id": "dl_retrying", "state": "pending", "attempt": 1, "updated_at": long_ago},
            {"_id": "dl_waiting", "state": "waiting", "attempt": 1, "updated_at": long_ago},
        ]
    )
    for delivery_id, state in (("dl_final", "delivered"), ("dl_sent", "sent"), ("dl_retrying", "retrying")):
        status = DeliveryStatus(
            correlation_id="c",
            data=DeliveryStatusData(
                delivery_id=delivery_id, channel="email", state=state, attempt=1, at=utcnow()
            ),
        )
        await on_delivery_status(status, status_ctx(deliveries))

    send_log = SendLog(ttl_db.sends_email, "worker-1", lease_seconds=60)
    await send_log.ensure_retention(days(RETENTION_SECONDS))
    for delivery_id in ("dl_final", "dl_failed", "dl_sending", "dl_retry"):
        assert (await send_log.claim(delivery_id)).kind == "claimed"
    await send_log.finish("dl_final", "sent", provider_message_id="m1")
    await send_log.finish("dl_failed", "failed_permanent", reason="rejected")
    await send_log.finish("dl_retry", "retry", reason="provider-down")

    waited = await asyncio.gather(
        gone(deliveries, ["dl_final", "dl_sent"]), gone(ttl_db.sends_email, ["dl_final", "dl_failed"])
    )
    assert min(waited) >= RETENTION_SECONDS - 0.5, "nothing goes before its retention"
    await asyncio.sleep(1.0)
    await SWEEPER.sweep()
    assert {d["_id"] for d in await deliveries.find().to_list(None)} == {"dl_retrying", "dl_waiting"}
    assert {d["_id"] for d in await ttl_db.sends_email.find().to_list(None)} == {"dl_sending", "dl_retry"}


async def test_pledge_intakes_rules_expire_pending_subscriptions_and_chat_replies_only(ttl_db: Any) -> None:
    """The rules docs/operations.md gives pledge-intake for its two collections."""
    settings = RetentionSettings(
        pending_subscription_days=days(RETENTION_SECONDS), chat_reply_days=days(RETENTION_SECONDS)
    )
    await declare_retention(
        ttl_db.subscriptions,
        RetentionRule.after("created_at", settings.pending_subscription_days, {"state": "pending"}),
    )
    await declare_retention(
        ttl_db.inbound_messages, RetentionRule.after("received_at", settings.chat_reply_days)
    )
    now = utcnow()
    await ttl_db.subscriptions.insert_many(
        [
            {"_id": "pending", "state": "pending", "confirm_token": "t1", "created_at": now},
            {"_id": "confirmed", "state": "confirmed", "confirm_token": "t2", "created_at": now},
        ]
    )
    await ttl_db.inbound_messages.insert_many(
        [{"_id": "old", "received_at": now}, {"_id": "new", "received_at": now + timedelta(days=1)}]
    )
    await asyncio.gather(gone(ttl_db.subscriptions, ["pending"]), gone(ttl_db.inbound_messages, ["old"]))
    assert await ttl_db.subscriptions.count_documents({}) == 1
    assert await ttl_db.inbound_messages.count_documents({}) == 1


async def test_a_changed_rule_replaces_its_index_and_an_old_ttl_index_is_dropped(ttl_db: Any) -> None:
    rule = RetentionRule.after_final_state(30, {"sent"})
    await ttl_db.sends_post.create_index([("updated_at", 1)], name=rule.index_name, expireAfterSeconds=60)
    await declare_retention(ttl_db.sends_post, rule)
    index = (await ttl_db.sends_post.index_information())[rule.index_name]
    assert "expireAfterSeconds" not in index, "no TTL index: the local server's TTL monitor can deadlock"
    await declare_retention(ttl_db.sends_post, RetentionRule.after_final_state(7, {"sent", "failed"}))
    index = (await ttl_db.sends_post.index_information())[rule.index_name]
    assert list(index["partialFilterExpression"]["state"]["$in"]) == ["failed", "sent"]


async def test_the_sweeper_deletes_by_itself_every_interval(ttl_db: Any) -> None:
    sweeper = Sweeper()
    sweeper.add(ttl_db.inbound_messages, RetentionRule.after("received_at", days(RETENTION_SECONDS)), 0.2)
    now = utcnow()
    await ttl_db.inbound_messages.insert_many(
        [{"_id": "old", "received_at": now}, {"_id": "new", "received_at": now + timedelta(days=1)}]
    )
    started = time.monotonic()
    while await ttl_db.inbound_messages.count_documents({"_id": "old"}):
        assert time.monotonic() - started < CEILING_SECONDS, "the sweeper never removed the old reply"
        await asyncio.sleep(0.2)
    assert time.monotonic() - started >= RETENTION_SECONDS - 0.5
    assert await ttl_db.inbound_messages.count_documents({}) == 1


class DoomedData(Payload):
    key: str


class Doomed(Event[DoomedData]):
    type: Literal["test.doomed.v1"] = "test.doomed.v1"


async def dead_letter_count(rabbit: RabbitNode, queue_name: str) -> int:
    connection = await aio_pika.connect(rabbit.url)
    try:
        queue = await (await connection.channel()).declare_queue(queue_name, passive=True)
        return int(queue.declaration_result.message_count or 0)
    finally:
        await connection.close()


async def wait_for_count(rabbit: RabbitNode, queue_name: str, expected: int) -> float:
    started = time.monotonic()
    while await dead_letter_count(rabbit, queue_name) != expected:
        assert time.monotonic() - started < CEILING_SECONDS, f"{queue_name} never held {expected}"
        await asyncio.sleep(0.1)
    return time.monotonic() - started


async def test_a_dead_letter_goes_after_its_retention_and_a_younger_one_stays(
    rabbit: RabbitNode, monkeypatch: pytest.MonkeyPatch
) -> None:
    retention = 4.0
    monkeypatch.setenv("RETENTION_DEAD_LETTER_DAYS", str(days(retention)))
    group = f"retention-{uuid.uuid4().hex[:8]}"
    router = Router(group)

    @router.handles(Doomed)
    async def doom(event: Doomed, ctx: MessageContext[None]) -> None:
        raise PermanentError(f"doomed {event.data.key}", reason="doomed")

    async def bootstrap(resources: Resources) -> None:
        return None

    settings = ServiceSettings(amqp_url=rabbit.url, retry_delays_ms=[300])
    service = Service(router, settings, bootstrap, uses_mongo=False)
    await service.start()
    dlq = f"samleng.{group}.dlq"
    try:
        await service.publisher.publish(Doomed(correlation_id="c", data=DoomedData(key="old")))
        await wait_for_count(rabbit, dlq, 1)
        first_at = time.monotonic()
        await asyncio.sleep(retention / 2)
        await service.publisher.publish(Doomed(correlation_id="c", data=DoomedData(key="young")))
        await wait_for_count(rabbit, dlq, 2)
        await wait_for_count(rabbit, dlq, 1)
        assert time.monotonic() - first_at >= retention - 0.5, "the old one went on time, not before"
        connection = await aio_pika.connect(rabbit.url)
        queue = await (await connection.channel()).declare_queue(dlq, passive=True)
        left = await queue.get(no_ack=False)  # a peek: closing the connection returns it
        assert Doomed.model_validate_json(left.body).data.key == "young"
        await connection.close()
        await wait_for_count(rabbit, dlq, 0)  # ... and it goes too, in its turn
    finally:
        await service.stop()
