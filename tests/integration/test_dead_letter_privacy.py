"""Dead-lettering never copies a personal value into broker headers, logs or `samleng dlq list`.

A consumer group whose handler fails with exceptions that carry a name, an e-mail address and a
phone number (a library error, a validation error echoing its input, our own PermanentError),
plus a body that fails validation, on the real broker; then the dead-letter queue's headers are
peeked and the operator's listing (text and JSON) and the service's log lines are read.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from typing import Any, Literal

import aio_pika
import pytest
from pydantic import BaseModel, field_validator

from devstack.broker import RabbitNode
from shared.contracts import Event, Payload
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError
from shared.observability import configure_logging
from shared.service import Resources, Router, Service
from shared.settings import ServiceSettings

pytestmark = pytest.mark.timeout(120)

NAME, EMAIL, PHONE = "Sok Dara", "dara.sok@example.org", "+85512345678"
PERSONAL = (NAME, EMAIL, PHONE, "12345678", "dara.sok")


class LeakyData(Payload):
    how: str
    name: str = NAME
    email: str = EMAIL


class Leaky(Event[LeakyData]):
    type: Literal["test.leaky.v1"] = "test.leaky.v1"


class Signup(BaseModel):
    name: str

    @field_validator("name")
    @classmethod
    def echo(cls, value: str) -> str:
        raise ValueError(f"{value} <{EMAIL}> is not allowed")


async def fail(event: Leaky, ctx: MessageContext[None]) -> None:
    how = event.data.how
    if how == "library":
        raise LookupError(f"no member {NAME} <{EMAIL}> {PHONE}")
    if how == "validation":
        Signup.model_validate({"name": event.data.name})
    raise PermanentError(f"provider refused {EMAIL} / {PHONE}", reason="refused")


async def no_deps(resources: Resources) -> None:
    return None


async def peek_headers(url: str, queue_name: str, expected: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        connection = await aio_pika.connect(url)
        channel = await connection.channel()
        queue = await channel.declare_queue(queue_name, passive=True)
        found = []
        while (message := await queue.get(no_ack=False, fail=False)) is not None:
            found.append(dict(message.headers or {}, type=message.type))
        await connection.close()  # returns them
        if len(found) >= expected or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.2)


def samleng(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "ops.cli", *args],
        env={"AMQP_URL": url, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


async def test_dead_letters_headers_listing_and_logs_hold_no_personal_value(
    rabbit: RabbitNode, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("privacy", "INFO", "json")
    group = f"privacy-{uuid.uuid4().hex[:8]}"
    router = Router(group)
    router.handles(Leaky)(fail)
    service = Service(
        router, ServiceSettings(amqp_url=rabbit.url, retry_delays_ms=[200]), no_deps, uses_mongo=False
    )
    await service.start()
    dlq = f"samleng.{group}.dlq"
    try:
        for how in ("library", "validation", "ours"):
            await service.publisher.publish(Leaky(correlation_id="c", data=LeakyData(how=how)))
        connection = await aio_pika.connect(rabbit.url)
        exchange = await (await connection.channel()).get_exchange("samleng")
        body = {
            "type": "test.leaky.v1",
            "correlation_id": "c",
            "data": {"how": 7, "name": NAME, "email": EMAIL},
        }
        await exchange.publish(
            aio_pika.Message(json.dumps(body).encode(), type="test.leaky.v1", message_id="bad-1"),
            "test.leaky.v1",
        )
        await connection.close()
        letters = await peek_headers(rabbit.url, dlq, 4)
    finally:
        await service.stop()

    assert len(letters) == 4
    by_reason = {letter["x-samleng-reason"]: letter for letter in letters}
    assert set(by_reason) == {"retries-exhausted", "refused", "invalid-payload"}
    errors = sorted(str(letter["x-samleng-error"]) for letter in letters)
    assert "LookupError" in errors
    assert any(e.startswith("ValidationError: name: value_error") for e in errors)
    assert "provider refused [email] / [phone]" in errors
    assert any(e.startswith("data.how:") for e in errors)
    headers_text = json.dumps(letters, default=str, ensure_ascii=False)

    listing = samleng(rabbit.url, "dlq", "list", dlq) + samleng(rabbit.url, "dlq", "list", dlq, "--json")
    assert "reason=retries-exhausted" in listing and "attempts=2" in listing
    logs = capsys.readouterr().out
    assert "dead-lettered" in logs and "handler crashed" in logs
    for text in (headers_text, listing, logs):
        for value in PERSONAL:
            assert value not in text
