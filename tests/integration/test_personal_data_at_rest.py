"""Personal data at rest on the delivery path: one certificate email for a person with unique
name/email/phone strings, through the dispatcher and the email channel (processes, real broker
and Mongo-wire server, the SMTP sink). While the sink is unreachable the request rests in the
channel's retry queue; every queue is peeked then, and every document of the database is read
through a raw client after the email went out: none holds those strings in plain text, the
services' logs neither, and the email still reaches the sink in plain text.

The member is seeded as pledge-intake stores it (its personal fields and unsubscribe token sealed,
services/pledge_intake/store.py), so the dispatcher opens it. Not covered here: the certificate
files in GridFS (rendered here with a fixed name)."""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path
from typing import Any

import aio_pika
import bson
import pytest

from devstack.broker import RabbitNode
from ops.discovery import discover_routers
from services.pledge_intake.store import MEMBER_FIELDS, unsubscribe_key
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.contracts.delivery import DeliveryRequested
from shared.member_links import link_token
from shared.personal_data import seal_fields
from shared.settings import ServiceSettings
from tests.integration.test_delivery import parsed, publish, store_files, wait_for_states
from tests.support.infra import MailSink
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess, wait_until
from tests.support.sealed import Opener

pytestmark = pytest.mark.timeout(300)


def every_queue(env: dict[str, str]) -> list[str]:
    delays = json.loads(env["RETRY_DELAYS_MS"])
    settings = ServiceSettings(_env_file=None, RETRY_DELAYS_MS=delays)  # type: ignore[call-arg]
    names = []
    for router in discover_routers().values():
        for group in router.consumer_groups(settings):
            names += [group.queue, *group.retry_queues(), group.dead_letter_queue]
    return names


async def peek(url: str, names: list[str]) -> list[tuple[str, bytes, str]]:
    """Every message resting in these queues (queue, body, headers), put back untouched."""
    found: list[tuple[str, bytes, str]] = []
    connection = await aio_pika.connect(url)
    try:
        for name in names:
            channel = await connection.channel()
            try:
                queue = await channel.declare_queue(name, passive=True)
            except aio_pika.exceptions.ChannelClosed:
                continue  # never declared in this run
            held = []
            while (message := await queue.get(no_ack=False, fail=False)) is not None:
                held.append(message)
                found.append((name, message.body, repr(message.headers)))
            for message in held:
                await message.nack(requeue=True)
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()
    return found


async def plain_hits(db: Any, secrets: list[str]) -> list[str]:
    """(collection, secret) for every document that holds a secret in plain text."""
    hits = []
    for name in await db.list_collection_names():
        async for doc in db[name].find():
            raw = bson.encode(doc)
            hits += [f"{name}:{s}" for s in secrets if s.encode() in raw]
    return hits


async def test_a_delivered_and_a_retried_email_leave_no_personal_data_in_plain_text(
    service_env: dict[str, str], mail: MailSink, rabbit: RabbitNode, db: Any, tmp_path: Path
) -> None:
    tag = uuid.uuid4().hex[:10]
    name = f"Vendrasti Qolmar{tag}"
    address = f"vq.{tag}@example.org"
    phone = f"+1562555{int(tag[:6], 16) % 10_000:04d}"
    token = f"tok{tag}unsubscribe"
    secrets = [name, address, phone, token]
    env = {
        **service_env,
        **mail.client_env(),
        "RETRY_DELAYS_MS": "[12000]",  # one long tier: the request rests there while we look
        "CHANNEL_BREAKER_COOLDOWN_SECONDS": "1",
        "DISPATCHER_PUBLIC_BASE_URL": "https://pledge.example.org",
    }
    procs: list[ServiceProcess] = []
    opener = Opener(service_env)

    def start(module: str, label: str, **extra: str) -> ServiceProcess:
        proc = ServiceProcess(module, {**env, **extra}, tmp_path / f"{label}.log", label).start()
        proc.wait_ready()
        procs.append(proc)
        return proc

    try:
        start("services.dispatcher", "alert-dispatcher.1")
        down = start("services.channels.email", "channel-email.1", SMTP_PORT=str(free_port()))
        member_id = f"mb_rest_{tag}"
        vault = await opener.vault()
        member = await seal_fields(
            vault,
            member_id,
            {
                "_id": member_id,
                "name": name,
                "country": "US",
                "language": "en",
                "email": address,
                "emails": [address],
                "phone": phone,
                "phones": [phone],
                "channels": ["email"],
                "unsubscribe_token": token,
            },
            MEMBER_FIELDS,
        )
        await db.members.insert_one({**member, "unsubscribe_key": unsubscribe_key(vault, token)})
        number = f"KCAP-2026-9{int(tag[:5], 16) % 100_000:05d}"
        pdf, png, printed = await store_files(db, number)
        event = CertificateIssued(
            correlation_id=f"pl_rest_{tag}",
            data=CertificateIssuedData(
                certificate_number=number,
                pledge_id=f"pl_rest_{tag}",
                member_id=member_id,
                language="en",
                channels=["email"],
                bucket="certificate_files",
                pdf_file_id=pdf,
                png_file_id=png,
                print_pdf_file_id=printed,
                verify_url=f"https://pledge.example.org/v/{number}",
                issued_at=utcnow(),
            ),
        )
        await publish(rabbit, [event])
        await wait_for_states(db, {"member_id": member_id}, {"retrying"}, 1, timeout=60)
        down.terminate()  # nobody consumes now: the request rests in the retry tier

        resting = await peek(rabbit.url, every_queue(env))
        retried = [body for queue, body, _ in resting if queue.startswith("samleng.channel-email.low.retry.")]
        assert len(retried) == 1, [q for q, _, _ in resting]
        request = DeliveryRequested.model_validate_json(retried[0]).data
        assert request.encrypted and request.recipient.email is None and request.recipient.name == ""
        leaks = [(q, s) for q, body, headers in resting for s in secrets if s in body.decode() + headers]
        assert leaks == []
        assert await plain_hits(db, secrets) == []

        start("services.channels.email", "channel-email.2")  # the sink is reachable again
        [doc] = await wait_for_states(db, {"member_id": member_id}, {"sent"}, 1, timeout=90)
        assert doc["attempt"] == 2

        stored = wait_until(lambda: [m for m in mail.messages() if address in str(m)], 30, message="email")
        message = parsed(mail, stored[0]["ID"])
        assert message["To"].addresses[0].display_name == name
        assert message["To"].addresses[0].addr_spec == address
        # the unsubscribe link, plain for its reader: made from the member's secret, never the secret
        assert link_token(token, member_id, "unsubscribe") in str(message["List-Unsubscribe"])
        assert token not in message.as_string()

        assert await plain_hits(db, secrets) == []
        assert "key_vault" in await db.list_collection_names()
        assert await db.key_vault.count_documents({"keyAltNames": f"member:{member_id}"}) == 1
        after = await peek(rabbit.url, every_queue(env))
        assert [(q, s) for q, body, headers in after for s in secrets if s in body.decode() + headers] == []
        for proc in procs:
            assert not [s for s in secrets if s in proc.logs()], proc.name
    finally:
        for proc in reversed(procs):
            proc.terminate()
        await opener.aclose()
