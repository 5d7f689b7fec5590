"""No chat message goes to a number its owner has not confirmed (services/dispatcher/numbers.py).

Real components: the dispatcher, the email, Signal and WhatsApp channels and Signal's inbound
poller as processes, on the real broker and Mongo-wire server; the mail sink is a real SMTP
server, Signal and WhatsApp the sandbox's copies of their APIs (a person writing to us is the
sandbox's inbound message). Members live outside Cambodia and chose ordinary messages, so what
arrives is the full message (discreet messages are test_discreet_messages.py's subject).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.alert import AlertPublished, AlertPublishedData, AlertText
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from tests.integration.test_chat_channels import WA_SECRET
from tests.integration.test_delivery import Stack, store_files, wait_for_states
from tests.support.infra import MailSink, Sandbox
from tests.support.member_keys import member_key
from tests.support.numbers import confirm_numbers
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sessions import publish

pytestmark = pytest.mark.timeout(300)
SIGNAL_ACCOUNT = "+15550000001"  # the network's own Signal number (SIGNAL_NUMBER)


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox-run").start()
    yield box
    box.stop()


@pytest.fixture
def start_stack(
    service_env: dict[str, str], tmp_path: Path, sandbox: Sandbox, mail: MailSink
) -> Iterator[Callable[[float], Stack]]:
    stacks: list[Stack] = []

    def start(wait_hours: float) -> Stack:
        env = {
            **service_env,
            **mail.client_env(),
            **sandbox.client_env(),
            "SIGNAL_NUMBER": SIGNAL_ACCOUNT,
            "WHATSAPP_WEBHOOK_PORT": str(free_port()),
            "WHATSAPP_APP_SECRET": WA_SECRET,
            "WHATSAPP_ACCESS_TOKEN": "whatsapp-token",
            "DISPATCHER_NUMBER_WAIT_HOURS": str(wait_hours),
        }
        running = Stack(env, tmp_path, [])
        stacks.append(running)
        running.start_together(
            (
                ("services.dispatcher", "alert-dispatcher.1"),
                ("services.channels.email", "email.1"),
                ("services.channels.signal", "signal.1"),
                ("services.channels.signal.inbound", "signal-inbound.1"),
                ("services.channels.whatsapp", "whatsapp.1"),
            )
        )
        return running

    yield start
    for running in stacks:
        ServiceProcess.stop_all(running.procs)


async def seed_member(
    db: Any, env: dict[str, str], n: int, channels: list[str], phone: str, country: str = "US"
) -> str:
    member_id, email = f"mb_number_{n}", f"number{n}@example.org"
    await db.members.insert_one(
        {
            "_id": member_id,
            "name": f"Chan Sophea {n}",
            "country": country,
            "language": "en",
            "channels": channels,
            "alerts_opt_in": True,
            "phone": phone,
            "phones": [phone],
            "email": email,
            "emails": [email],
            "email_confirmed": email,
            "unsubscribe_token": f"tok_number_{n}_" + "q" * 20,
        }
    )
    await db.member_keys.insert_one({"_id": member_key(env, "phone", phone), "member_id": member_id})
    await db.member_keys.insert_one({"_id": member_key(env, "email", email), "member_id": member_id})
    return member_id


def certificate(member_id: str, channels: list[str], files: tuple[str, str, str]) -> CertificateIssued:
    number = f"KCAP-2026-{member_id[-1]}0000{member_id[-1]}"
    return CertificateIssued(
        correlation_id=f"pl_{member_id}",
        data=CertificateIssuedData(
            certificate_number=number,
            pledge_id=f"pl_{member_id}",
            member_id=member_id,
            language="en",
            channels=channels,  # type: ignore[arg-type]
            bucket="certificate_files",
            pdf_file_id=files[0],
            png_file_id=files[1],
            verify_url=f"https://pledge.example.org/v/{number}",
            issued_at=utcnow(),
        ),
    )


def chat_messages(sandbox: Sandbox) -> list[tuple[str, str]]:
    """(provider, recipient) of every chat message the providers accepted."""
    signal = [("signal", str(m["recipient"])) for m in sandbox.get("/signal/_messages")["messages"]]
    whatsapp = [("whatsapp", "+" + str(m["to"])) for m in sandbox.get("/whatsapp/_messages")["messages"]]
    return signal + whatsapp


async def test_chat_waits_for_the_owner_to_write_to_us_and_an_alert_takes_the_next_channel(
    start_stack: Callable[[float], Stack], rabbit: RabbitNode, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack = start_stack(24)
    files = await store_files(db, "KCAP-2026-NUMBERS")
    waiting = await seed_member(db, stack.env, 1, ["signal", "email"], "+15625550101")
    elsewhere = await seed_member(db, stack.env, 2, ["whatsapp", "email"], "+15625550102")
    known = await seed_member(db, stack.env, 3, ["whatsapp"], "+15625550103")
    at_risk = await seed_member(db, stack.env, 5, ["signal"], "+85512550105", country="KH")  # discreet
    await confirm_numbers(db, stack.env, "+15625550103", channel="whatsapp")  # wrote to us before
    text = AlertText(title="Release Sok Vanna", summary="Sok Vanna was sentenced.")
    alert = AlertPublished(
        correlation_id="al_numbers",
        data=AlertPublishedData(
            alert_id="al_numbers",
            number="UA 50/26",
            topics=["political-prisoners"],
            texts={"en": text},
            public_url="http://pledge.example.org/a/UA-50-26",
            published_at=utcnow(),
        ),
    )
    await publish(
        rabbit.url, [certificate(waiting, ["signal"], files), certificate(at_risk, ["signal"], files), alert]
    )

    [held] = await wait_for_states(db, {"member_id": waiting, "purpose": "certificate"}, {"waiting"}, 1)
    await wait_for_states(db, {"member_id": at_risk, "purpose": "certificate"}, {"waiting"}, 1)
    assert held["channel"] == "signal" and held["reason"] == "waiting-for-number-confirmation"
    alerts = await wait_for_states(db, {"purpose": "alert"}, {"sent", "delivered"}, 3)
    assert {d["member_id"]: d["channel"] for d in alerts} == {
        waiting: "email",  # Signal unconfirmed: the next channel
        elsewhere: "email",
        known: "whatsapp",  # confirmed: as chosen
    }  # (the member in Cambodia chose only Signal: no alert while it is unconfirmed)
    assert chat_messages(sandbox) == [("whatsapp", "+15625550103")], "nothing to an unconfirmed number"

    # The owner writes to us from that number (any text): the certificate goes, on Signal.
    sandbox.post("/signal/_inbound", {"from": "+15625550101", "to": SIGNAL_ACCOUNT, "text": "Hello"})
    [sent] = await wait_for_states(
        db, {"member_id": waiting, "purpose": "certificate"}, {"sent", "delivered"}, 1
    )
    assert sent["channel"] == "signal" and sent["_id"] == held["_id"]
    [message] = sandbox.get("/signal/_messages", recipient="+15625550101")["messages"]
    assert message["attachments"][0]["content_type"] == "image/png"
    # What waited is sent as it would have been: discreet for the resident of Cambodia.
    sandbox.post("/signal/_inbound", {"from": "+85512550105", "to": SIGNAL_ACCOUNT, "text": "Hi"})
    await wait_for_states(db, {"member_id": at_risk, "purpose": "certificate"}, {"sent", "delivered"}, 1)
    [discreet] = sandbox.get("/signal/_messages", recipient="+85512550105")["messages"]
    assert not discreet["attachments"] and "/d/" in discreet["message"] and "KCAP" not in discreet["message"]
    assert await db.awaiting_numbers.count_documents({}) == 0
    stored = await db.confirmed_numbers.find_one({"_id": member_key(stack.env, "phone", "+15625550101")})
    assert stored is not None and "15625550101" not in str(stored), "kept as its blind index only"


async def test_a_certificate_whose_number_is_never_confirmed_falls_back_when_the_wait_ends(
    start_stack: Callable[[float], Stack], rabbit: RabbitNode, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack = start_stack(3 / 3600)  # 3 seconds
    files = await store_files(db, "KCAP-2026-NEVER")
    member = await seed_member(db, stack.env, 4, ["signal", "email"], "+15625550104")
    started = time.monotonic()
    await publish(rabbit.url, [certificate(member, ["signal"], files)])

    docs = await wait_for_states(db, {"member_id": member}, {"skipped", "sent", "delivered"}, 2)
    by_channel = {d["channel"]: d for d in docs}
    assert by_channel["signal"]["state"] == "skipped"
    assert by_channel["signal"]["reason"] == "number-not-confirmed-in-time"
    assert by_channel["email"]["state"] in ("sent", "delivered")
    assert time.monotonic() - started >= 3
    await asyncio.sleep(1)
    assert chat_messages(sandbox) == []
    assert [m["To"][0]["Address"] for m in mail.messages()] == ["number4@example.org"]
