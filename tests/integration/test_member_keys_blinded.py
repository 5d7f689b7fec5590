"""`member_keys` names contacts by their keyed blind index, never by the contact itself.

pledge-intake as a process, on the real broker and Mongo-wire server; events are published as
intake and the channels publish them (a catch-all queue makes whatever pledge-intake publishes
routable without the other services). A member whose keys are plain (as pledge-intake stored
them before) is still found once pledge-intake has started; a new member's email, phone and
Messenger PSID are found by the next pledge, a STOP from the phone and a reply from the PSID,
and no document of `member_keys` holds any of them in plain text.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aio_pika
import bson
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.envelope import Event
from shared.contracts.inbound import ContactLinked, ContactLinkedData, InboundMessage, InboundMessageData
from shared.contracts.pledge import Consent, Contact, PledgeSubmitted, PledgeSubmittedData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.support.member_keys import member_key
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.timeout(300)

RUN = uuid.uuid4().hex[:10]
OLD_EMAIL, OLD_PHONE = f"before-{RUN}@example.org", "+14155550188"
EMAIL, PHONE, PSID = f"Dara.Blind-{RUN}@Example.org", "+85512399871", f"7{RUN.encode().hex()[:15]}"


@asynccontextmanager
async def catch_all(rabbit: RabbitNode) -> AsyncIterator[None]:
    """Everything published on `samleng` is routable (the services that consume it are not run)."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "#")
    try:
        yield
    finally:
        await connection.close()


async def publish(rabbit: RabbitNode, *events: Event[Any]) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    await publisher.publish_many(list(events))
    await connection.close()


async def until(predicate: Any, what: str, timeout: float = 60.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await predicate()
        if value:
            return value
        await asyncio.sleep(0.2)
    raise AssertionError(f"{what}: not within {timeout}s")


def pledge(pledge_id: str, email: str | None, phone: str | None, channels: list[str]) -> PledgeSubmitted:
    now = utcnow()
    return PledgeSubmitted(
        correlation_id=pledge_id,
        data=PledgeSubmittedData(
            pledge_id=pledge_id,
            source="web",
            submitted_at=now,
            name="Dara Blind",
            country="US",
            certificate_language="en",
            channels=channels,
            contact=Contact(email=email, phone=phone),
            consent=Consent(text_version="pledge-consent-2026-11", locale="en", accepted_at=now),
        ),
    )


def reply(sender_kind: str, sender: str, text: str) -> InboundMessage:
    return InboundMessage(
        correlation_id=f"in_{uuid.uuid4().hex}",
        data=InboundMessageData(
            channel="whatsapp" if sender_kind == "phone" else "messenger",
            sender_kind=sender_kind,
            sender=sender,
            text=text,
            received_at=utcnow(),
        ),
    )


@pytest.fixture
def start(service_env: dict[str, str], tmp_path: Path) -> Iterator[Any]:
    started: list[ServiceProcess] = []

    def run(name: str) -> ServiceProcess:
        proc = ServiceProcess("services.pledge_intake", service_env, tmp_path / f"{name}.log", name).start()
        proc.wait_ready(60)
        started.append(proc)
        return proc

    yield run
    for proc in started:
        proc.terminate()  # a no-op for one already stopped


async def held_for(db: Any, pledge_id: str) -> str:
    async def change() -> Any:
        return await db.pending_changes.find_one({"ref": pledge_id})

    found = await until(change, f"pledge {pledge_id} held for the contact's holder")
    return str(found["holder_id"])


async def test_member_keys_are_blinded_and_a_plain_key_from_before_is_found_after_a_restart(
    service_env: dict[str, str], rabbit: RabbitNode, db: Any, start: Any
) -> None:
    env = service_env
    # As pledge-intake stored a member before: plain keys.
    await db.members.insert_one(
        {"_id": "mb_before", "name": "Before", "country": "US", "email": OLD_EMAIL, "phone": OLD_PHONE}
    )
    await db.member_keys.insert_many(
        [
            {"_id": f"email:{OLD_EMAIL}", "member_id": "mb_before", "at": utcnow()},
            {"_id": f"phone:{OLD_PHONE}", "member_id": "mb_before", "at": utcnow()},
        ]
    )
    async with catch_all(rabbit):
        first = start("pledge-intake.1")
        keys = {d["_id"]: d["member_id"] async for d in db.member_keys.find()}
        assert keys == {
            member_key(env, "email", OLD_EMAIL): "mb_before",
            member_key(env, "phone", OLD_PHONE): "mb_before",
        }, "plain keys are rewritten into blinded ones at start"
        assert all(key.startswith(("bx:email:", "bx:phone:")) for key in keys)

        # A new member, with a Messenger PSID linked through their pledge.
        await publish(rabbit, pledge("pl_blind_1", EMAIL, PHONE, ["messenger", "email"]))

        async def recorded() -> Any:
            return await db.pledges.find_one({"_id": "pl_blind_1", "member_id": {"$exists": True}})

        member_id = str((await until(recorded, "first pledge recorded"))["member_id"])
        link = ContactLinked(
            correlation_id="pl_blind_1",
            data=ContactLinkedData(
                channel="messenger",
                address_kind="psid",
                address=PSID,
                pledge_id="pl_blind_1",
                linked_at=utcnow(),
            ),
        )
        await publish(rabbit, link)
        psid_key = member_key(env, "psid", PSID)

        async def linked() -> Any:
            return await db.member_keys.find_one({"_id": psid_key})

        assert (await until(linked, "PSID linked"))["member_id"] == member_id

        # Lookups: a reply from the PSID, STOP from the phone, a pledge with the same email.
        hello, stop = reply("psid", PSID, "hello"), reply("phone", PHONE, "STOP")
        await publish(rabbit, hello, stop)

        async def stopped() -> Any:
            return await db.members.find_one({"_id": member_id, "unsubscribed": "all"})

        await until(stopped, "STOP from the phone found the member")

        async def kept() -> Any:
            return await db.inbound_messages.find_one({"_id": str(hello.event_id), "member_id": member_id})

        await until(kept, "the reply from the PSID found the member")
        await publish(rabbit, pledge("pl_blind_2", EMAIL.upper(), None, ["email"]))
        assert await held_for(db, "pl_blind_2") == member_id, "the same email (any case) is held"

        everything = b"".join([bson.encode(d) async for d in db.member_keys.find()])
        for plain in (EMAIL, EMAIL.casefold(), PHONE, PHONE.lstrip("+"), PSID, OLD_EMAIL, OLD_PHONE):
            assert plain.encode() not in everything, plain
        assert await db.member_keys.count_documents({"_id": {"$regex": "^(email|phone|psid):"}}) == 0

        # After a restart: the member from before is still found (by email and phone), nothing doubled.
        first.terminate()
        start("pledge-intake.2")
        await publish(
            rabbit,
            pledge("pl_blind_3", OLD_EMAIL.upper(), None, ["email"]),
            pledge("pl_blind_4", None, PHONE, ["whatsapp"]),
        )
        assert await held_for(db, "pl_blind_3") == "mb_before"
        assert await held_for(db, "pl_blind_4") == member_id
        assert await db.member_keys.count_documents({"member_id": "mb_before"}) == 2
