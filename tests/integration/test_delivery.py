"""Delivery on real components: dispatcher, email and post channels as processes, the real
broker and Mongo-wire server, the SMTP sink and the letters-API sandbox."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import itertools
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import httpx
import pytest
from gridfs import AsyncGridFSBucket

from devstack.broker import RabbitNode
from services.certificates.render import CertificateContent, Renderer
from services.dispatcher.routing import delivery_id
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.support.infra import MailSink, Sandbox
from tests.support.processes import ServiceProcess, wait_until

pytestmark = pytest.mark.timeout(420)

US_ADDRESS = {
    "street_address": "1600 Main Street\nApt 4",
    "city": "Long Beach",
    "country_area": "CA",
    "postal_code": "90802",
    "sorting_code": "",
    "city_area": "",
    "country_code": "US",
}


@pytest.fixture
def sandbox(tmp_path: Path) -> Iterator[Sandbox]:
    box = Sandbox(tmp_path / "sandbox-run").start()
    yield box
    box.stop()


@pytest.fixture
def delivery_env(service_env: dict[str, str], mail: MailSink, sandbox: Sandbox) -> dict[str, str]:
    return {
        **service_env,
        **mail.client_env(),
        **sandbox.client_env(),
        "RETRY_DELAYS_MS": "[400, 800, 1600, 3200, 6400, 12800, 25600]",
        "CHANNEL_CLAIM_LEASE_SECONDS": "3",
        "CHANNEL_BREAKER_COOLDOWN_SECONDS": "1",
        "DISPATCHER_PUBLIC_BASE_URL": "https://pledge.example.org",
        "SHUTDOWN_GRACE_SECONDS": "5",
    }


@dataclass
class Stack:
    env: dict[str, str]
    tmp: Path
    procs: list[ServiceProcess]

    def start(self, module: str, name: str) -> ServiceProcess:
        [proc] = self.start_together([(module, name)])
        return proc

    def start_together(self, processes: Iterable[tuple[str, str]]) -> list[ServiceProcess]:
        """Start every (module, name) at once, then wait until each is ready: their start-ups
        (mostly imports) overlap instead of adding up. Readiness is still awaited for each, so a
        busy machine only takes longer (the bound is generous for that)."""
        started = []
        for module, name in processes:
            proc = ServiceProcess(module, self.env, self.tmp / f"{name}.log", name).start()
            self.procs.append(proc)  # before waiting: one that never gets ready is stopped too
            started.append(proc)
        for proc in started:
            proc.wait_ready(timeout=90)
        return started


@pytest.fixture
def stack(delivery_env: dict[str, str], tmp_path: Path) -> Iterator[Stack]:
    running = Stack(delivery_env, tmp_path, [])
    yield running
    ServiceProcess.stop_all(running.procs)


RENDERER = Renderer()


async def seed_certificate(
    db: Any,
    index: int,
    *,
    channels: list[str],
    member_channels: list[str] | None = None,
    email_address: str | None = None,
    country: str = "US",
    address: dict[str, str] | None = US_ADDRESS,
    files: tuple[str, str, str | None] | None = None,
) -> CertificateIssued:
    """A member as pledge-intake stores it, certificate files in GridFS, and the issued event."""
    member_id = f"mb_delivery_{index:05d}"
    number = f"KCAP-2026-{index:06d}"
    await db.members.insert_one(
        {
            "_id": member_id,
            "name": f"Sok Dara {index}",
            "country": country,
            "language": "en",
            "email": email_address or f"member{index}@example.org",
            "emails": [email_address or f"member{index}@example.org"],
            "postal_address": address,
            "channels": member_channels or channels,
            "unsubscribe_token": f"tok_{index:05d}_" + "x" * 20,
        }
    )
    if files is None:
        files = await store_files(db, number)
    return CertificateIssued(
        correlation_id=f"pl_delivery_{index:05d}",
        data=CertificateIssuedData(
            certificate_number=number,
            pledge_id=f"pl_delivery_{index:05d}",
            member_id=member_id,
            language="en",
            channels=channels,  # type: ignore[arg-type]
            bucket="certificate_files",
            pdf_file_id=files[0],
            png_file_id=files[1],
            print_pdf_file_id=files[2],
            verify_url=f"https://pledge.example.org/v/{number}",
            issued_at=utcnow(),
        ),
    )


async def store_files(db: Any, number: str) -> tuple[str, str, str]:
    content = CertificateContent(
        name="Sok Dara",
        language="en",
        number=number,
        signed_on=date(2026, 11, 22),
        verify_url=f"https://pledge.example.org/v/{number}",
    )
    rendered = RENDERER.render(content)
    bucket = AsyncGridFSBucket(db, bucket_name="certificate_files")
    pdf = await bucket.upload_from_stream(f"{number}.pdf", rendered.pdf)
    png = await bucket.upload_from_stream(f"{number}.png", rendered.png)
    printed = await bucket.upload_from_stream(f"{number}-print.pdf", RENDERER.render_print(content))
    return str(pdf), str(png), str(printed)


async def publish(rabbit: RabbitNode, events: list[CertificateIssued]) -> None:
    connection = await connect(rabbit.url, "test")
    publisher = await Publisher.open(connection, "samleng")
    for start in range(0, len(events), 100):
        await publisher.publish_many(events[start : start + 100])
    await connection.close()


async def wait_for_states(
    db: Any, query: dict[str, Any], states: set[str], count: int, timeout: float = 60
) -> list[Any]:
    deadline = time.monotonic() + timeout
    docs: list[Any] = []
    while time.monotonic() < deadline:
        docs = await db.deliveries.find(query).to_list(None)
        if len(docs) >= count and all(d["state"] in states for d in docs):
            return docs
        await asyncio.sleep(0.2)
    raise AssertionError(
        f"deliveries not {states} within {timeout}s: {[(d['channel'], d['state'], d.get('reason')) for d in docs]}"
    )


def parsed(mail: MailSink, stored_id: str) -> email.message.EmailMessage:
    message = email.message_from_bytes(mail.raw(stored_id), policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


async def test_a_pledge_choosing_email_and_post_gets_an_email_with_the_pdf_and_a_letter(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack.start("services.dispatcher", "alert-dispatcher.1")
    email_worker = stack.start("services.channels.email", "email.1")
    stack.start("services.channels.post", "post.1")
    event = await seed_certificate(db, 1, channels=["email", "post"])
    await publish(rabbit, [event])

    docs = await wait_for_states(db, {"correlation_id": "pl_delivery_00001"}, {"sent"}, 2)
    assert sorted(d["channel"] for d in docs) == ["email", "post"]

    [summary] = mail.messages()
    message = parsed(mail, summary["ID"])
    email_delivery = delivery_id("certificate", "KCAP-2026-000001", "mb_delivery_00001", "email")
    assert message["Message-ID"] == f"<{email_delivery}@samleng.invalid>"
    assert message["To"].addresses[0].addr_spec == "member1@example.org"
    unsubscribe = str(message["List-Unsubscribe"]).strip()
    assert unsubscribe.startswith("<https://pledge.example.org/u/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    attachments = [part for part in message.iter_attachments()]
    assert [a.get_filename() for a in attachments] == ["KCAP-2026-000001.pdf"]
    assert attachments[0].get_content().startswith(b"%PDF")
    bodies = {part.get_content_type() for part in message.walk() if not part.is_multipart()}
    assert {"text/plain", "text/html", "application/pdf"} <= bodies

    [letter] = sandbox.letters()
    post_delivery = delivery_id("certificate", "KCAP-2026-000001", "mb_delivery_00001", "post")
    assert letter["metadata"] == {"delivery_id": post_delivery}
    assert letter["to"]["address_line1"] == "1600 Main Street" and letter["to"]["address_zip"] == "90802"
    assert letter["address_placement"] == "insert_blank_page"
    creates = [r for r in sandbox.requests("lob") if r["path"] == "/v1/letters" and r["method"] == "POST"]
    assert [r["headers"]["idempotency-key"] for r in creates] == [post_delivery]
    assert any(r["path"] == "/v1/us_verifications" for r in sandbox.requests("lob"))
    post_doc = next(d for d in docs if d["channel"] == "post")
    assert post_doc["provider_message_id"] == letter["id"]

    metrics = (await asyncio.to_thread(httpx.get, f"{email_worker.wait_ready()}/metrics", timeout=5)).text
    assert 'samleng_channel_deliveries_total{channel="email",outcome="sent"} 1.0' in metrics
    assert 'samleng_channel_queue_lag_seconds_count{band="low",channel="email"} 1.0' in metrics
    assert 'samleng_channel_circuit_open{channel="email"} 0.0' in metrics


async def test_a_permanent_email_failure_falls_back_to_the_members_next_eligible_channel(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack.start("services.dispatcher", "alert-dispatcher.1")
    stack.start("services.channels.email", "email.1")
    stack.start("services.channels.post", "post.1")
    # The signer chose email for the certificate; their preferences also list post.
    event = await seed_certificate(
        db, 2, channels=["email"], member_channels=["email", "post"], email_address="gone@reject.invalid"
    )
    await publish(rabbit, [event])

    docs = await wait_for_states(db, {"correlation_id": "pl_delivery_00002"}, {"failed_permanent", "sent"}, 2)
    by_channel = {d["channel"]: d for d in docs}
    assert by_channel["email"]["state"] == "failed_permanent"
    assert by_channel["email"]["reason"] == "smtp-550"
    assert by_channel["email"]["fallback"]["channel"] == "post"
    assert by_channel["post"]["state"] == "sent"
    assert by_channel["post"]["fallback_from"] == by_channel["email"]["_id"]
    assert mail.messages() == []
    assert len(sandbox.letters()) == 1


async def test_cambodia_is_never_sent_post_even_if_asked(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack.start("services.dispatcher", "alert-dispatcher.1")
    stack.start("services.channels.email", "email.1")
    stack.start("services.channels.post", "post.1")
    address = {
        **US_ADDRESS,
        "street_address": "No. 12, Street 271",
        "city": "Phnom Penh",
        "country_code": "KH",
    }
    event = await seed_certificate(db, 3, channels=["post", "email"], country="KH", address=address)
    await publish(rabbit, [event])

    docs = await wait_for_states(db, {"correlation_id": "pl_delivery_00003"}, {"skipped", "sent"}, 2)
    by_channel = {d["channel"]: d for d in docs}
    assert by_channel["post"]["state"] == "skipped"
    assert by_channel["post"]["reason"] == "not-available-in-KH"
    assert by_channel["email"]["state"] == "sent"
    assert sandbox.letters() == []
    assert len(mail.messages()) == 1


async def test_with_the_smtp_sink_down_email_retries_with_growing_delays_and_post_is_not_slowed(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink, sandbox: Sandbox
) -> None:
    stack.start("services.dispatcher", "alert-dispatcher.1")
    stack.start("services.channels.email", "email.1")
    stack.start("services.channels.post", "post.1")
    mail.stop()
    events = [await seed_certificate(db, 100 + i, channels=["email", "post"]) for i in range(5)]
    published = time.monotonic()
    await publish(rabbit, events)

    letters = await wait_for_states(db, {"channel": "post"}, {"sent"}, 5, timeout=30)
    post_latency = time.monotonic() - published
    assert post_latency < 10, f"post took {post_latency:.1f}s while email was down"
    assert {d["state"] for d in await db.deliveries.find({"channel": "email"}).to_list(None)} <= {
        "pending",
        "retrying",
    }

    await asyncio.sleep(6)  # several retry tiers pass while the sink is down
    emails = await db.deliveries.find({"channel": "email"}).to_list(None)
    for doc in emails:
        retries = [h for h in doc["history"] if h["state"] == "retrying"]
        assert len(retries) >= 2, doc["history"]
        gaps = [(b["at"] - a["at"]).total_seconds() for a, b in itertools.pairwise(retries)]
        assert all(later > earlier for earlier, later in itertools.pairwise(gaps)) or len(gaps) == 1, gaps
        assert gaps[0] >= 0.3

    mail.start()
    await wait_for_states(db, {"channel": "email"}, {"sent"}, 5, timeout=90)
    ids = Counter(m["MessageID"] for m in mail.messages())
    assert len(ids) == 5 and set(ids.values()) == {1}, ids
    assert len(letters) == 5


async def test_two_email_workers_share_500_deliveries_and_send_none_twice(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink
) -> None:
    files = await store_files(db, "KCAP-2026-SHARED")
    events = [await seed_certificate(db, 1000 + i, channels=["email"], files=files) for i in range(500)]
    stack.start("services.dispatcher", "alert-dispatcher.1")
    workers = [stack.start("services.channels.email", f"email.{n}") for n in (1, 2)]
    await publish(rabbit, events)

    await wait_for_states(db, {"channel": "email"}, {"sent"}, 500, timeout=240)
    ids = Counter(m["MessageID"] for m in mail.messages())
    assert len(ids) == 500 and max(ids.values()) == 1
    shares = [sum(1 for r in w.log_records() if r.get("event") == "delivered") for w in workers]
    assert sum(shares) == 500
    assert min(shares) >= 100, shares


async def test_an_email_worker_killed_mid_batch_loses_nothing_and_sends_nothing_twice(
    rabbit: RabbitNode, stack: Stack, db: Any, mail: MailSink
) -> None:
    files = await store_files(db, "KCAP-2026-KILLED")
    events = [await seed_certificate(db, 2000 + i, channels=["email"], files=files) for i in range(300)]
    stack.start("services.dispatcher", "alert-dispatcher.1")
    victim = stack.start("services.channels.email", "email.1")
    survivor = stack.start("services.channels.email", "email.2")
    await publish(rabbit, events)

    wait_until(lambda: len(mail.messages()) >= 60, timeout=120, message="a third of the batch sent")
    victim.kill()

    await wait_for_states(db, {"channel": "email"}, {"sent"}, 300, timeout=240)
    ids = Counter(m["MessageID"] for m in mail.messages())
    assert len(ids) == 300, f"{300 - len(ids)} lost"
    assert max(ids.values()) == 1, [k for k, v in ids.items() if v > 1]
    assert survivor.process is not None and survivor.process.poll() is None
    # The victim's claims were settled by asking the mailbox, not by resending blindly.
    assert any(str(r.get("event", "")).startswith("reconciled") for r in survivor.log_records())


async def test_after_the_last_retry_tier_the_dispatcher_is_told_falls_back_and_a_replay_sends_once(
    rabbit: RabbitNode,
    delivery_env: dict[str, str],
    tmp_path: Path,
    db: Any,
    mail: MailSink,
    sandbox: Sandbox,
) -> None:
    import subprocess
    import sys

    import aio_pika

    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    with contextlib.suppress(aio_pika.exceptions.ChannelClosed):
        await (await channel.declare_queue("samleng.channel-email.low.dlq", passive=True)).purge()
    await connection.close()
    env = dict(delivery_env, RETRY_DELAYS_MS="[200, 400]")
    short = Stack(env, tmp_path, [])
    try:
        short.start("services.dispatcher", "alert-dispatcher.1")
        short.start("services.channels.email", "email.1")
        short.start("services.channels.post", "post.1")
        mail.stop()
        event = await seed_certificate(db, 3000, channels=["email"], member_channels=["email", "post"])
        await publish(rabbit, [event])

        docs = await wait_for_states(
            db, {"correlation_id": "pl_delivery_03000"}, {"dead_lettered", "sent"}, 2
        )
        by_channel = {d["channel"]: d for d in docs}
        assert by_channel["email"]["state"] == "dead_lettered"
        assert [h["attempt"] for h in by_channel["email"]["history"] if h["state"] == "retrying"] == [1, 2]
        assert by_channel["email"]["fallback"]["channel"] == "post"
        assert by_channel["post"]["state"] == "sent"

        mail.start()
        replay = await asyncio.to_thread(
            subprocess.run,
            [sys.executable, "-m", "ops.cli", "dlq", "replay", "samleng.channel-email.low.dlq", "--all"],
            env={**env, "AMQP_URL": rabbit.url},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert replay.returncode == 0, replay.stderr
        await wait_for_states(db, {"correlation_id": "pl_delivery_03000", "channel": "email"}, {"sent"}, 1)
        assert len(mail.messages()) == 1
    finally:
        for proc in reversed(short.procs):
            proc.terminate()
