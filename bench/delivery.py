"""Delivery throughput: the email channel into the SMTP sink vs raw aiosmtplib, and the
dispatcher's fan-out vs raw aio-pika publishing, measured in the same run.

    .venv/bin/python bench/delivery.py [--count 1000] [--write docs/benchmarks.md]

Email, raw: this process composes the same message (text + HTML + the certificate PDF) and sends
it `count` times to the same sink over `EMAIL_SMTP_CONNECTIONS` parallel aiosmtplib connections.
Email, service: one email channel process; `count` delivery requests are queued while it is
stopped, then it starts and the clock runs from its first claim to the last `sent` status. It
adds the claim in its send log, the GridFS read of the PDF and the status event (its rate limit,
50/s by default, is lifted with EMAIL_RATE_PER_SECOND so the machinery itself is measured).

Fan-out, raw: `count` persistent messages of the same size published with confirms by aio-pika
to a quorum queue (like the channels' queues), 200 in flight at a time.
Fan-out, service: one dispatcher; `count` certificate.issued events (one member each, email
chosen) are queued while it is stopped; the clock runs from its start until the `count`-th
delivery request is seen on the exchange (member lookup, unsubscribe token, delivery document,
confirmed publish).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import aio_pika
import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import local_stack, write_section
from services.certificates.render import CertificateContent, Renderer
from services.channels.email.adapter import EmailAdapter, EmailSettings
from shared.channels.adapter import Attachment, OutboundMessage
from shared.contracts import utcnow
from shared.contracts.certificate import CertificateIssued, CertificateIssuedData
from shared.contracts.delivery import (
    CertificateRef,
    DeliveryRequested,
    DeliveryRequestedData,
    DeliveryStatus,
    Recipient,
)
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.support.infra import MailSink
from tests.support.processes import ServiceProcess

CONNECTIONS = 4
PROFILE_DIR: Path | None = None


def profiler(name: str, proc: ServiceProcess) -> subprocess.Popen[bytes] | None:
    """With --profile DIR, sample the measured process with py-spy (raw stacks in DIR/<name>.txt)."""
    if PROFILE_DIR is None or proc.process is None:
        return None
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    py_spy = str(Path(sys.executable).parent / "py-spy")
    command = [py_spy, "record", "--format", "raw", "-r", "200", "--pid", str(proc.process.pid)]
    return subprocess.Popen([*command, "-o", str(PROFILE_DIR / f"{name}.txt")], stdout=subprocess.DEVNULL)


def stop_profiler(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is not None:
        spy.send_signal(signal.SIGINT)  # py-spy writes its output on Ctrl-C
        spy.wait(30)


def certificate_files() -> tuple[bytes, bytes]:
    rendered = Renderer().render(
        CertificateContent(
            name="Sok Dara",
            language="en",
            number="KCAP-2026-000001",
            signed_on=date(2026, 11, 22),
            verify_url="http://127.0.0.1:8000/v/KCAP-2026-000001",
        )
    )
    return rendered.pdf, rendered.png


def request(index: int, pdf_id: str, png_id: str) -> DeliveryRequested:
    data = DeliveryRequestedData(
        delivery_id=f"dl_bench{index:016d}",
        channel="email",
        purpose="certificate",
        source_id=f"KCAP-2026-{index:06d}",
        recipient=Recipient(
            member_id=f"mb_{index}",
            name="Sok Dara",
            language="en",
            country="US",
            email=f"m{index}@example.org",
        ),
        certificate=CertificateRef(
            certificate_number=f"KCAP-2026-{index:06d}",
            bucket="certificate_files",
            pdf_file_id=pdf_id,
            png_file_id=png_id,
            verify_url="http://127.0.0.1:8000/v/KCAP-2026-000001",
        ),
        unsubscribe_url="http://127.0.0.1:8000/u/bench-token-000000000000",
        requested_at=utcnow(),
    )
    return DeliveryRequested(correlation_id=f"pl_{index}", data=data)


def issued_events(tag: str, count: int) -> list[CertificateIssued]:
    """`count` certificate.issued events for members `mb_<tag><i>`, one email delivery each."""
    return [
        CertificateIssued(
            correlation_id=f"pl_{tag}{i}",
            data=CertificateIssuedData(
                certificate_number=f"KCAP-2026-{i:06d}",
                pledge_id=f"pl_{tag}{i}",
                member_id=f"mb_{tag}{i}",
                language="en",
                channels=["email"],
                bucket="certificate_files",
                pdf_file_id="0" * 24,
                png_file_id="1" * 24,
                verify_url="http://127.0.0.1:8000/v/x",
                issued_at=utcnow(),
            ),
        )
        for i in range(count)
    ]


async def raw_smtp(count: int, port: int, pdf: bytes) -> float:
    adapter = EmailAdapter(EmailSettings(_env_file=None, EMAIL_SMTP_PORT=port))
    sample = request(0, "0" * 24, "1" * 24)
    attachment = Attachment("KCAP-2026-000001.pdf", "application/pdf", pdf)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(count):
        queue.put_nowait(i)

    async def worker() -> None:
        client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port)
        await client.connect()
        while not queue.empty():
            i = queue.get_nowait()
            delivery = sample.data.model_copy(update={"delivery_id": f"dl_raw{i:016d}"})
            await client.send_message(adapter.compose(OutboundMessage(delivery, (attachment,))))
        await client.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONNECTIONS)))
    return count / (time.perf_counter() - started)


async def count_on(
    url: str, binding: str, count: int, started: asyncio.Event, stamps: dict[str, float]
) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, binding)
    started.set()
    seen = 0
    async with queue.iterator(no_ack=True) as messages:
        async for _ in messages:
            seen += 1
            stamps.setdefault("first", time.perf_counter())
            if seen >= count:
                stamps["last"] = time.perf_counter()
                break
    await connection.close()


async def service_email(
    stack: Any, count: int, sink: MailSink, pdf: bytes, png: bytes
) -> tuple[float, float]:
    from gridfs import AsyncGridFSBucket
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
    bucket = AsyncGridFSBucket(client["bench"], bucket_name="certificate_files")
    pdf_id = str(await bucket.upload_from_stream("c.pdf", pdf))
    png_id = str(await bucket.upload_from_stream("c.png", png))
    env = stack.service_env(
        **sink.client_env(), EMAIL_SMTP_CONNECTIONS=str(CONNECTIONS), EMAIL_RATE_PER_SECOND="100000"
    )
    # start once so the queue exists, stop, then queue everything while it is down
    first = ServiceProcess("services.channels.email", env, stack.tmp / "email-setup.log", "email.0").start()
    first.wait_ready()
    first.terminate()
    connection = await connect(stack.node.url, "bench")
    publisher = await Publisher.open(connection, "samleng")
    events = [request(i, pdf_id, png_id) for i in range(count)]
    for start in range(0, count, 200):
        await publisher.publish_many(events[start : start + 200])
    ready = asyncio.Event()
    stamps: dict[str, float] = {}
    counter = asyncio.create_task(
        count_on(stack.node.url, f"{DeliveryStatus.event_type()}.email", count, ready, stamps)
    )
    await ready.wait()
    proc = ServiceProcess("services.channels.email", env, stack.tmp / "email.log", "email.1").start()
    launched = time.perf_counter()
    spy = profiler("email", proc)
    await counter
    stop_profiler(spy)
    proc.terminate()
    await connection.close()
    await client.close()
    return count / (stamps["last"] - stamps["first"]), stamps["last"] - launched


async def raw_publish(url: str, count: int, size: int) -> float:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue("bench.raw", durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind(exchange, "bench.raw")
    body = b"x" * size
    started = time.perf_counter()
    for start in range(0, count, 200):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "bench.raw"
                )
                for _ in range(start, min(count, start + 200))
            )
        )
    rate = count / (time.perf_counter() - started)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return rate


async def service_fanout(stack: Any, count: int) -> tuple[float, int]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
    db = client["bench"]
    await db.members.insert_many(
        [
            {
                "_id": f"mb_fan{i}",
                "name": "Sok Dara",
                "country": "US",
                "language": "en",
                "email": f"f{i}@example.org",
                "channels": ["email"],
                "unsubscribe_token": f"tok{i:08d}" + "x" * 20,
            }
            for i in range(count)
        ]
    )
    env = stack.service_env(DISPATCHER_PUBLIC_BASE_URL="http://127.0.0.1:8000")
    first = ServiceProcess(
        "services.dispatcher", env, stack.tmp / "dispatcher-setup.log", "dispatcher.0"
    ).start()
    first.wait_ready()
    first.terminate()
    connection = await connect(stack.node.url, "bench")
    publisher = await Publisher.open(connection, "samleng")
    events = issued_events("fan", count)
    for start in range(0, count, 200):
        await publisher.publish_many(events[start : start + 200])
    ready = asyncio.Event()
    stamps: dict[str, float] = {}
    counter = asyncio.create_task(
        count_on(stack.node.url, f"{DeliveryRequested.event_type()}.#", count, ready, stamps)
    )
    await ready.wait()
    proc = ServiceProcess("services.dispatcher", env, stack.tmp / "dispatcher.log", "dispatcher.1").start()
    launched = time.perf_counter()
    spy = profiler("dispatcher", proc)
    await counter
    stop_profiler(spy)
    proc.terminate()
    await connection.close()
    await client.close()
    size = len(
        DeliveryRequested(correlation_id="x", data=request(0, "0" * 24, "1" * 24).data).model_dump_json()
    )
    return count / (stamps["last"] - launched), size


async def raw_durable_inserts(mongo_uri: str, count: int, size: int) -> float:
    """The database floor of the dispatcher: one journaled, majority-acknowledged insert per
    delivery (plus nothing else), 64 in flight as the dispatcher's prefetch allows."""
    from pymongo import AsyncMongoClient, WriteConcern

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    collection = client["bench"].raw_inserts.with_options(write_concern=WriteConcern(w="majority", j=True))
    slots = asyncio.Semaphore(64)

    async def insert(i: int) -> None:
        async with slots:
            await collection.insert_one({"_id": i, "payload": "x" * size})

    started = time.perf_counter()
    await asyncio.gather(*(insert(i) for i in range(count)))
    rate = count / (time.perf_counter() - started)
    await client.close()
    return rate


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--write", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the measured services into DIR")
    args = parser.parse_args()
    global PROFILE_DIR
    PROFILE_DIR = args.profile
    pdf, png = certificate_files()
    with local_stack() as stack:
        sink = MailSink(stack.tmp / "mail").start()
        try:
            raw_email = await raw_smtp(args.count, sink.smtp_port, pdf)
            httpx_clear(sink)
            service_rate, service_total = await service_email(stack, args.count, sink, pdf, png)
            delivered = len(sink.messages())
        finally:
            sink.stop()
        fanout_rate, size = await service_fanout(stack, args.count)
        raw_fanout = await raw_publish(stack.node.url, args.count, size)
        raw_inserts = await raw_durable_inserts(stack.mongo_uri, args.count, size)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    section = f"""## Delivery: email channel and dispatcher fan-out (`bench/delivery.py`)

Command: `.venv/bin/python bench/delivery.py --count {args.count} --write docs/benchmarks.md`
({machine}; private RabbitMQ node, SecantusDB, the local SMTP sink; {CONNECTIONS} SMTP connections).

| Path | Rate | vs raw |
|---|---|---|
| Raw aiosmtplib, same message + PDF, to the sink | {raw_email:.0f} emails/s | 1.00x |
| Email channel (claim, GridFS PDF, send, status event) | {service_rate:.0f} emails/s | {service_rate / raw_email:.2f}x |
| Raw aio-pika publish with confirms ({size} B) | {raw_fanout:.0f} msg/s | 1.00x |
| Dispatcher: certificate.issued -> delivery.requested | {fanout_rate:.0f} deliveries/s | {fanout_rate / raw_fanout:.2f}x |
| Raw durable insert_one (w=majority, j) to the same Mongo-wire server | {raw_inserts:.0f} docs/s | dispatcher = {fanout_rate / raw_inserts:.2f}x |

The email channel delivered {delivered} of {args.count} messages (all of them, once each);
{service_total:.1f} s from process start to the last `sent` status, including start-up.

Where the time goes (py-spy, `--profile DIR`): composing the MIME message (headers, base64 of the
PDF) and the SMTP exchange are common to both email rows. The channel adds, per message, a
journaled claim insert, the GridFS read of the PDF (two queries), the journaled `sent` update and
a confirmed status publish. The dispatcher's work per certificate is one member read, one
journaled delivery insert and one confirmed publish, so it is bounded by the Mongo-wire server
(SecantusDB: one Python process sharing the two cores with the broker and the services), not by
the broker; the last row is that server's own durable insert rate, measured in the same run.
The email channel's default rate limit (50/s per process, `EMAIL_RATE_PER_SECOND`) was lifted for
this run; scale throughput with more email processes (`SCALE=email=3`).
"""
    print(section)
    if args.write:
        write_section(args.write, "## Delivery: email channel", section)


def httpx_clear(sink: MailSink) -> None:
    import httpx

    httpx.delete(f"{sink.url}/api/v1/messages", timeout=30)


if __name__ == "__main__":
    asyncio.run(main())
