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

from collections.abc import AsyncIterator
from typing import Any

import pytest

from devstack.broker import RabbitNode
from services.dispatcher import numbers
from shared.contracts import utcnow
from shared.contracts.delivery import Recipient, band_of
from tests.support.dispatcher import in_process_dispatcher, issue_certificate, request_on

pytestmark = pytest.mark.timeout(120)
MEMBER = "mb_number_race"
PHONE = "+15625550188"
NUMBER = "KCAP-2026-000188-RACE"


@pytest.fixture
async def dispatcher(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> AsyncIterator[str]:
    site = "https://pledge.example.org"
    async with in_process_dispatcher(rabbit, mongo_uri, db_name, site, confirm_numbers=True) as exchange:
        yield exchange


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
    await issue_certificate(rabbit, dispatcher, MEMBER, NUMBER, ["sms"])

    queued = await request_on(rabbit.url, f"{dispatcher}.channel-sms.{band_of(3)}")
    assert queued.certificate is not None and queued.certificate.certificate_number == NUMBER
    assert queued.recipient.phone_confirmed is True
    [delivery] = await db.deliveries.find({"channel": "sms"}).to_list(None)
    assert delivery["state"] == "pending", delivery["state"]
    assert await db.awaiting_numbers.count_documents({}) == 0
