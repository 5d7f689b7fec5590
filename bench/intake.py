"""Pledge intake under a fixed request rate, next to a bare endpoint of the same server.

    .venv/bin/python bench/intake.py [--rate 200] [--seconds 15] [--write docs/benchmarks.md]

Starts its own private RabbitMQ node, SecantusDB, and the intake and pledge-intake services as
separate processes (as `make run` does), then drives an open-loop load: request i is sent at
t0 + i/rate whatever happened to earlier ones, and latency is measured from that intended time
(no coordinated omission). Two phases in one run: GET /health/live (bare endpoint: same server,
no validation, no broker) and POST /api/v1/pledges (validation + publisher confirm). The load
generator runs on the same 2 cores as the server, so both figures include its cost.
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import secrets
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import local_stack, write_section
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess

# Downstream of the queue (pledge-intake and the pure-Python Mongo-wire server) runs at a lower
# CPU priority: in production it has its own machines; here it shares 2 cores with the server
# under test and the load generator. The queue absorbs what it cannot yet handle.
DOWNSTREAM_NICENESS = 10

PLEDGE = {
    "name": "សុខ ដារ៉ា",
    "country": "KH",
    "certificate_language": "km",
    "channels": ["email", "signal"],
    "email": "dara@example.org",
    "phone": "012 345 678",
    "consent": True,
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def drive(
    client: httpx.AsyncClient, method: str, path: str, rate: float, seconds: float
) -> dict[str, Any]:
    total = int(rate * seconds)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    start = time.perf_counter() + 0.2

    async def one(index: int) -> None:
        intended = start + index / rate
        await asyncio.sleep(max(0.0, intended - time.perf_counter()))
        try:
            response = await client.request(method, path, json=PLEDGE if method == "POST" else None)
            code = response.status_code
        except httpx.HTTPError:
            code = 0
        latencies.append(time.perf_counter() - intended)
        statuses[code] = statuses.get(code, 0) + 1

    await asyncio.gather(*(one(i) for i in range(total)))
    elapsed = time.perf_counter() - start
    ok = statuses.get(202 if method == "POST" else 200, 0)
    return {
        "requests": total,
        "ok": ok,
        "statuses": statuses,
        "throughput": ok / elapsed,
        "p50_ms": 1000 * percentile(latencies, 0.50),
        "p99_ms": 1000 * percentile(latencies, 0.99),
        "max_ms": 1000 * max(latencies),
        "mean_ms": 1000 * statistics.fmean(latencies),
    }


async def wait_recorded(uri: str, expected: int, started: float) -> dict[str, float]:
    """How long pledge-intake needs to record the backlog (all phases' pledges incl. warm-up)."""
    from pymongo import AsyncMongoClient

    client: AsyncMongoClient[dict[str, Any]] = AsyncMongoClient(uri)
    pledges = client["bench"].pledges
    first = await pledges.count_documents({})
    t0 = time.perf_counter()
    count = first
    while count < expected and time.perf_counter() - t0 < 600:
        await asyncio.sleep(1)
        count = await pledges.count_documents({})
    elapsed = time.perf_counter() - t0
    await client.close()
    return {
        "recorded": count,
        "expected": expected,
        "backlog_at_end_of_load": expected - first,
        "drain_seconds": elapsed,
        "drain_rate": (count - first) / elapsed if elapsed else 0.0,
    }


async def declare_pledge_queue(url: str) -> None:
    import aio_pika

    from shared.messaging.topology import ConsumerGroup, declare_group

    connection = await aio_pika.connect(url)
    channel = await connection.channel()
    await declare_group(
        channel,
        ConsumerGroup(exchange="samleng", name="pledge-intake", routing_keys=("pledge.submitted.v1",)),
    )
    await connection.close()


def write_markdown(path: Path, r: dict[str, Any]) -> None:
    bare, pledge = r["bare"], r["pledge"]
    section = f"""## Intake: pledges per second and latency at a fixed rate (`bench/intake.py`)

Command: `{r["command"]}`
Run: {r["date"]} on {r["machine"]}; intake and pledge-intake as separate processes, private
RabbitMQ node, SecantusDB; open-loop load at {r["rate"]} req/s for {r["seconds"]} s per phase from
the same machine (latency from the intended send time).

| endpoint | ok / sent | throughput (req/s) | p50 (ms) | p99 (ms) | max (ms) |
|---|---|---|---|---|---|
| GET /health/live (bare, same server) | {bare["ok"]}/{bare["requests"]} | {bare["throughput"]:.0f} | {bare["p50_ms"]:.1f} | {bare["p99_ms"]:.1f} | {bare["max_ms"]:.1f} |
| POST /api/v1/pledges | {pledge["ok"]}/{pledge["requests"]} | {pledge["throughput"]:.0f} | {pledge["p50_ms"]:.1f} | {pledge["p99_ms"]:.1f} | {pledge["max_ms"]:.1f} |
| **ratio pledge / bare p99** | | | | **{pledge["p99_ms"] / max(bare["p99_ms"], 0.001):.1f}×** | goal: pledge p99 ≤ 50 ms at 200 req/s |

Downstream: pledge-intake and SecantusDB run at lower CPU priority (nice {DOWNSTREAM_NICENESS}), standing in
for their own machines; the queue absorbed a backlog of {r["recorded"]["backlog_at_end_of_load"]} pledges at the end of the load, which
pledge-intake then recorded at {r["recorded"]["drain_rate"]:.0f} pledges/s (7 Mongo operations per new pledge on
SecantusDB, the pure-Python local server, which used most of a core; real MongoDB is far cheaper
per operation). Pledges recorded: {r["recorded"]["recorded"]} of {r["recorded"]["expected"]} accepted (warm-up included).

"""
    write_section(path, "## Intake: pledges per second", section)


async def run_load(
    args: argparse.Namespace,
    stack: Any,
    env: dict[str, str],
    processes: list[ServiceProcess],
    intake_port: int,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any] | None]:
    for proc in processes:
        proc.wait_ready(60)
    if args.intake_only:
        await declare_pledge_queue(stack.node.url)
    if args.profile:  # flame data for `py-spy`; see docs/benchmarks.md
        subprocess.Popen(
            [
                str(Path(sys.executable).parent / "py-spy"),
                "record",
                "-o",
                "/tmp/intake-profile.txt",
                "-f",
                "raw",
                "-d",
                str(int(args.seconds) + 4),
                "-p",
                str(processes[0].process.pid),
            ],
            stdout=subprocess.DEVNULL,
        )  # type: ignore[union-attr]
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{intake_port}", limits=limits, timeout=30
    ) as client:
        await drive(client, "GET", "/health/live", args.rate, 2)  # warm-up
        await drive(client, "POST", "/api/v1/pledges", args.rate, 2)
        bare = await drive(client, "GET", "/health/live", args.rate, args.seconds)
        print("bare  ", bare, flush=True)
        pledge = await drive(client, "POST", "/api/v1/pledges", args.rate, args.seconds)
        print("pledge", pledge, flush=True)
    recorded = None
    if not args.intake_only:
        recorded = await wait_recorded(stack.mongo_uri, pledge["ok"] + 400, started=time.perf_counter())
        print("recorded", recorded, flush=True)
    return bare, pledge, recorded


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--write", default="docs/benchmarks.md")
    parser.add_argument(
        "--intake-only", action="store_true", help="no pledge-intake consumer (messages queue up)"
    )
    parser.add_argument("--profile", action="store_true", help="record the intake process with py-spy")
    args = parser.parse_args()
    with local_stack(mongo_niceness=DOWNSTREAM_NICENESS) as stack:
        intake_port = free_port()
        env = stack.service_env(
            INTAKE_SECRET_KEY=secrets.token_urlsafe(32),
            INTAKE_PORT=str(intake_port),
            INTAKE_RATE_LIMIT_PER_MINUTE="1000000",
        )
        processes = [ServiceProcess("services.intake", env, stack.tmp / "intake.log", "intake.1").start()]
        if not args.intake_only:
            processes.append(
                ServiceProcess(
                    "services.pledge_intake",
                    env,
                    stack.tmp / "pledge-intake.log",
                    "pledge-intake.1",
                    niceness=DOWNSTREAM_NICENESS,
                ).start()
            )
        try:
            bare, pledge, recorded = await run_load(args, stack, env, processes, intake_port)
        finally:
            for proc in processes:
                proc.terminate()
    result = {
        "command": "make bench  (= .venv/bin/python bench/intake.py " + " ".join(sys.argv[1:]) + ")",
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, 2 cores, Python {platform.python_version()}",
        "rate": args.rate,
        "seconds": args.seconds,
        "bare": bare,
        "pledge": pledge,
        "recorded": recorded,
    }
    if args.write:
        write_markdown(Path(args.write), result)
        print(f"wrote {args.write}")


if __name__ == "__main__":
    asyncio.run(main())
