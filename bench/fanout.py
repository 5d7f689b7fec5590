"""Urgent Action fan-out: deliveries handed to channel queues per second for one alert, vs raw
aio-pika publish -> consume of as many messages of the same size, in the same run.

    .venv/bin/python bench/fanout.py [--members 20000] [--write docs/benchmarks.md] [--profile DIR]

Service: `members` opted-in members are seeded (email channel); one dispatcher process is started
and `alert.published.v1` is published; the clock runs from the publish to the last
request in the email channel's queues (their depth, polled: fan-out rate). Then two email channel processes (SMTP
sink) are started and a second alert is published; the clock runs to the last
`delivery.status.v1.email` reporting `sent`, i.e. the last message accepted by the SMTP sink
(time to last message). Per member the dispatcher reads the member (one cursor
over all of them), writes the delivery document (journaled, majority) and publishes the request
with a confirm. Raw: the same number of persistent messages of the request's size published with
confirms (200 in flight) to a quorum queue and consumed by one aio-pika consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import local_stack, write_section
from bench.delivery import profiler, stop_profiler
from shared.contracts import utcnow
from shared.contracts.alert import AlertPublished, AlertPublishedData, AlertText
from shared.messaging.connection import connect
from shared.messaging.publisher import Publisher
from tests.support.infra import MailSink
from tests.support.processes import ServiceProcess

PROFILE: Path | None = None


async def raw_publish_consume(url: str, count: int, size: int) -> float:
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    queue = await channel.declare_queue(
        "bench.fanout.raw", durable=True, arguments={"x-queue-type": "quorum"}
    )
    consumer_channel = await connection.channel()
    await consumer_channel.set_qos(prefetch_count=64)
    consumer_queue = await consumer_channel.get_queue("bench.fanout.raw")
    done = asyncio.Event()
    seen = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal seen
        await message.ack()
        seen += 1
        if seen >= count:
            done.set()

    await consumer_queue.consume(on_message)
    body = b"x" * size
    started = time.perf_counter()
    for start in range(0, count, 200):
        await asyncio.gather(
            *(
                channel.default_exchange.publish(
                    aio_pika.Message(body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT), "bench.fanout.raw"
                )
                for _ in range(start, min(count, start + 200))
            )
        )
    await done.wait()
    rate = count / (time.perf_counter() - started)
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()
    return rate


EMAIL_QUEUES = tuple(f"samleng.channel-email.{band}" for band in ("high", "normal", "low"))


async def count_queued(url: str, queues: tuple[str, ...], count: int, stamps: dict[str, float]) -> None:
    """Stamp the moment the channel queues hold `count` requests, by polling their depth every
    20 ms: the measurement adds no queue or consumer of its own (a listener bound to the
    requests would make the broker route and deliver every one of them twice)."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    while True:
        depth = 0
        for name in queues:
            declared = await channel.declare_queue(name, passive=True)
            depth += declared.declaration_result.message_count or 0
        if depth >= count:
            stamps["last"] = time.perf_counter()
            break
        await asyncio.sleep(0.02)
    await connection.close()


async def count_sent(url: str, count: int, started: asyncio.Event, stamps: dict[str, float]) -> None:
    """Stamp the moment the `count`-th delivery reports `sent` (the SMTP sink accepted it)."""
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "delivery.status.v1.*")
    started.set()
    sent: set[str] = set()
    async with queue.iterator(no_ack=True) as messages:
        async for message in messages:
            data = json.loads(message.body)["data"]
            if data["state"] == "sent":
                sent.add(data["delivery_id"])
                if len(sent) >= count:
                    stamps["sent"] = time.perf_counter()
                    break
    await connection.close()


def alert(alert_id: str, number: str) -> AlertPublished:
    text = AlertText(
        title="Release Sok Vanna",
        summary="Opposition activist Sok Vanna was sentenced in a mass trial.",
        actions=["Write to the Minister of Justice"],
        letter="Your Excellency,\n\nI am {name} and I call for the release of Sok Vanna.",
    )
    data = AlertPublishedData(
        alert_id=alert_id,
        number=number,
        topics=["political-prisoners"],
        texts={"en": text, "km": text},
        public_url=f"http://127.0.0.1:8000/a/{number.replace(' ', '-').replace('/', '-')}",
        published_at=utcnow(),
    )
    return AlertPublished(correlation_id=alert_id, data=data)


async def purge(url: str, queue_name: str) -> None:
    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    queue = await channel.get_queue(queue_name)
    await queue.purge()
    await connection.close()


