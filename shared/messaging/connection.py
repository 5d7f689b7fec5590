"""Connecting to RabbitMQ: wait for the broker at start, reconnect by ourselves afterwards."""

from __future__ import annotations

import asyncio
import time

import aio_pika
import structlog
from aio_pika.abc import AbstractRobustConnection

log = structlog.stdlib.get_logger("samleng.broker")


async def connect(url: str, connection_name: str, timeout: float = 60.0) -> AbstractRobustConnection:
    """A robust connection (restores channels, queues and consumers after a broker restart).

    The first connect is retried for `timeout` seconds so that services may start before the
    broker (as `make run` and docker compose do).
    """
    deadline = time.monotonic() + timeout
    delay = 0.2
    while True:
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
            log.info("waiting for broker", retry_in=delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 2.0)


async def close(connection: AbstractRobustConnection, timeout: float = 3.0) -> None:
    """Close without hanging: when the broker is going down at the same moment (Ctrl-C stops
    everything at once), a robust connection can wait forever for a reconnect it never gets."""
    try:
        await asyncio.wait_for(connection.close(), timeout)
    except (TimeoutError, Exception) as error:  # shutting down: report, don't block
        log.warning("broker connection did not close cleanly", error=type(error).__name__)
