"""Broker throughput: raw aio-pika vs our publisher + consumer runner, in one run, same node.

    .venv/bin/python bench/broker_baseline.py [--messages 20000] [--rounds 3] [--write docs/benchmarks.md]

Both sides publish persistent ~300-byte messages with publisher confirms (pipelined in windows of
`--window` unconfirmed messages) to a topic exchange bound to one durable queue, and consume
them with manual acks (prefetch 256). The figure is end-to-end: first publish to last ack.
"Raw" hands bytes to aio-pika; "Samleng" builds and validates a pydantic contract on each side,
goes through Publisher (unroutable check, retries) and the Consumer runner (dispatch by type,
validation, handler call, metrics, ack). Rounds alternate raw/ours; the median is reported.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import aio_pika

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import write_section
from devstack.broker import RabbitNode
from shared.contracts import Event, Payload
from shared.messaging.consumer import Consumer, MessageContext, Subscription
from shared.messaging.publisher import Publisher
from shared.messaging.topology import ConsumerGroup
from shared.observability import configure_logging
from tests.support.ports import free_port

PAYLOAD_TEXT = "x" * 120


class BenchData(Payload):
    seq: int
    text: str


class BenchEvent(Event[BenchData]):
    type: Literal["bench.sent.v1"] = "bench.sent.v1"


async def raw_round(url: str, n: int, window: int, queue_name: str) -> float:
    pub_conn = await aio_pika.connect(url)
    sub_conn = await aio_pika.connect(url)
    pub_channel = await pub_conn.channel(publisher_confirms=True, on_return_raises=True)
    exchange = await pub_channel.declare_exchange("bench-raw", aio_pika.ExchangeType.TOPIC, durable=True)
    sub_channel = await sub_conn.channel()
    await sub_channel.set_qos(prefetch_count=256)
    queue = await sub_channel.declare_queue(queue_name, durable=True, arguments={"x-queue-type": "quorum"})
    await queue.bind("bench-raw", "bench.sent.v1")
    done = asyncio.Event()
    received = 0

    async def on_message(message: aio_pika.abc.AbstractIncomingMessage) -> None:
        nonlocal received
        await message.ack()
        received += 1
        if received == n:
            done.set()

    await queue.consume(on_message)
    body = (
        BenchEvent(correlation_id="bench", data=BenchData(seq=0, text=PAYLOAD_TEXT))
        .model_dump_json()
        .encode()
    )
    started = time.perf_counter()
    for offset in range(0, n, window):
        await asyncio.gather(
            *(
                exchange.publish(
                    aio_pika.Message(
                        body, delivery_mode=aio_pika.DeliveryMode.PERSISTENT, type="bench.sent.v1"
                    ),
                    "bench.sent.v1",
                    mandatory=True,
                )
                for _ in range(min(window, n - offset))
            )
        )
    await done.wait()
    elapsed = time.perf_counter() - started
    await queue.delete(if_unused=False, if_empty=False)
    await pub_conn.close()
    await sub_conn.close()
    return n / elapsed


async def ours_round(url: str, n: int, window: int, group_name: str) -> float:
    from shared.messaging.connection import connect

    pub_conn = await connect(url, "bench-pub")
    sub_conn = await connect(url, "bench-sub")
    publisher = await Publisher.open(pub_conn, "bench-ours")
    consumer_publisher = await Publisher.open(sub_conn, "bench-ours")
    group = ConsumerGroup(
        exchange="bench-ours", name=group_name, routing_keys=("bench.sent.v1",), retry_delays_ms=(1000,)
    )
    done = asyncio.Event()
    received = 0

    async def handle(event: BenchEvent, ctx: MessageContext[None]) -> None:
        nonlocal received
        received += 1
        if received == n:
            done.set()

    consumer: Consumer[None] = Consumer(
        group, {"bench.sent.v1": Subscription(BenchEvent, handle)}, None, consumer_publisher
    )
    channel = await sub_conn.channel()
    await consumer.start(channel, prefetch=256)
    started = time.perf_counter()
    for offset in range(0, n, window):
        await publisher.publish_many(
            BenchEvent(correlation_id="bench", data=BenchData(seq=offset + i, text=PAYLOAD_TEXT))
            for i in range(min(window, n - offset))
        )
    await done.wait()
    elapsed = time.perf_counter() - started
    await consumer.stop(5)
    cleanup = await sub_conn.channel()
    for queue_name in (group.queue, group.dead_letter_queue, *group.retry_queues()):
        await cleanup.queue_delete(queue_name)
    await pub_conn.close()
    await sub_conn.close()
    return n / elapsed


def write_markdown(path: Path, results: dict[str, Any]) -> None:
    section = f"""## Broker: publish → consume throughput (`bench/broker_baseline.py`)

Command: `{results["command"]}`
Run: {results["date"]} on {results["machine"]}; RabbitMQ {results["rabbitmq"]} private node
(Debian package), quorum queue, persistent messages, publisher confirms, manual acks,
{results["messages"]} messages × ~300 B per round, confirm window {results["window"]},
{results["rounds"]} rounds alternating after one warm-up round each, median reported.

| path | msg/s (median) | rounds |
|---|---|---|
| raw aio-pika (baseline) | {results["raw"]:.0f} | {", ".join(f"{x:.0f}" for x in results["raw_rounds"])} |
| Samleng Publisher + Consumer runner | {results["ours"]:.0f} | {", ".join(f"{x:.0f}" for x in results["ours_rounds"])} |
| **ratio ours / raw** | **{results["ratio"]:.2f}×** | goal ≥ 0.6× |

"""
    write_section(path, "## Broker: publish → consume throughput", section)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--window", type=int, default=500)
    parser.add_argument("--write", default="docs/benchmarks.md")
    args = parser.parse_args()
    configure_logging("bench", "INFO", "json")  # as every service runs
    with tempfile.TemporaryDirectory() as tmp:
        node = RabbitNode(
            Path(tmp),
            amqp_port=free_port(),
            management_port=None,
            epmd_port=free_port(),
            dist_port=free_port(),
        )
        node.start(stdout=subprocess.DEVNULL)
        try:
            version = node.ctl("version").strip()
            raw_rounds, ours_rounds = [], []
            await raw_round(node.url, 2000, args.window, "bench-raw-warmup")  # JIT, caches, queues
            await ours_round(node.url, 2000, args.window, "bench-warmup")
            for index in range(args.rounds):
                raw_rounds.append(await raw_round(node.url, args.messages, args.window, f"bench-raw-{index}"))
                ours_rounds.append(await ours_round(node.url, args.messages, args.window, f"bench-{index}"))
                print(
                    f"round {index + 1}: raw {raw_rounds[-1]:.0f} msg/s, ours {ours_rounds[-1]:.0f} msg/s",
                    flush=True,
                )
        finally:
            node.stop()
    raw, ours = statistics.median(raw_rounds), statistics.median(ours_rounds)
    results = {
        "command": "make bench  (= .venv/bin/python bench/broker_baseline.py " + " ".join(sys.argv[1:]) + ")",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "rabbitmq": version,
        "messages": args.messages,
        "window": args.window,
        "rounds": args.rounds,
        "raw": raw,
        "ours": ours,
        "raw_rounds": raw_rounds,
        "ours_rounds": ours_rounds,
        "ratio": ours / raw,
    }
    print(f"raw {raw:.0f} msg/s, ours {ours:.0f} msg/s, ratio {ours / raw:.2f}")
    if args.write:
        write_markdown(Path(args.write), results)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    asyncio.run(main())
