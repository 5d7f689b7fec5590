"""The channel runner's claims on the real Mongo-wire server: work waiting for a send slot is
never claimed, and a worker stopped before calling the provider releases its claim."""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

import pytest

from shared.channels import ChannelAdapter, ChannelSettings, OutboundMessage, OutcomeUnknown, SendResult
from shared.channels.guards import RateLimiter
from shared.channels.runner import ChannelRunner, SendLog
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequested
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import RetryableError
from tests.support.channel_contract import message_for


class Blocking(ChannelAdapter):
    name: ClassVar[str] = "blocking"
    address_kind = "email"

    def __init__(self) -> None:
        super().__init__(ChannelSettings(_env_file=None))
        self.release = asyncio.Event()
        self.calls = 0

    def max_concurrent_sends(self) -> int:
        return 1

    async def send(self, message: OutboundMessage) -> SendResult:
        self.calls += 1
        await self.release.wait()
        return SendResult(provider_message_id="x")


class NullPublisher:
    async def publish(self, event: Any) -> None:
        return None


def request(index: int) -> DeliveryRequested:
    delivery = message_for(Blocking, f"dl_runner_test_{index:08d}").delivery.model_copy(
        update={"channel": "blocking"}
    )
    return DeliveryRequested(correlation_id="c", data=delivery)


def context() -> MessageContext[Any]:
    return MessageContext(None, 1, 3, False, NullPublisher())  # type: ignore[arg-type]


async def test_only_deliveries_with_a_free_send_slot_are_claimed(db: Any) -> None:
    adapter = Blocking()
    runner = ChannelRunner(adapter, SendLog(db.sends_blocking, "w1", 60), None)
    tasks = [asyncio.create_task(runner.handle(request(i), context())) for i in range(3)]
    await asyncio.sleep(0.5)
    assert adapter.calls == 1
    assert await db.sends_blocking.count_documents({}) == 1  # the other two wait unclaimed
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    [claimed] = await db.sends_blocking.find().to_list(None)
    assert claimed["state"] == "sending"  # cancelled during the provider call: outcome unknown


async def test_a_worker_stopped_before_the_provider_call_releases_its_claim(db: Any) -> None:
    adapter = Blocking()
    limiter = RateLimiter(rate=0.01, burst=1)
    await limiter.acquire()  # the next send has to wait ~100 s for a token
    runner = ChannelRunner(adapter, SendLog(db.sends_blocking, "w1", 60), None, limiter=limiter)
    task = asyncio.create_task(runner.handle(request(9), context()))
    await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    doc = await db.sends_blocking.find_one({"_id": "dl_runner_test_00000009"})
    assert doc is not None and doc["state"] == "retry" and doc["reason"] == "worker-stopped"
    assert adapter.calls == 0


class Resendable(Blocking):
    name: ClassVar[str] = "blocking"
    resend_is_safe: ClassVar[bool] = True  # a delivery whose worker died is simply sent again


async def test_a_delivery_whose_worker_died_mid_send_goes_once_its_lease_ends_not_after_the_retry_tiers(
    db: Any,
) -> None:
    """The broker redelivers the request of a killed worker at once; its claim lives until the
    lease ends. Before, the other worker sent it to the retry tiers (10 s, 1 min: both inside the
    2-minute lease), so it went out after the 10-minute one."""
    dead = SendLog(db.sends_blocking, "killed-worker", 2)
    assert (await dead.claim("dl_runner_test_00000007")).kind == "claimed"  # then SIGKILLed
    adapter = Resendable()
    adapter.release.set()
    runner = ChannelRunner(adapter, SendLog(db.sends_blocking, "w2", 60), None)
    await runner.handle(request(7), context())  # waits out the lease, then reconciles: sends
    doc = await db.sends_blocking.find_one({"_id": "dl_runner_test_00000007"})
    assert doc is not None and doc["state"] == "sent" and doc["owner"] == "w2"
    assert adapter.calls == 1


async def test_a_delivery_still_held_once_the_lease_is_waited_out_goes_to_a_retry_tier(db: Any) -> None:
    """A worker waits at most its own lease: a holder still sending after that (a slow provider
    call, renewed) keeps it, and the request goes to a retry tier as before."""
    alive = SendLog(db.sends_blocking, "slow-worker", 60)
    assert (await alive.claim("dl_runner_test_00000008")).kind == "claimed"
    adapter = Resendable()
    runner = ChannelRunner(adapter, SendLog(db.sends_blocking, "w2", 1), None)
    with pytest.raises(RetryableError):
        await runner.handle(request(8), context())
    assert adapter.calls == 0


class Unaskable(Blocking):
    """A provider whose status lookup is down (as the SMTP server's mailbox API is, with it)."""

    name: ClassVar[str] = "blocking"

    async def reconcile(self, delivery: Any) -> SendResult | None:
        raise OutcomeUnknown("the mailbox cannot be asked now", reason="mailbox-unreachable")


async def test_a_send_that_cannot_be_reconciled_now_is_asked_again_later_not_dead_lettered(db: Any) -> None:
    """Found by the chaos SMTP scenario: an email cut off by the server's death was reconciled
    against the same dead server, read as "cannot tell" and dead-lettered although never stored."""
    await db.sends_blocking.insert_one(
        {"_id": "dl_runner_test_00000006", "state": "unknown", "owner": "w1", "lease_until": utcnow()}
    )
    adapter = Unaskable()
    runner = ChannelRunner(adapter, SendLog(db.sends_blocking, "w2", 60), None)
    with pytest.raises(RetryableError):  # a retry tier, then asked again (not OutcomeUnknownError)
        await runner.handle(request(6), context())
    doc = await db.sends_blocking.find_one({"_id": "dl_runner_test_00000006"})
    assert doc is not None and doc["state"] == "unknown" and doc["reason"] == "mailbox-unreachable"
    assert adapter.calls == 0
