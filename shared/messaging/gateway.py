"""A web service's way onto the bus: connect in the background, publish within a bound.

`Gateway.publish` returns only after the broker confirmed the event; if the broker is
unreachable it raises `Unavailable` within the gateway's timeout, so the route answers 503 and
never reports success for something it did not hand over. The site keeps serving (and its
readiness stays red) while the broker is away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from aio_pika.abc import AbstractRobustConnection

from shared.messaging.connection import close, connect
from shared.messaging.errors import PublishFailed
from shared.messaging.publisher import Publisher
from shared.observability import get_logger
from shared.personal_data import Vault

log = get_logger("samleng.gateway")


class Unavailable(Exception):
    """Not handed over; nothing was stored. Retry later."""


class Gateway:
    def __init__(self, amqp_url: str, exchange: str, component: str, timeout_seconds: float) -> None:
        self._amqp_url = amqp_url
        self._exchange = exchange
        self._component = component
        self._timeout = timeout_seconds
        self._connection: AbstractRobustConnection | None = None
        self._publisher: Publisher | None = None
        self._connecting: asyncio.Task[None] | None = None

    @property
    def ready(self) -> bool:
        return self._publisher is not None and self._connection is not None and not self._connection.is_closed

    async def start(self, vault: Callable[[], Awaitable[Vault | None]] | None = None) -> None:
        """Connect in the background. `vault` gives the key vault that seals what is published
        about a person: the gateway is ready only once it has it."""
        self._connecting = asyncio.create_task(self._connect(vault))

    async def _connect(self, vault: Callable[[], Awaitable[Vault | None]] | None) -> None:
        while True:
            try:
                if self._connection is None:
                    self._connection = await connect(self._amqp_url, self._component, timeout=3600)
                publisher = await Publisher.open(self._connection, self._exchange, self._timeout)
                publisher.vault = await vault() if vault is not None else None
                self._publisher = publisher
                return
            except Exception as error:  # keep serving; readiness stays red until this succeeds
                log.warning("broker connection failed; retrying", error=repr(error))
                await asyncio.sleep(2)

    async def stop(self) -> None:
        if self._connecting is not None:
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._connecting
        if self._connection is not None:
            await close(self._connection)

    async def publish(self, event: Any) -> None:
        """Hand a contract to the broker within the timeout; Unavailable if it cannot."""
        if self._publisher is None:
            raise Unavailable("broker not connected")
        try:
            await asyncio.wait_for(self._publisher.publish(event), timeout=self._timeout + 1)
        except (PublishFailed, TimeoutError) as error:
            log.error(
                "not handed over",
                event_type=event.type,
                correlation_id=event.correlation_id,
                error=type(error).__name__,
            )
            raise Unavailable(str(error)) from error
