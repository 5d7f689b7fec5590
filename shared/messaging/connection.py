"""Connecting to RabbitMQ: wait for the broker at start, reconnect by ourselves afterwards."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.stdlib.get_logger("samleng.broker")


async def connect(url: str, connection_name: str, timeout: float = 60.0) -> AbstractRobustConnection:
    """A robust connection (restores channels, queues and consumers after a broker restart).

    The first connect waits up to `timeout` seconds for the broker, so that services may start
    before it (as `make run` and docker compose do). Waiting is normal, not an error: it is said
    once at info level (and again every 30 s), and the broker is only asked for a connection once
    its port accepts one, so the client library logs no transport error on every try.
    """
    started = time.monotonic()
    deadline = started + timeout
    delay = 0.2
    said_at: float | None = None
    while True:
        reachable = await _port_accepts(url)
        if reachable:
            try:
                return await aio_pika.connect_robust(
                    url,
                    reconnect_interval=1.0,
                    fail_fast="false",
                    client_properties={"connection_name": connection_name},
                )
            except (aio_pika.exceptions.AMQPConnectionError, ConnectionError, OSError) as error:
                if time.monotonic() + delay > deadline:
                    raise ConnectionError(f"RabbitMQ not reachable after {timeout:.0f}s: {error}") from error
        elif time.monotonic() + delay > deadline:
            raise ConnectionError(
                f"RabbitMQ not reachable after {timeout:.0f}s: {_where(url)} refuses connections"
            )
        now = time.monotonic()
        if said_at is None or now - said_at >= WAIT_REPORT_SECONDS:
            log.info("waiting for broker", broker=_where(url), waited_s=round(now - started))
            said_at = now
        await asyncio.sleep(delay)
        delay = min(delay * 2, 2.0)


WAIT_REPORT_SECONDS = 30.0


def _where(url: str) -> str:
    """host:port of an AMQP URL (no credentials)."""
    parts = urlsplit(url)
    default = 5671 if parts.scheme == "amqps" else 5672
    return f"{parts.hostname or 'localhost'}:{parts.port or default}"


async def _port_accepts(url: str) -> bool:
    host, _, port = _where(url).rpartition(":")
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, int(port)), 5)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


async def close(connection: AbstractRobustConnection, timeout: float = 3.0) -> None:
    """Close without hanging: when the broker is going down at the same moment (Ctrl-C stops
    everything at once), a robust connection can wait forever for a reconnect it never gets."""
    try:
        await asyncio.wait_for(connection.close(), timeout)
    except (TimeoutError, Exception) as error:  # shutting down: report, don't block
        log.warning("broker connection did not close cleanly", error=type(error).__name__)
