"""A number confirmed while its certificate is being routed still gets the certificate
(services/dispatcher/numbers.py, deliveries.py `release_if_confirmed`).

The race, seen in a fresh-clone run: the person signs choosing a phone channel and texts our number
at once. The dispatcher routes the certificate (the number is not confirmed yet: the delivery is
made to wait) while it handles the text (the number is confirmed, and nothing waits yet). Without
a check after the wait is recorded, the certificate waited for a confirmation that had already
come. Here the confirmation is made to land exactly between the check and the wait.

Real: the dispatcher (in this process) on the real broker and Mongo-wire server; nothing consumes
the channel's queue, the test reads it.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest

from devstack.broker import RabbitNode
from services.dispatcher import numbers
from services.dispatcher.app import DispatcherSettings, bootstrap, router
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.contracts.delivery import Recipient, band_of
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from shared.service import Service
from tests.service.test_dispatcher_download_link import request_on

pytestmark = pytest.mark.timeout(120)
MEMBER = "mb_number_race"
PHONE = "+15625550188"
NUMBER = "KCAP-2026-000188-RACE"


@pytest.fixture
async def dispatcher(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> AsyncIterator[str]:
    exchange = f"t{uuid.uuid4().hex[:10]}"
    settings = DispatcherSettings(
        _env_file=None,
        amqp_url=rabbit.url,
        amqp_exchange=exchange,
        mongodb_uri=mongo_uri,
        mongodb_database=db_name,
        public_base_url="https://pledge.example.org",
        confirm_numbers=True,
        retry_delays_ms=[300],
    )
    service: Service[Any] = Service(router, settings, bootstrap)
    await service.start()
    yield exchange
    await service.stop()


async def test_a_number_confirmed_while_its_certificate_is_routed_gets_the_certificate(
    dispatcher: str, rabbit: RabbitNode, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = numbers.checked

    async def confirmed_right_after_the_check(deps: Any, recipient: Recipient) -> Recipient:
        unconfirmed = await checked(deps, recipient)
        # the owner's text is handled now: confirmed, and nothing is waiting for it yet
        assert await numbers.confirm(deps, PHONE, "sms", utcnow()) == []
        return unconfirmed

    monkeypatch.setattr(numbers, "checked", confirmed_right_after_the_check)
    await db.members.insert_one(
        {
            "_id": MEMBER,
            "name": "Sok Dara",
            "country": "US",
            "language": "en",
            "channels": ["sms"],
            "phone": PHONE,
            "unsubscribe_token": "tok_" + "r" * 28,
        }
    )
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, dispatcher)
    await publisher.publish(
        CertificateIssued(
            correlation_id=f"pl_{MEMBER}",
            data=CertificateIssuedData(
                certificate_number=NUMBER,
                pledge_id=f"pl_{MEMBER}",
                member_id=MEMBER,
                language="en",
                channels=["sms"],
                bucket="certificate_files",
                pdf_file_id="0" * 24,
                verify_url=f"https://pledge.example.org/v/{NUMBER}",
                issued_at=utcnow(),
            ),
        )
    )
    await connection.close()

    queued = await request_on(rabbit.url, f"{dispatcher}.channel-sms.{band_of(3)}")
    assert queued.certificate is not None and queued.certificate.certificate_number == NUMBER
    assert queued.recipient.phone_confirmed is True
    [delivery] = await db.deliveries.find({"channel": "sms"}).to_list(None)
    assert delivery["state"] == "pending", delivery["state"]
    assert await db.awaiting_numbers.count_documents({}) == 0
