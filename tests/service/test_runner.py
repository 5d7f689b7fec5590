"""The consumer runner and publisher inside one process, against the real broker and Mongo."""

from __future__ import annotations

import asyncio
from typing import Any

import aio_pika
import pytest

from devstack.broker import RabbitNode
from shared.messaging.connection import connect
from shared.messaging.errors import UnroutableMessage
from shared.messaging.publisher import Publisher
from shared.service import Service
from shared.settings import ServiceSettings
from tests.support.probe import Probe, ProbeData, bootstrap, build_router


async def test_publisher_raises_when_no_queue_is_bound(rabbit: RabbitNode) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    event = Probe(correlation_id="c", data=ProbeData(key="k")).model_copy(
        update={"type": "nobody.listens.v1"}
    )
    with pytest.raises(UnroutableMessage, match=r"nobody\.listens\.v1"):
        await publisher.publish(event)
    await connection.close()


def settings_for(rabbit: RabbitNode, mongo_uri: str, db_name: str, **extra: Any) -> ServiceSettings:
    return ServiceSettings(
        amqp_url=rabbit.url,
        mongodb_uri=mongo_uri,
        mongodb_database=db_name,
        retry_delays_ms=[300],
        **extra,
    )


async def test_sigterm_lets_an_in_flight_message_finish_and_acknowledges_it(
    rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any
) -> None:
    settings = settings_for(rabbit, mongo_uri, db_name, shutdown_grace_seconds=10)
    service = Service(build_router("graceful"), settings, bootstrap)
    await service.start()
    await service.publisher.publish(
        Probe(correlation_id="c", data=ProbeData(key="slow", sleep_after_effect_s=1.5))
    )
    while await db.attempts.count_documents({"key": "slow"}) == 0:
        await asyncio.sleep(0.05)
    await service.stop()  # what SIGTERM triggers
    connection = await aio_pika.connect(rabbit.url)
    queue = await (await connection.channel()).declare_queue("samleng.graceful", passive=True)
    assert queue.declaration_result.message_count == 0, "finished and acknowledged, not returned"
    await connection.close()
    assert await db.attempts.count_documents({"key": "slow"}) == 1


async def test_work_not_finished_within_the_grace_period_goes_back_to_the_queue(
    rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any
) -> None:
    settings = settings_for(rabbit, mongo_uri, db_name, shutdown_grace_seconds=0.2)
    service = Service(build_router("impatient"), settings, bootstrap)
    await service.start()
    await service.publisher.publish(
        Probe(correlation_id="c", data=ProbeData(key="slow", sleep_after_effect_s=30))
    )
    while await db.attempts.count_documents({"key": "slow"}) == 0:
        await asyncio.sleep(0.05)
    await service.stop()
    successor = Service(build_router("impatient"), settings, bootstrap)
    await successor.start()
    while await db.attempts.count_documents({"key": "slow"}) < 2:
        await asyncio.sleep(0.05)
    second = await db.attempts.find_one({"key": "slow", "redelivered": True})
    assert second is not None, "the unfinished message was returned and redelivered"
    await successor.stop()


async def test_readiness_reports_each_dependency(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> None:
    import httpx

    service = Service(build_router("ready"), settings_for(rabbit, mongo_uri, db_name), bootstrap)
    await service.start()
    async with httpx.AsyncClient() as client:
        ready = await client.get(service.health.url + "/health/ready")
        metrics = await client.get(service.health.url + "/metrics")
    await service.stop()
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"broker": True, "consuming": True, "mongodb": True}
    assert "samleng_messages_in_flight" in metrics.text
