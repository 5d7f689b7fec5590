"""Events about a person travel sealed (shared/messaging/publisher.py `sealed_body`), on the real
broker and Mongo-wire server: the queue holds no personal text, the handler gets the plain event,
an erased subject's message is dropped, and a process without the master key never handles one.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import aio_pika
import pytest

from devstack.broker import RabbitNode
from shared.contracts import Event, Payload
from shared.messaging.consumer import REASON_HEADER, MessageContext
from shared.service import Resources, Router, Service
from shared.settings import ServiceSettings
from shared.storage import Document


class WhisperData(Payload):
    person_id: str
    name: str


class Whisper(Event[WhisperData]):
    type: Literal["test.whisper.v1"] = "test.whisper.v1"
    sealed_by: ClassVar[str | None] = "person_id"


@dataclass
class Deps:
    db: Any


def router(group: str) -> Router:
    built = Router(group, description="test: sealed events")

    @built.handles(Whisper)
    async def on_whisper(event: Whisper, ctx: MessageContext[Deps]) -> None:
        await ctx.deps.db.heard.insert_one({"person_id": event.data.person_id, "name": event.data.name})

    return built


async def bootstrap(resources: Resources) -> Deps:
    return Deps(resources.db)


@pytest.fixture
def keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAMLENG_MASTER_KEY", base64.b64encode(os.urandom(96)).decode())
    monkeypatch.setenv("SAMLENG_BLIND_INDEX_KEY", os.urandom(16).hex())


def settings(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> ServiceSettings:
    return ServiceSettings(
        amqp_url=rabbit.url, mongodb_uri=mongo_uri, mongodb_database=db_name, retry_delays_ms=[200]
    )


async def tap(rabbit: RabbitNode) -> tuple[aio_pika.abc.AbstractConnection, aio_pika.abc.AbstractQueue]:
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "test.whisper.v1")
    return connection, queue


async def until(check: Any, timeout: float = 30) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def whisper(name: str) -> Whisper:
    return Whisper(correlation_id="c", data=WhisperData(person_id=f"p_{uuid.uuid4().hex[:8]}", name=name))


async def test_the_queue_holds_it_sealed_and_the_handler_gets_it_plain(
    keys: None, rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any
) -> None:
    connection, tapped = await tap(rabbit)
    service = Service(
        router(f"whisper-{uuid.uuid4().hex[:6]}"), settings(rabbit, mongo_uri, db_name), bootstrap
    )
    await service.start()
    try:
        event = whisper("Sovannarith Quiet-Name")
        await service.publisher.publish(event)
        await until(lambda: db.heard.count_documents({"person_id": event.data.person_id}))
        heard: Document | None = await db.heard.find_one({"person_id": event.data.person_id})
        assert heard is not None and heard["name"] == "Sovannarith Quiet-Name"
        message = await tapped.get(no_ack=True, timeout=5)
        assert b"Sovannarith" not in message.body and b"Quiet-Name" not in message.body
        body = json.loads(message.body)
        assert "data" not in body and body["sealed"] and body["event_id"] == str(event.event_id)
        assert message.type == "test.whisper.v1" and "Quiet" not in repr(message.headers)
        key = await db.key_vault.find_one({"keyAltNames": f"member:{event.data.person_id}"})
        assert key is not None, "sealed under the subject's own data key"
    finally:
        await service.stop()
        await connection.close()


async def test_a_message_of_an_erased_subject_is_dropped_not_handled(
    keys: None, rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any
) -> None:
    group = f"whisper-{uuid.uuid4().hex[:6]}"
    config = settings(rabbit, mongo_uri, db_name)
    first = Service(router(group), config, bootstrap)
    await first.start()
    await first.stop()  # its queue stays: messages wait there
    sender = Service(Router(f"sender-{uuid.uuid4().hex[:6]}"), config, bootstrap)
    await sender.start()
    erased, kept = whisper("Erased Person"), whisper("Kept Person")
    await sender.publisher.publish(erased)
    await sender.publisher.publish(kept)
    await db.key_vault.delete_many({"keyAltNames": f"member:{erased.data.person_id}"})
    await sender.stop()

    second = Service(router(group), config, bootstrap)
    await second.start()
    try:
        await until(lambda: db.heard.count_documents({"person_id": kept.data.person_id}))
        connection = await aio_pika.connect(rabbit.url)
        channel = await connection.channel()
        queue = await channel.declare_queue(f"samleng.{group}", passive=True)
        dead = await channel.declare_queue(f"samleng.{group}.dlq", passive=True)
        assert queue.declaration_result.message_count == 0
        assert dead.declaration_result.message_count == 0, "dropped, not dead-lettered"
        await connection.close()
        assert await db.heard.count_documents({"person_id": erased.data.person_id}) == 0
    finally:
        await second.stop()


async def test_a_process_without_the_master_key_never_handles_it(
    keys: None, rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    group = f"whisper-{uuid.uuid4().hex[:6]}"
    config = settings(rabbit, mongo_uri, db_name)
    sender = Service(Router(f"sender-{uuid.uuid4().hex[:6]}"), config, bootstrap)
    await sender.start()
    monkeypatch.delenv("SAMLENG_MASTER_KEY")
    monkeypatch.delenv("SAMLENG_BLIND_INDEX_KEY")
    keyless = Service(router(group), config, bootstrap)
    await keyless.start()
    try:
        assert keyless.publisher.vault is None
        await sender.publisher.publish(whisper("Keyless Reader"))
        connection = await aio_pika.connect(rabbit.url)
        channel = await connection.channel()

        async def dead_lettered() -> bool:
            dead = await channel.declare_queue(f"samleng.{group}.dlq", passive=True)
            return bool(dead.declaration_result.message_count)

        await until(dead_lettered)
        letter = await (await channel.declare_queue(f"samleng.{group}.dlq", passive=True)).get(no_ack=True)
        assert letter.headers[REASON_HEADER] == "retries-exhausted"
        assert "NoMasterKey" in str(letter.headers["x-samleng-error"])
        assert b"Keyless" not in letter.body
        await connection.close()
        assert await db.heard.count_documents({}) == 0
    finally:
        await keyless.stop()
        await sender.stop()


async def test_without_keys_events_go_as_they_are(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> None:
    connection, tapped = await tap(rabbit)
    service = Service(
        Router(f"plain-{uuid.uuid4().hex[:6]}"), settings(rabbit, mongo_uri, db_name), bootstrap
    )
    await service.start()
    try:
        assert service.publisher.vault is None
        event = whisper("Plain Person")
        await service.publisher.publish(event)
        message = await tapped.get(no_ack=True, timeout=5)
        assert Whisper.model_validate_json(message.body) == event
    finally:
        await service.stop()
        await connection.close()
