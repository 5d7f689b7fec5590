"""The pledge-to-certificate pipeline end to end, on the stack as `make run` starts it.

    .venv/bin/python bench/e2e.py [--rates 2,5,10,20,40] [--seconds 60] [--write docs/benchmarks.md]

For each rate, pledges (email channel, a certificate each) are submitted open-loop through the
public JSON API with a partner key (so no per-address limit applies) for `--seconds`; each
pledge's latency runs from its *intended* send time to the certificate email's arrival in the
SMTP sink (the sink's own receive time), so a stalled sender counts against us. CPU seconds per
pledge per process come from /proc (utime + stime) over the phase and its drain. A phase whose
mail does not all arrive within `seconds * 2 + 60` s after its last send is saturated: its
arrivals are reported and the rest counted as late.

In the same run, on the same machine and before the load, the bare baselines of what one pledge
needs (the physical floor on this machine): a bare Typst compile (PDF + PNG, one thread), raw
publish + consume hops on the stack's broker (5 per pledge: submitted, recorded, issued,
delivery requested, delivery status), raw durable inserts on the stack's Mongo-wire server (13 per
pledge: pledge-intake 7, renderer 3, dispatcher 2, email 1) and a raw SMTP send of the same
message. Their sum, as seconds of work per pledge, is compared with the pipeline's CPU per pledge.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._stack import write_section
from shared.channels.catalogue import catalogue
from tests.e2e.conftest import RunningStack
from tests.support.ports import free_port

ROOT = Path(__file__).resolve().parents[1]
HOPS_PER_PLEDGE = 5
INSERTS_PER_PLEDGE = 13


def start_stack(run_dir: Path, **settings: str) -> RunningStack:
    """The stack as `make run` starts it, on free ports; `settings` are variables as a person
    would set them in .env."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMQP_", "MONGODB_", "SAMLENG_"))}
    ports = [
        "SAMLENG_AMQP_PORT",
        "SAMLENG_RABBITMQ_MANAGEMENT_PORT",
        "SAMLENG_RABBITMQ_DIST_PORT",
        "SAMLENG_EPMD_PORT",
        "SAMLENG_MONGO_PORT",
        "SAMLENG_SMTP_PORT",
        "SAMLENG_MAIL_UI_PORT",
        "SAMLENG_SANDBOX_PORT",
        "CONSOLE_PORT",
    ]
    ports += [  # every inbound channel's webhooks, so none collides with a running `make run`
        f"SAMLENG_{name.upper()}_WEBHOOK_PORT" for name, declared in catalogue().items() if declared.inbound
    ]
    env.update({name: str(free_port()) for name in ports})
    intake_port = free_port()
    env.update(
        SAMLENG_RUN_DIR=str(run_dir),
        INTAKE_PORT=str(intake_port),
        INTAKE_PUBLIC_BASE_URL=f"http://127.0.0.1:{intake_port}",
        LOG_LEVEL="WARNING",
        EMAIL_RATE_PER_SECOND="1000",  # measure the machinery, not the provider's rate limit
    )
    env.update(settings)
    stack = RunningStack(env=env, run_dir=run_dir, log_path=run_dir.parent / f"{run_dir.name}-run.log")
    stack.start(timeout=300)
    return stack


def operator_token(stack: RunningStack) -> str:
    for line in (stack.run_dir / "secrets.env").read_text().splitlines():
        if line.startswith("SAMLENG_OPERATOR_TOKEN="):
            return line.split("=", 1)[1].strip()
    raise RuntimeError("make run wrote no operator token")


def partner_key(stack: RunningStack) -> str:
    answer = httpx.post(
        f"{stack.console_url}/api/v1/operator/partner-keys",
        headers={"Authorization": f"Bearer {operator_token(stack)}"},
        json={"name": "bench/e2e.py", "rate_per_minute": 100_000},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["secret"])


