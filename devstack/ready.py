"""The Procfile's `ready` process: waits until every part of the stack is healthy, makes sure
the local admin and their API token exist (devstack/local_operator.py), then prints every URL.
It never exits on its own."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from types import FrameType

import httpx
from pymongo import MongoClient

from devstack import local_operator
from devstack.broker import port_is_open
from devstack.config import LocalStack


def check_infrastructure(stack: LocalStack, client: httpx.Client) -> dict[str, bool]:
    checks: dict[str, bool] = {"rabbitmq": port_is_open(stack.amqp_port)}
    try:
        checks["rabbitmq-management"] = (
            client.get(
                f"http://127.0.0.1:{stack.management_port}/api/overview", auth=("guest", "guest")
            ).status_code
            == 200
        )
    except httpx.HTTPError:
        checks["rabbitmq-management"] = False
    try:
        mongo: MongoClient[dict[str, object]]
        with MongoClient(stack.mongodb_uri, serverSelectionTimeoutMS=500) as mongo:
            mongo.admin.command("ping")
        checks["mongodb"] = True
    except Exception:
        checks["mongodb"] = False
    for name, port in (("mail", stack.mail_ui_port), ("sandbox", stack.sandbox_port)):
        try:
            checks[name] = client.get(f"http://127.0.0.1:{port}/health/ready").status_code == 200
        except httpx.HTTPError:
            checks[name] = False
    return checks


def check_services(health_dir: Path, expected: list[str], client: httpx.Client) -> dict[str, str | None]:
    """replica -> base URL if ready, None if not (yet)."""
    found: dict[str, str | None] = {}
    for replica in expected:
        path = health_dir / f"{replica}.json"
        url = None
        if path.exists():
            try:
                info = json.loads(path.read_text())
                if client.get(info["url"] + "/health/ready").status_code == 200:
                    url = str(info["url"])
            except (httpx.HTTPError, ValueError, KeyError):
                url = None
        found[replica] = url
    return found


def public_sites(health_dir: Path, services: dict[str, str | None]) -> dict[str, str]:
    sites = {}
    for replica, url in services.items():
        try:
            info = json.loads((health_dir / f"{replica}.json").read_text())
        except (OSError, ValueError):
            continue
        if info.get("public") and url:
            sites[replica] = url
    return sites


def main() -> int:
    signal.signal(signal.SIGTERM, _exit)
    signal.signal(signal.SIGINT, _exit)
    stack = LocalStack.from_env(os.environ)
    expected = [s for s in os.environ.get("SAMLENG_EXPECTED_SERVICES", "").split(",") if s]
    started = time.monotonic()
    next_report = started + 30
    with httpx.Client(timeout=1.0) as client:
        while True:
            infra = check_infrastructure(stack, client)
            services = check_services(stack.health_dir, expected, client)
            if all(infra.values()) and all(services.values()):
                break
            if time.monotonic() > next_report:
                waiting = [k for k, ok in infra.items() if not ok] + [k for k, u in services.items() if not u]
                print(
                    f"ready: still waiting for {', '.join(waiting)} "
                    f"({time.monotonic() - started:.0f} s); see their lines above",
                    flush=True,
                )
                next_report += 30
            time.sleep(0.5)
    elapsed = time.monotonic() - started
    operator = local_operator.ensure(stack.run_dir)
    width = 26
    lines = [f"Samleng is up: every health check is green after {elapsed:.1f} s.", ""]
    lines += [f"  {label:<{width}}{url}" for label, url in stack.infrastructure_urls()]
    for replica, url in services.items():
        lines.append(f"  {replica:<{width}}{url}/health/ready")
    for replica, url in public_sites(stack.health_dir, services).items():
        lines.append(f"  {'web: ' + replica:<{width}}{url}/")
    lines += ["", f"  {operator}"]
    lines += ["", "  Press Ctrl-C to stop everything (data stays in " + str(stack.run_dir) + ")."]
    print("\n".join(lines), flush=True)
    while True:
        signal.pause()


def _exit(signum: int, frame: FrameType | None) -> None:
    sys.exit(0)


if __name__ == "__main__":
    sys.exit(main())
