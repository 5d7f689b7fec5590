"""Processes and queues shared by the integration tests."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aio_pika
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.contracts.certificate import CertificateIssued
from tests.service.conftest import SECRET
from tests.support.console import operator_token
from tests.support.infra import MailSink
from tests.support.ports import free_port
from tests.support.processes import ServiceProcess


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[MailSink]:
    """The local SMTP sink (with its HTTP API), one per test."""
    sink = MailSink(tmp_path / "mail-run").start()
    yield sink
    sink.stop()


@pytest.fixture
def pledge_intake(service_env: dict[str, str], tmp_path: Path) -> Iterator[ServiceProcess]:
    proc = ServiceProcess(
        "services.pledge_intake", service_env, tmp_path / "pledge-intake.log", "pledge-intake.1"
    ).start()
    proc.wait_ready()
    yield proc
    proc.terminate()


@pytest.fixture
def intake(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    env = dict(
        service_env,
        INTAKE_SECRET_KEY=SECRET,
        INTAKE_PORT=str(free_port()),
        INTAKE_MESSENGER_PAGE="SamlengTest",
    )
    proc = ServiceProcess("services.intake", env, tmp_path / "intake.log", "intake.1").start()
    url = proc.wait_ready()
    yield url
    proc.terminate()


@pytest.fixture
def console(service_env: dict[str, str], tmp_path: Path) -> Iterator[str]:
    """The operator console as a process; its base URL (operator routes under /api/v1/operator)."""
    env = dict(
        service_env, CONSOLE_SECRET_KEY=SECRET, CONSOLE_PORT=str(free_port()), CONSOLE_INSECURE_COOKIES="1"
    )
    proc = ServiceProcess("services.console", env, tmp_path / "console.log", "console.1").start()
    url = proc.wait_ready()
    yield url
    proc.terminate()


@pytest.fixture
async def admin_token(db: Any, service_env: dict[str, str]) -> str:
    """An admin's API token for the console process (same vault keys)."""
    return await operator_token(db, Role.admin, env=service_env)


@pytest.fixture
async def issued(rabbit: RabbitNode) -> AsyncIterator[Any]:
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    exchange = await channel.declare_exchange("samleng", aio_pika.ExchangeType.TOPIC, durable=True)
    queue = await channel.declare_queue(exclusive=True)
    await queue.bind(exchange, "certificate.issued.v1")
    yield queue
    await connection.close()


async def collect(queue: Any, expected: int, timeout: float = 120.0) -> list[CertificateIssued]:
    found: list[CertificateIssued] = []
    deadline = time.monotonic() + timeout
    while len(found) < expected and time.monotonic() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is None:
            await asyncio.sleep(0.05)
            continue
        found.append(CertificateIssued.model_validate_json(message.body))
    return found