def cpu_by_process(stack: RunningStack) -> dict[str, float]:
    """CPU seconds so far of each process of the stack, by its Procfile name (replicas summed)."""
    totals: dict[str, float] = defaultdict(float)
    tick = os.sysconf("SC_CLK_TCK")
    for pid, _ in stack.processes():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            name = next(
                (e.split(b"=", 1)[1].decode() for e in environ if e.startswith(b"SAMLENG_PROCESS_NAME=")),
                None,
            )
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if name is None:
            continue
        totals[name.rsplit(".", 1)[0]] += (int(fields[11]) + int(fields[12])) / tick
    return dict(totals)


def arrivals(mail_dir: Path, seen: dict[str, float]) -> None:
    """Recipient -> arrival (epoch seconds) of every message in the sink not seen yet."""
    for sidecar in mail_dir.glob("*.json"):
        try:
            recipients = json.loads(sidecar.read_text())["to"]
        except (OSError, ValueError, KeyError):
            continue
        at = received_at(sidecar)
        for recipient in recipients:
            seen.setdefault(recipient.lower(), at)


def received_at(sidecar: Path) -> float:
    """When the SMTP sink received a message (epoch seconds), from its stored file's name."""
    stamp = sidecar.stem.split("-", 1)[0]
    return datetime.strptime(stamp, "%Y%m%dT%H%M%S%f").replace(tzinfo=UTC).timestamp()


def letters(index: int) -> str:
    """A distinct name part per pledge, in letters only (a name has no digits)."""
    word = ""
    while True:
        index, digit = divmod(index, 26)
        word = "abcdefghijklmnopqrstuvwxyz"[digit] + word
        if index == 0:
            return word.capitalize()


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def phase(stack: RunningStack, key: str, rate: float, seconds: float) -> dict[str, Any]:
    tag = uuid.uuid4().hex[:6]
    count = int(rate * seconds)
    intended: dict[str, float] = {}
    refused: list[int] = []
    cpu_before = cpu_by_process(stack)
    mail_dir = stack.run_dir / "mail"
    seen: dict[str, float] = {}
    arrivals(mail_dir, seen)
    already = set(seen)
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    async with httpx.AsyncClient(base_url=stack.intake_url, limits=limits, timeout=60) as client:

        async def send(index: int, at: float) -> None:
            email = f"e2e-{tag}-{index}@example.org".lower()
            intended[email] = at
            answer = await client.post(
                "/api/v1/pledges",
                headers={"X-Samleng-Key": key},
                json={
                    "name": f"Bench Signer {letters(index)}",
                    "country": "US",
                    "certificate_language": "en",
                    "channels": ["email"],
                    "email": email,
                    "consent": True,
                },
            )
            if answer.status_code != 202:
                refused.append(answer.status_code)
                if len(refused) == 1:
                    print(f"refused: {answer.status_code} {answer.text[:300]}", flush=True)

        start = time.time() + 0.5
        tasks = []
        for index in range(count):
            at = start + index / rate
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(send(index, at)))
        await asyncio.gather(*tasks)
    last_send = time.time()
    deadline = last_send + seconds * 2 + 60
    while time.time() < deadline:
        arrivals(mail_dir, seen)
        if all(email in seen for email in intended):
            break
        await asyncio.sleep(1)
    cpu_after = cpu_by_process(stack)
    latencies = [seen[e] - at for e, at in intended.items() if e in seen and e not in already]
    delivered = len(latencies)
    cpu = {
        name: (cpu_after.get(name, 0.0) - cpu_before.get(name, 0.0)) / max(1, delivered) for name in cpu_after
    }
    return {
        "rate": rate,
        "sent": count,
        "refused": len(refused),
        "delivered": delivered,
        "p50": percentile(latencies, 0.50),
        "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies) if latencies else None,
        "cpu_per_pledge": cpu,
    }


