"""Signal, WhatsApp and Messenger as processes (senders and inbound receivers) with the dispatcher
and pledge-intake, on the real broker and Mongo-wire server, against the sandbox's copies of
their APIs (which call our webhooks back, signed)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.personal_data import open_fields
from tests.integration.test_delivery import Stack, publish, store_files, wait_for_states
from tests.support.infra import MailSink, Sandbox
from tests.support.member_keys import member_key
from tests.support.numbers import confirm_numbers
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(420)

WA_SECRET = "whatsapp-app-secret-for-tests"
MS_SECRET = "messenger-app-secret-for-tests"
INTAKE_SECRET = "intake-secret-key-for-tests-0123456789"


@pytest.fixture
def ports() -> dict[str, int]:
    return {"whatsapp": free_port(), "messenger": free_port()}


@pytest.fixture
def sandbox(tmp_path: Path, ports: dict[str, int]) -> Iterator[Sandbox]:
    box = Sandbox(
        tmp_path / "sandbox-run",
        SANDBOX_WHATSAPP_WEBHOOK_URL=f"http://127.0.0.1:{ports['whatsapp']}/webhooks/whatsapp",
        SANDBOX_WHATSAPP_APP_SECRET=WA_SECRET,
        SANDBOX_MESSENGER_WEBHOOK_URL=f"http://127.0.0.1:{ports['messenger']}/webhooks/messenger",
        SANDBOX_MESSENGER_APP_SECRET=MS_SECRET,
    ).start()
    yield box
    box.stop()


@pytest.fixture
def stack(
    service_env: dict[str, str], tmp_path: Path, sandbox: Sandbox, mail: MailSink, ports: dict[str, int]
) -> Iterator[Stack]:
    env = {
        **service_env,
        **mail.client_env(),
        **sandbox.client_env(),
        "RETRY_DELAYS_MS": "[400, 800, 1600, 3200, 6400]",
        "CHANNEL_CLAIM_LEASE_SECONDS": "3",
        "CHANNEL_BREAKER_COOLDOWN_SECONDS": "1",
        "WHATSAPP_WEBHOOK_PORT": str(ports["whatsapp"]),
        "WHATSAPP_APP_SECRET": WA_SECRET,
        "WHATSAPP_ACCESS_TOKEN": "whatsapp-token",
        "MESSENGER_WEBHOOK_PORT": str(ports["messenger"]),
        "MESSENGER_APP_SECRET": MS_SECRET,
        "MESSENGER_PAGE_ACCESS_TOKEN": "page-token",
        "MESSENGER_REF_SECRET": INTAKE_SECRET,
        "MESSENGER_ADDRESS_WAIT_SECONDS": "3",
        "SIGNAL_RECONCILE_WAIT_SECONDS": "5",
    }
    running = Stack(env, tmp_path, [])
    yield running
    ServiceProcess.stop_all(running.procs)


def start_all(stack: Stack, *channels: str) -> None:
    processes = [("services.dispatcher", "alert-dispatcher.1"), ("services.pledge_intake", "pledge-intake.1")]
    for channel in channels:
        processes.append((f"services.channels.{channel}", f"{channel}.1"))
        if channel in ("signal", "whatsapp", "messenger"):
            processes.append((f"services.channels.{channel}.inbound", f"{channel}-inbound.1"))
    stack.start_together(processes)


async def seed(
    db: Any,
    env: dict[str, str],
    index: int,
    channels: list[str],
    *,
    member_channels: list[str] | None = None,
    phone: str | None = None,
    psid: str | None = None,
    files: tuple[str, str, str] | None = None,
) -> CertificateIssued:
    member_id, pledge_id, number = f"mb_chat_{index:04d}", f"pl_chat_{index:04d}", f"KCAP-2026-{index:06d}"
    phone = phone or f"+8551234{index:04d}"
    await db.members.insert_one(
        {
            "_id": member_id,
            "name": "សុខ ដារ៉ា",
            "country": "KH",
            "language": "km",
            "phone": phone,
            "phones": [phone],
            "email": f"chat{index}@example.org",
            "emails": [f"chat{index}@example.org"],
            "channels": member_channels or channels,
            "unsubscribe_token": f"tok_chat_{index:04d}_" + "y" * 20,
            "discreet": False,  # chose ordinary messages: the certificate itself goes
            **({"psid": psid} if psid else {}),
        }
    )
    await confirm_numbers(db, env, phone)  # they wrote to us from it
    await db.member_keys.insert_one({"_id": member_key(env, "phone", phone), "member_id": member_id})
    await db.pledges.insert_one(
        {"_id": pledge_id, "state": "recorded", "member_id": member_id, "recorded_at": utcnow()}
    )
    pdf, png, _ = files or await store_files(db, number)
    return CertificateIssued(
        correlation_id=pledge_id,
        data=CertificateIssuedData(
            certificate_number=number,
            pledge_id=pledge_id,
            member_id=member_id,
            language="km",
            channels=channels,  # type: ignore[arg-type]
            bucket="certificate_files",
            pdf_file_id=pdf,
            png_file_id=png,
            verify_url=f"https://pledge.example.org/v/{number}",
            issued_at=utcnow(),
        ),
    )


async def test_signal_and_whatsapp_get_the_png_and_whatsapp_reaches_delivered_by_webhook(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox
) -> None:
    start_all(stack, "signal", "whatsapp")
    await publish(rabbit, [await seed(db, stack.env, 1, ["signal", "whatsapp"], phone="+85512345601")])

    docs = await wait_for_states(db, {"correlation_id": "pl_chat_0001"}, {"delivered"}, 2, timeout=60)
    assert {d["channel"] for d in docs} == {"signal", "whatsapp"}
    [signal] = sandbox.get("/signal/_messages", recipient="+85512345601")["messages"]
    assert signal["attachments"][0]["content_type"] == "image/png"
    [whatsapp] = sandbox.get("/whatsapp/_messages", to="85512345601")["messages"]
    assert whatsapp["type"] == "template" and whatsapp["media_mime"] == "image/png"
    wa_doc = next(d for d in docs if d["channel"] == "whatsapp")
    assert [h["state"] for h in wa_doc["history"]][-1] == "delivered"
    assert wa_doc["provider_message_id"] == whatsapp["id"]


async def test_an_ambiguous_signal_answer_is_reconciled_to_exactly_one_message(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox
) -> None:
    start_all(stack, "signal")
    sandbox.fault(provider="signal", path_prefix="/v2/send", mode="ambiguous", status=429, times=1)
    await publish(rabbit, [await seed(db, stack.env, 2, ["signal"], phone="+85512345602")])

    [doc] = await wait_for_states(
        db, {"correlation_id": "pl_chat_0002"}, {"sent", "delivered"}, 1, timeout=60
    )
    assert "unknown" in [h["state"] for h in doc["history"]]
    assert len(sandbox.get("/signal/_messages", recipient="+85512345602")["messages"]) == 1
    await asyncio.sleep(2)  # nothing more arrives later either
    assert len(sandbox.get("/signal/_messages", recipient="+85512345602")["messages"]) == 1


async def test_messenger_without_opt_in_falls_back_after_the_wait_and_with_opt_in_is_delivered(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox, mail: MailSink
) -> None:
    from itsdangerous import URLSafeTimedSerializer

    start_all(stack, "messenger", "email")
    files = await store_files(db, "KCAP-2026-MSGR")
    silent = await seed(db, stack.env, 3, ["messenger"], member_channels=["messenger", "email"], files=files)
    opting = await seed(db, stack.env, 4, ["messenger"], files=files)
    await publish(rabbit, [silent, opting])

    await asyncio.sleep(1)
    waiting = await db.deliveries.find_one({"correlation_id": "pl_chat_0004", "channel": "messenger"})
    assert waiting["state"] == "waiting" and waiting["reason"] == "waiting-for-psid"
    ref = URLSafeTimedSerializer(INTAKE_SECRET, salt="messenger-ref").dumps("pl_chat_0004")
    psid = sandbox.post("/messenger/_optin", {"ref": ref})["psid"]

    [sent] = await wait_for_states(db, {"correlation_id": "pl_chat_0004"}, {"sent"}, 1, timeout=60)
    assert sent["channel"] == "messenger"
    [message] = sandbox.get("/messenger/_messages", psid=psid)["messages"]
    assert message["messaging_type"] == "RESPONSE" and message["mime"] == "image/png"
    opener = Opener(stack.env)  # the linked PSID is stored sealed with the member's details
    try:
        member = await open_fields(await opener.vault(), await db.members.find_one({"_id": "mb_chat_0004"}))
    finally:
        await opener.aclose()
    assert member["psid"] == psid

    docs = await wait_for_states(db, {"correlation_id": "pl_chat_0003"}, {"skipped", "sent"}, 2, timeout=60)
    by_channel = {d["channel"]: d for d in docs}
    assert (
        by_channel["messenger"]["state"] == "skipped"
        and by_channel["messenger"]["reason"] == "no-psid-in-time"
    )
    assert by_channel["messenger"]["fallback"]["channel"] == "email"
    assert by_channel["email"]["state"] == "sent"
    assert [m["To"][0]["Address"] for m in mail.messages()] == ["chat3@example.org"]


async def test_whatsapp_down_does_not_slow_signal_or_email_and_everything_arrives_once_it_is_back(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox, mail: MailSink
) -> None:
    start_all(stack, "signal", "whatsapp", "email")
    sandbox.fault(provider="whatsapp", mode="reject", status=503, times=None)
    files = await store_files(db, "KCAP-2026-DOWN")
    events = [
        await seed(
            db, stack.env, 10 + i, ["whatsapp", "signal", "email"], phone=f"+8551234561{i}", files=files
        )
        for i in range(4)
    ]
    started = time.monotonic()
    await publish(rabbit, events)

    await wait_for_states(db, {"channel": {"$in": ["signal", "email"]}}, {"sent", "delivered"}, 8, timeout=30)
    others = time.monotonic() - started
    assert others < 15, f"signal and email took {others:.1f}s while WhatsApp was down"
    retrying = await db.deliveries.find({"channel": "whatsapp"}).to_list(None)
    assert {d["state"] for d in retrying} <= {"pending", "retrying"}

    await asyncio.sleep(3)
    await asyncio.to_thread(lambda: __import__("httpx").delete(f"{sandbox.url}/_sandbox/faults", timeout=10))
    await wait_for_states(db, {"channel": "whatsapp"}, {"delivered", "sent"}, 4, timeout=90)
    sent = sandbox.get("/whatsapp/_messages")["messages"]
    assert sorted(m["to"] for m in sent) == sorted(f"8551234561{i}" for i in range(4))
    assert len(mail.messages()) == 4


async def test_stop_on_whatsapp_stops_every_channel(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox, mail: MailSink
) -> None:
    start_all(stack, "signal", "whatsapp", "email")
    files = await store_files(db, "KCAP-2026-STOP")
    await publish(rabbit, [await seed(db, stack.env, 20, ["whatsapp"], phone="+85512345620", files=files)])
    await wait_for_states(db, {"correlation_id": "pl_chat_0020"}, {"delivered"}, 1, timeout=60)

    sandbox.post("/whatsapp/_inbound", {"from": "85512345620", "text": "STOP"})
    member = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        member = await db.members.find_one({"_id": "mb_chat_0020"})
        if member and "all" in member.get("unsubscribed", []):
            break
        await asyncio.sleep(0.3)
    assert member is not None and "all" in member["unsubscribed"]
    consent = await db.consents.find_one({"member_id": "mb_chat_0020", "source": "chat-reply"})
    assert consent is not None and consent["granted"] is False
    kept = await db.inbound_messages.find_one({"member_id": "mb_chat_0020"})
    assert kept is not None and kept["stop"] is True

    # A later certificate for the same member (e.g. a re-issue) goes nowhere.
    later = CertificateIssued(
        correlation_id="pl_chat_0020",
        data=CertificateIssuedData(
            certificate_number="KCAP-2026-009020",
            pledge_id="pl_chat_0020",
            member_id="mb_chat_0020",
            language="km",
            channels=["whatsapp", "signal", "email"],
            bucket="certificate_files",
            pdf_file_id=files[0],
            png_file_id=files[1],
            verify_url="https://pledge.example.org/v/KCAP-2026-009020",
            issued_at=utcnow(),
            replaces="KCAP-2026-000020",
        ),
    )
    await publish(rabbit, [later])
    docs = await wait_for_states(db, {"source_id": "KCAP-2026-009020"}, {"skipped"}, 3, timeout=30)
    assert {d["reason"] for d in docs} == {"unsubscribed"}
    await asyncio.sleep(1)
    assert len(sandbox.get("/whatsapp/_messages", to="85512345620")["messages"]) == 1
    assert sandbox.get("/signal/_messages", recipient="+85512345620")["count"] == 0
    assert mail.messages() == []


async def test_whatsapp_sent_without_a_receipt_in_time_falls_back_once_and_a_late_receipt_sends_nothing(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox, mail: MailSink
) -> None:
    stack.env["WHATSAPP_RECEIPT_WAIT_SECONDS"] = "3"
    start_all(stack, "whatsapp", "email")
    files = await store_files(db, "KCAP-2026-RCPT")
    fallback = ["whatsapp", "email"]
    on_time = await seed(db, stack.env, 30, ["whatsapp"], member_channels=fallback, files=files)
    await publish(rabbit, [on_time])
    [delivered] = await wait_for_states(db, {"correlation_id": "pl_chat_0030"}, {"delivered"}, 1)

    sandbox.post("/whatsapp/_config", {"hold_receipts": True})  # the next member's phone is off
    await publish(
        rabbit, [await seed(db, stack.env, 31, ["whatsapp"], member_channels=fallback, files=files)]
    )
    docs = await wait_for_states(db, {"correlation_id": "pl_chat_0031"}, {"sent"}, 2)
    by_channel = {d["channel"]: d for d in docs}
    whatsapp = by_channel["whatsapp"]
    assert whatsapp["reason"] == "no-receipt-in-time" and whatsapp["fallback"]["channel"] == "email"
    assert by_channel["email"]["fallback_from"] == whatsapp["_id"]
    assert [m["To"][0]["Address"] for m in mail.messages()] == ["chat31@example.org"]

    assert sandbox.post("/whatsapp/_receipts", {}) == {"released": 1}  # the phone is on again
    [late] = await wait_for_states(db, {"_id": whatsapp["_id"]}, {"delivered"}, 1, timeout=30)
    history = [(h["state"], h["reason"]) for h in late["history"]]
    assert ("sent", "no-receipt-in-time") in history and history[-1][0] == "delivered"
    await asyncio.sleep(4)  # longer than the wait: nothing more goes anywhere
    assert (
        await db.deliveries.count_documents({"correlation_id": {"$in": ["pl_chat_0030", "pl_chat_0031"]}})
        == 3
    )
    assert len(mail.messages()) == 1
    assert sandbox.get("/whatsapp/_messages")["count"] == 2
    assert await db.deliveries.find_one({"_id": late["_id"]}, {"fallback": 1}) == {
        "_id": late["_id"],
        "fallback": whatsapp["fallback"],
    }
    on_time_now = await db.deliveries.find_one({"_id": delivered["_id"]})
    assert on_time_now["state"] == "delivered" and "fallback" not in on_time_now


async def test_a_signal_outcome_reconciliation_cannot_resolve_falls_back_once_after_the_receipt_wait(
    rabbit: RabbitNode, stack: Stack, db: Any, sandbox: Sandbox, mail: MailSink
) -> None:
    stack.env["SIGNAL_RECEIPT_WAIT_SECONDS"] = "2"
    start_all(stack, "signal", "email")
    sandbox.fault(provider="signal", path_prefix="/v2/send", mode="reject", status=429, times=None)
    fallback = ["signal", "email"]
    await publish(rabbit, [await seed(db, stack.env, 32, ["signal"], member_channels=fallback)])

    docs = await wait_for_states(db, {"correlation_id": "pl_chat_0032"}, {"unknown", "sent"}, 2, timeout=90)
    by_channel = {d["channel"]: d for d in docs}
    signal = by_channel["signal"]
    assert signal["state"] == "unknown" and signal["reason"] == "no-receipt-in-time"
    assert ("unknown", "outcome-unresolved") in [(h["state"], h["reason"]) for h in signal["history"]]
    assert signal["fallback"]["channel"] == "email" and by_channel["email"]["state"] == "sent"
    await asyncio.sleep(3)
    assert [m["To"][0]["Address"] for m in mail.messages()] == ["chat32@example.org"]
    assert await db.deliveries.count_documents({"correlation_id": "pl_chat_0032"}) == 2
