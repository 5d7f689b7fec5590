"""Test tiers and what is real in each.

REAL in every tier above unit (never replaced by in-memory fakes):
- RabbitMQ: a private rabbitmq-server node (Debian package) started once per test session on
  free ports, with its own epmd and data directory under pytest's tmp dir (devstack.broker).
- MongoDB wire protocol: a SecantusDB server process (`secantusd-py`) on a free port, persistent
  storage in tmp; each test gets its own database.
- HTTP: real sockets (uvicorn) and httpx; SMTP: the aiosmtpd sink; pages: Debian's Chromium via
  Playwright.
- Services run as separate OS processes (tests/support/processes.py), as `make run` runs them.

SANDBOXED: only third-party providers we cannot reach (Signal, WhatsApp, Messenger,
print-and-mail), by devstack.sandbox, which speaks their APIs over real HTTP.

Tiers (directory = marker = Makefile target): unit (pure logic, no I/O), deploy (what production
installs and runs: the image's no-dev install started against the real broker/Mongo, compose
files through docker-compose, Kubernetes manifests rendered by kubectl kustomize and validated
against their schemas), service (one service in-process against the real broker/Mongo), integration (several processes), e2e (the whole
system as `make run` starts it, plus a browser). Each channel's contract tests live in its folder
(`services/channels/<name>/tests/`) and run with the unit tier; a channel whose adapter keeps
state (Signal's send windows and receipts) uses the real Mongo-wire server from here, which is
why this file sits at the repository root.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient

from devstack.broker import RabbitNode, wait_for_port
from tests.support.ports import free_port

SECANTUSD = shutil.which("secantusd-py") or str(Path(__file__).resolve().parent / ".venv/bin/secantusd-py")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        tier = Path(str(item.fspath)).parent.name
        if tier in {"unit", "deploy", "service", "integration", "e2e"}:
            item.add_marker(getattr(pytest.mark, tier))


@pytest.fixture(scope="session")
def rabbit(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RabbitNode]:
    node = RabbitNode(
        tmp_path_factory.mktemp("rabbitmq"),
        amqp_port=free_port(),
        management_port=None,
        epmd_port=free_port(),
        dist_port=free_port(),
        nodename=f"test{uuid.uuid4().hex[:8]}@localhost",
    )
    node.start(stdout=subprocess.DEVNULL)
    yield node
    node.stop()


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    storage = tmp_path_factory.mktemp("mongo")
    log = (storage / "server.log").open("wb")
    server = subprocess.Popen(
        [SECANTUSD, "--host", "127.0.0.1", "--port", str(port), "--storage-path", str(storage / "data")],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    wait_for_port(port, 20, server)  # type: ignore[arg-type]
    yield f"mongodb://127.0.0.1:{port}/?retryWrites=false"
    server.terminate()
    server.wait(15)
    log.close()


@pytest.fixture
def db_name() -> str:
    return f"t_{uuid.uuid4().hex[:12]}"


def samleng_queues() -> list[str]:
    """Every Samleng service's work queue (found like `make docs` finds services)."""
    from ops.discovery import discover_routers
    from shared.settings import ServiceSettings

    settings = ServiceSettings(_env_file=None)  # type: ignore[call-arg]
    return [g.queue for r in discover_routers().values() for g in r.consumer_groups(settings)]


async def purge_queues(url: str, names: list[str]) -> None:
    import aio_pika

    connection = await aio_pika.connect(url)
    try:
        for name in names:
            channel = await connection.channel()
            with contextlib.suppress(aio_pika.exceptions.ChannelClosed):  # never declared yet
                queue = await channel.declare_queue(name, passive=True)
                await queue.purge()
            with contextlib.suppress(Exception):
                await channel.close()
    finally:
        await connection.close()


@pytest.fixture
def service_env(rabbit: RabbitNode, mongo_uri: str, db_name: str, tmp_path: Path) -> dict[str, str]:
    # The broker is shared by the session; each test has its own database. Work an earlier test
    # left in a service's queue (e.g. reminders published while no dispatcher ran) must not reach
    # this test's processes: they start with empty queues.
    asyncio.run(purge_queues(rabbit.url, samleng_queues()))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AMQP_", "MONGODB_", "PYTEST"))}
    env.update(
        AMQP_URL=rabbit.url,
        MONGODB_URI=mongo_uri,
        MONGODB_DATABASE=db_name,
        LOG_FORMAT="json",
        LOG_LEVEL="INFO",
        SAMLENG_HEALTH_DIR=str(tmp_path / "health"),
        HEALTH_PORT="0",
        RETRY_DELAYS_MS="[300,900]",
        SHUTDOWN_GRACE_SECONDS="5",
        SAMLENG_MASTER_KEY=base64.b64encode(os.urandom(96)).decode(),
        SAMLENG_BLIND_INDEX_KEY=os.urandom(32).hex(),
    )
    return env


@pytest.fixture
async def db(mongo_uri: str, db_name: str) -> AsyncIterator[object]:
    client: AsyncMongoClient[dict[str, object]] = AsyncMongoClient(mongo_uri, tz_aware=True)
    yield client[db_name]
    with contextlib.suppress(TimeoutError):  # a stuck server must not hang the session's teardown
        await asyncio.wait_for(client.drop_database(db_name), 60)
    await client.close()
