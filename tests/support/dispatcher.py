"""The dispatcher in the test's own process, on an exchange of its own (its queues and the
channels' are the test's), and what tests hand it and read from it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aio_pika

from devstack.broker import RabbitNode
from services.dispatcher.app import DispatcherSettings, bootstrap, router
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.contracts.delivery import DeliveryRequestedData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.service import Service


@contextlib.asynccontextmanager
async def in_process_dispatcher(
    rabbit: RabbitNode, mongo_uri: str, db_name: str, public_base_url: str, *, confirm_numbers: bool
) -> AsyncIterator[str]:
    """A running dispatcher; yields its exchange's name."""
    exchange = f"t{uuid.uuid4().hex[:10]}"
    settings = DispatcherSettings(
        _env_file=None,
        amqp_url=rabbit.url,
        amqp_exchange=exchange,
        mongodb_uri=mongo_uri,
        mongodb_database=db_name,
        public_base_url=public_base_url,
        confirm_numbers=confirm_numbers,
        retry_delays_ms=[300],
    )
    service: Service[Any] = Service(router, settings, bootstrap)
    await service.start()
    try:
        yield exchange
    finally:
        await service.stop()


async def issue_certificate(
    rabbit: RabbitNode, exchange: str, member_id: str, number: str, channels: list[str], **files: Any
) -> None:
    """Publish `certificate.issued.v1` for the member's pledge `pl_<member_id>` (its PDF as `files`
    says, else a made-up id: only channels that attach it read it)."""
    connection = await connect(rabbit.url, "test")
    try:
        publisher = await Publisher.open(connection, exchange)
        await publisher.publish(
            CertificateIssued(
                correlation_id=f"pl_{member_id}",
                data=CertificateIssuedData(
                    certificate_number=number,
                    pledge_id=f"pl_{member_id}",
                    member_id=member_id,
                    language="en",
                    channels=channels,
                    bucket="certificate_files",
                    pdf_file_id=files.get("pdf_file_id", "0" * 24),
                    verify_url=files.get("verify_url", f"https://pledge.example.org/v/{number}"),
                    issued_at=utcnow(),
                ),
            )
        )
    finally:
        await connection.close()


async def request_on(rabbit_url: str, queue_name: str) -> DeliveryRequestedData:
    """The one request the dispatcher queued for a channel (nobody consumes it in these tests)."""
    connection = await aio_pika.connect(rabbit_url)
    try:
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        for _ in range(200):
            message = await queue.get(no_ack=True, fail=False)
            if message is not None:
                return DeliveryRequestedData.model_validate(json.loads(message.body)["data"])
            await asyncio.sleep(0.05)
        raise AssertionError(f"nothing arrived on {queue_name}")
    finally:
        await connection.close()