async def service_fanout(
    stack: Any, count: int, sink: MailSink, end_to_end: bool = True
) -> tuple[float, int, float]:
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
    members = client["bench"].members
    for start in range(0, count, 5000):
        await members.insert_many(
            [
                {
                    "_id": f"mb_{i:07d}",
                    "name": f"Member {i}",
                    "country": "US",
                    "language": "en",
                    "email": f"m{i}@example.org",
                    "email_confirmed": f"m{i}@example.org",
                    "channels": ["email"],
                    "alerts_opt_in": True,
                    "unsubscribe_token": f"tok{i:010d}" + "x" * 16,
                }
                for i in range(start, min(count, start + 5000))
            ]
        )
    env = stack.service_env(DISPATCHER_PUBLIC_BASE_URL="http://127.0.0.1:8000")
    proc = ServiceProcess("services.dispatcher", env, stack.tmp / "dispatcher.log", "dispatcher.1").start()
    proc.wait_ready()
    connection = await connect(stack.node.url, "bench")
    publisher = await Publisher.open(connection, "samleng")

    # 1. fan-out alone: no channel worker competes for the two cores
    stamps: dict[str, float] = {}
    spy = profiler("dispatcher-fanout", proc)
    started = time.perf_counter()
    await publisher.publish(alert("al_bench_1", "UA 1/26"))
    await count_queued(stack.node.url, EMAIL_QUEUES, count, stamps)
    stop_profiler(spy)
    rate = count / (stamps["last"] - started)
    for queue_name in EMAIL_QUEUES:
        await purge(stack.node.url, queue_name)
    if not end_to_end:
        proc.terminate()
        await connection.close()
        await client.close()
        return rate, 1000, float("nan")

    # 2. end to end: a second alert with two email workers sending while the fan-out writes
    email_env = stack.service_env(
        **sink.client_env(), EMAIL_SMTP_CONNECTIONS="8", EMAIL_RATE_PER_SECOND="100000"
    )
    workers = [
        ServiceProcess(
            "services.channels.email", email_env, stack.tmp / f"email-{n}.log", f"email.{n}"
        ).start()
        for n in (1, 2)
    ]
    for worker in workers:
        worker.wait_ready()
    sent_ready = asyncio.Event()
    sent_counter = asyncio.create_task(count_sent(stack.node.url, count, sent_ready, stamps))
    await sent_ready.wait()
    started = time.perf_counter()
    await publisher.publish(alert("al_bench_2", "UA 2/26"))
    await sent_counter
    to_last = stamps["sent"] - started
    proc.terminate()
    for worker in workers:
        worker.terminate()
    sample = await client["bench"].deliveries.find_one({}, {"request": 1})
    size = len(str(sample["request"])) if sample else 1000
    await connection.close()
    await client.close()
    return rate, size, to_last


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--write", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--profile", type=Path, default=None, help="py-spy the dispatcher into DIR")
    parser.add_argument("--fanout-only", action="store_true", help="skip the end-to-end run (quick checks)")
    args = parser.parse_args()
    import bench.delivery as delivery_bench

    delivery_bench.PROFILE_DIR = args.profile
    with local_stack() as stack:
        sink = MailSink(stack.tmp / "mail").start()
        try:
            fanout, size, to_last = await service_fanout(stack, args.members, sink, not args.fanout_only)
        finally:
            sink.stop()
        raw = await raw_publish_consume(stack.node.url, args.members, size)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    section = f"""## Alert fan-out (`bench/fanout.py`)

Command: `.venv/bin/python bench/fanout.py --members {args.members} --write docs/benchmarks.md`
({machine}; private RabbitMQ node and SecantusDB).

| Path | Rate | vs raw |
|---|---|---|
| Raw aio-pika publish -> consume, {size} B persistent, quorum queue | {raw:.0f} msg/s | 1.00x |
| Dispatcher: one alert -> {args.members} delivery requests on channel queues | {fanout:.0f} deliveries/s | {fanout / raw:.2f}x |

Time until the last message reached the SMTP sink (publish -> last `sent`, two email workers with
8 SMTP connections each): **{to_last:.1f} s** for {args.members} members
({args.members / to_last:.0f} emails/s end to end).

Goal (issue): >= 0.5x — **{"met" if fanout / raw >= 0.5 else "not met"}** in this run. The rate is
counted from the email queues' depth (polled every 20 ms), as the raw row counts its consumer's
messages. Each delivery is a journaled, majority-acknowledged document written before its request
is published (so a killed fan-out resumes without duplicates); the dispatcher writes them 500 at a
time and keeps three batches in flight while it reads the next members (py-spy showed the
sequential version waiting on one round trip per member: 357/s). On SecantusDB every index of
`deliveries` costs each inserted document ~35 us of server time (py-spy of the server: the index
catalogue is re-read per document): with five secondary indexes the rate was 0.42x, with three
0.58-0.63x, with none 0.81x (40,000 members). Until this run, the rate was counted by a listener
bound to the requests, which made the broker route and deliver each one twice (0.42x then; 0.49x
with the same code counted by queue depth). Sending runs while the fan-out is still writing in
the end-to-end run, so the email workers compete with it for the same two cores; the local SMTP
sink itself accepts about 200 emails/s from raw aiosmtplib (`bench/delivery.py`).
"""
    print(section)
    if args.write:
        write_section(args.write, "## Alert fan-out", section)


if __name__ == "__main__":
    asyncio.run(main())
