"""Reminder lateness: how late 10,000 due reminders reach the exchange with two scheduler replicas,
vs a bare asyncio timer loop publishing the same messages at their due times, in the same run.

    .venv/bin/python bench/reminders.py [--registrations 10000] [--window 10] [--write docs/benchmarks.md] [--profile DIR]

Service: two `event-scheduler` processes (default settings; `SCHEDULER_*` variables of this
shell are passed on); `--sessions` in-person sessions with `--registrations` registrations in all,
written in bulk as the scheduler keeps them (recording registrations is not what is measured), so
that each registration's reminder falls due within `--window` seconds, starting `LEAD` seconds
later (sessions spread evenly over the window; each session's registrants are due
at the same instant). Lateness = the time a `reminder.due.v1` arrives at a listener bound to the
exchange minus its `due_at` (so it includes the broker's routing: an upper bound of "due time to
published"). Raw: one process, the same message bodies, the same due times shifted to a new
window, each published by a `loop.call_at` timer with aio-pika publisher confirms; measured by the
same listener.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aio_pika
from pymongo import AsyncMongoClient

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import local_stack, write_section
from bench.delivery import profiler, stop_profiler
from shared.contracts import utcnow
from tests.support.processes import ServiceProcess
from tests.support.sessions import DueListener, make_session, seed_registered

SCHEDULER_ENV = {k: v for k, v in os.environ.items() if k.startswith("SCHEDULER_")}
LEAD = 60.0  # seconds from the start of seeding to the first due reminder


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return statistics.median(ordered), p99, ordered[-1]


async def wait(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        await asyncio.sleep(0.1)


async def service_run(
    stack: Any, sessions: int, registrations: int, window: float
) -> tuple[list[float], Any]:
    env = stack.service_env(**SCHEDULER_ENV)
    procs = [
        ServiceProcess(
            "services.scheduler", env, stack.tmp / f"scheduler-{n}.log", f"event-scheduler.{n}"
        ).start()
        for n in (1, 2)
    ]
    try:  # a failed run must not leave schedulers behind once the stack is gone
        for proc in procs:
            proc.wait_ready()
        listener = await DueListener(stack.node.url).start()
        per_session = registrations // sessions
        count = per_session * sessions
        # the registrations as the scheduler keeps them, written in bulk (recording them through events
        # is not what is measured here); their reminders fall due within `window` seconds
        first_due = utcnow() + timedelta(seconds=LEAD)
        step = window / max(1, sessions - 1)
        sessions_ = [
            make_session(
                f"ss_bench_{n:03d}",
                first_due + timedelta(seconds=6 + n * step),
                reminder_seconds=[6],
                mode="in-person",
            )
            for n in range(sessions)
        ]
        client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(stack.mongo_uri, tz_aware=True)
        seeding = time.perf_counter()
        await seed_registered(client["bench"], sessions_, per_session)
        print(f"{count} registrations seeded in {time.perf_counter() - seeding:.1f}s")
        await client.close()
        if utcnow() > first_due - timedelta(seconds=5):
            raise RuntimeError("seeding took longer than the lead time: raise LEAD")
        spies = [profiler(f"scheduler-{n}", proc) for n, proc in enumerate(procs, 1)]
        await wait(lambda: len(listener.of("reminder")) >= count, 120 + window, "reminders")
        for spy in spies:
            stop_profiler(spy)
        reminders = listener.of("reminder")
    finally:
        for proc in procs:
            proc.terminate(timeout=10)
    await listener.close()
    return [r.lateness for r in reminders], reminders


async def raw_run(url: str, reminders: list[Any]) -> list[float]:
    """A bare timer loop: each message published at its (shifted) due time with a confirm."""
    listener = await DueListener(url).start()
    connection = await aio_pika.connect(url)
    channel = await connection.channel(publisher_confirms=True)
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    first = min(r.event.data.due_at for r in reminders)
    shift = utcnow() + timedelta(seconds=5) - first
    loop = asyncio.get_running_loop()
    tasks: list[asyncio.Task[Any]] = []

    def fire(body: bytes, message_id: str) -> None:
        message = aio_pika.Message(
            body, message_id=message_id, delivery_mode=aio_pika.DeliveryMode.PERSISTENT
        )
        tasks.append(asyncio.ensure_future(exchange.publish(message, "reminder.due.v1")))

    offset = loop.time() - utcnow().timestamp()
    for r in reminders:
        event = r.event.model_copy(
            update={"data": r.event.data.model_copy(update={"due_at": r.event.data.due_at + shift})}
        )
        loop.call_at(
            event.data.due_at.timestamp() + offset, fire, event.model_dump_json().encode(), r.message_id
        )
    await wait(lambda: len(listener.received) >= len(reminders), 120, "raw reminders")
    await asyncio.gather(*tasks)
    await connection.close()
    await listener.close()
    return [r.lateness for r in listener.received]


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--registrations", type=int, default=10_000)
    parser.add_argument("--sessions", type=int, default=40)
    parser.add_argument(
        "--window", type=float, default=10.0, help="seconds over which the reminders fall due"
    )
    parser.add_argument("--write", type=Path, default=Path("docs/benchmarks.md"))
    parser.add_argument("--profile", type=Path, default=None, help="py-spy both schedulers into DIR")
    args = parser.parse_args()
    import bench.delivery as delivery_bench

    delivery_bench.PROFILE_DIR = args.profile
    with local_stack() as stack:
        service, reminders = await service_run(stack, args.sessions, args.registrations, args.window)
        raw = await raw_run(stack.node.url, reminders)
    s50, s99, smax = percentiles(service)
    r50, r99, rmax = percentiles(raw)
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    command = (
        f"`.venv/bin/python bench/reminders.py --registrations {args.registrations} --sessions {args.sessions} "
        f"--window {args.window:g} --write docs/benchmarks.md`"
    )
    section = f"""## Reminder lateness (`bench/reminders.py`)

Command: {command}
({machine}; private RabbitMQ node and SecantusDB).

{len(service)} reminders (one per registration, {args.sessions} sessions) falling due within
{args.window:g} s, two `event-scheduler` replicas with default settings (tick 0.25 s, look-ahead
15 s, lease 30 s), registrations seeded in bulk {LEAD:g} s before the first is due. Lateness =
arrival at a listener on the exchange minus `due_at`.

| Path | p50 | p99 | max |
|---|---|---|---|
| Raw: bare asyncio timers, aio-pika publish with confirms, same bodies and due times | {r50 * 1000:.0f} ms | {r99 * 1000:.0f} ms | {rmax * 1000:.0f} ms |
| event-scheduler, two replicas (claimed with leases; each publish also copied to the sent journal, marked from it) | {s50 * 1000:.0f} ms | {s99 * 1000:.0f} ms | {smax * 1000:.0f} ms |
| ratio (scheduler / raw) | {s50 / r50:.1f}x | {s99 / r99:.1f}x | {smax / rmax:.1f}x |

Goal (issue): max <= 1 s — **{"met" if smax <= 1.0 else "not met"}** in this run.

The sent journal (docs/sessions.md: what a killed replica published is not published again)
makes the broker store and deliver every reminder twice; on its introduction the scheduler's row
went from p50 65 ms / max 191 ms to p50 117 ms / max 460 ms in otherwise identical runs.
"""
    print(section)
    if args.write:
        write_section(args.write, "## Reminder lateness", section)


if __name__ == "__main__":
    asyncio.run(main())