async def baselines(stack: RunningStack) -> dict[str, float]:
    """Seconds of work per pledge for each bare step, measured on this stack's broker and database."""
    from bench.broker_baseline import raw_round
    from bench.certificates import bare
    from bench.delivery import certificate_files, raw_durable_inserts, raw_smtp

    typst = await asyncio.to_thread(bare, 60, 1)  # certificates per second, one thread: CPU-bound
    amqp = f"amqp://guest:guest@127.0.0.1:{stack.port('SAMLENG_AMQP_PORT')}/"
    hops = await raw_round(amqp, 5000, 500, f"bench-e2e-{uuid.uuid4().hex[:6]}")
    inserts = await raw_durable_inserts(
        f"mongodb://127.0.0.1:{stack.port('SAMLENG_MONGO_PORT')}/?retryWrites=false", 2000, 600
    )
    pdf, _ = certificate_files()
    smtp = await raw_smtp(200, stack.port("SAMLENG_SMTP_PORT"), pdf)
    return {
        "typst compile (PDF + PNG)": 1 / typst,
        f"{HOPS_PER_PLEDGE} publish + consume hops": HOPS_PER_PLEDGE / hops,
        f"{INSERTS_PER_PLEDGE} durable inserts": INSERTS_PER_PLEDGE / inserts,
        "SMTP send with the PDF": 1 / smtp,
    }


def markdown(results: list[dict[str, Any]], floor: dict[str, float], command: str) -> str:
    lines = [
        "## End to end: pledge → certificate email, open-loop (`bench/e2e.py`)",
        "",
        f"Command: `{command}`",
        f"Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}; the stack as `make run` starts it (one process each, "
        "everything on this machine); pledges through the public API with a partner key, email "
        "channel, latency from the intended send time to the message in the SMTP sink.",
        "",
        "| rate (pledges/s) | sent | delivered | p50 (s) | p95 (s) | p99 (s) | max (s) | CPU s per pledge (all processes) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def s(value: float | None) -> str:
        return "—" if value is None else f"{value:.2f}"

    for r in results:
        total = sum(r["cpu_per_pledge"].values())
        lines.append(
            f"| {r['rate']:g} | {r['sent']} | {r['delivered']} | {s(r['p50'])} | {s(r['p95'])} | "
            f"{s(r['p99'])} | {s(r['max'])} | {total * 1000:.0f} ms |"
        )
    names = sorted({n for r in results for n in r["cpu_per_pledge"]})
    lines += ["", "CPU milliseconds per delivered pledge, by process:", ""]
    lines.append("| process | " + " | ".join(f"{r['rate']:g}/s" for r in results) + " |")
    lines.append("|---|" + "---|" * len(results))
    for name in names:
        cells = " | ".join(f"{r['cpu_per_pledge'].get(name, 0.0) * 1000:.1f}" for r in results)
        lines.append(f"| {name} | {cells} |")
    floor_total = sum(floor.values())
    lines += ["", "The bare baselines of one pledge, measured in the same run (seconds of work):", ""]
    lines += ["| bare step | ms per pledge |", "|---|---|"]
    lines += [f"| {name} | {value * 1000:.1f} |" for name, value in floor.items()]
    lines.append(f"| **sum (the floor)** | **{floor_total * 1000:.1f}** |")
    best = min((sum(r["cpu_per_pledge"].values()) for r in results if r["delivered"]), default=None)
    if best is not None:
        lines += [
            "",
            f"Pipeline CPU per pledge at its cheapest rate: {best * 1000:.0f} ms = "
            f"**{best / floor_total:.1f}×** the floor (goal ≤ 2×).",
        ]
    return "\n".join(lines) + "\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", default="2,5,10,20,40")
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--write", type=Path, default=None, help="the docs/benchmarks.md to update")
    args = parser.parse_args()
    import tempfile

    run_dir = Path(tempfile.mkdtemp(prefix="bench-e2e-")) / "run"
    run_dir.mkdir()
    stack = start_stack(run_dir)
    try:
        floor = await baselines(stack)
        print("baselines (ms per pledge):", {k: round(v * 1000, 2) for k, v in floor.items()}, flush=True)
        key = partner_key(stack)
        results = []
        for rate in (float(r) for r in args.rates.split(",")):
            result = await phase(stack, key, rate, args.seconds)
            print(json.dumps(result), flush=True)
            results.append(result)
    finally:
        stack.interrupt(timeout=60)
    command = ".venv/bin/python bench/e2e.py " + " ".join(sys.argv[1:])
    text = markdown(results, floor, command.strip())
    print(text)
    if args.write is not None:
        write_section(args.write, "## End to end: pledge → certificate email", text)


if __name__ == "__main__":
    asyncio.run(main())
