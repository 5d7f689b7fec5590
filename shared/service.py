"""The runtime every message-driven Samleng service shares.

A service module declares a `Router` (its name = consumer group, what it handles, what it
publishes) with plain handler functions, and a `bootstrap` that builds the handlers'
dependencies from real resources. `run_service()` owns the rest: logging, the broker connection
(waiting for the broker at start, reconnecting after), the Mongo client, the topology, the
consumer, health/readiness/metrics, tracing (shared/tracing.py) and a graceful stop on
SIGTERM/SIGINT:

    # services/example/__main__.py
    router = Router("example")

    @router.handles(SomethingHappened)
    async def on_something(event: SomethingHappened, ctx: MessageContext[Deps]) -> None: ...

    async def bootstrap(resources: Resources) -> Deps: ...

    if __name__ == "__main__":
        run_service(router, ExampleSettings(), bootstrap)

A router with `bands` (priority bands: the delivery channels) consumes one queue per band,
`samleng.<name>.<band>`, each with its own retry tiers and dead-letter queue; `{band}` in a
binding is filled in per band. Which band's work goes first is the handler's business (the
channel runner's priority gate). The dependencies may set `prefetch` (per queue; default
`AMQP_PREFETCH`) and `aclose()` (called at stop).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import structlog
from aio_pika.abc import AbstractRobustConnection
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import Event
from shared.health import HealthServer
from shared.messaging.connection import close, connect
from shared.messaging.consumer import Consumer, Handler, Subscription
from shared.messaging.publisher import Publisher
from shared.messaging.topology import ConsumerGroup
from shared.observability import configure_logging
from shared.personal_data import Vault, open_vault
from shared.settings import ServiceSettings
from shared.storage import Document, create_client, database, ping, wait_for_database
from shared.tracing import configure_tracing, shutdown_tracing

DepsT = TypeVar("DepsT")
STARTUP_TIMEOUT_SECONDS = 60.0


class StartupError(RuntimeError):
    """The service could not start; it exits non-zero so its supervisor restarts or reports it."""


HandlerT = TypeVar("HandlerT", bound=Handler)


@dataclass
class Router:
    """What one consumer group does: the contracts it handles and the ones it publishes."""

    name: str
    description: str = ""
    subscriptions: dict[str, Subscription] = field(default_factory=dict)
    publishes: list[type[Event[Any]]] = field(default_factory=list)
    bands: tuple[str, ...] = ()

    def handles(self, event_cls: type[Event[Any]], *, binding: str = "") -> Callable[[HandlerT], HandlerT]:
        """Handle `event_cls`; `binding` overrides the routing key pattern the queue is bound to
        (e.g. `delivery.requested.v1.email.{band}`: one channel's share of a per-channel event,
        `{band}` filled in per band)."""

        def register(handler: HandlerT) -> HandlerT:
            event_type = event_cls.event_type()
            if event_type in self.subscriptions:
                raise ValueError(f"{self.name} already handles {event_type}")
            self.subscriptions[event_type] = Subscription(event_cls, handler, binding)
            return handler

        return register

    def publishing(self, *event_classes: type[Event[Any]]) -> None:
        self.publishes.extend(event_classes)

    def consumer_group(self, settings: ServiceSettings) -> ConsumerGroup:
        """The group of a router without bands."""
        if self.bands:
            raise ValueError(f"{self.name} has bands {self.bands}: use consumer_groups()")
        return self._group(settings, self.name, "")

    def consumer_groups(self, settings: ServiceSettings) -> list[ConsumerGroup]:
        """One group per band, in band order; a router without bands has one."""
        if not self.bands:
            return [self.consumer_group(settings)]
        return [self._group(settings, f"{self.name}.{band}", band) for band in self.bands]

    def _group(self, settings: ServiceSettings, name: str, band: str) -> ConsumerGroup:
        return ConsumerGroup(
            exchange=settings.amqp_exchange,
            name=name,
            routing_keys=tuple(s.routing_key.replace("{band}", band) for s in self.subscriptions.values()),
            retry_delays_ms=tuple(settings.retry_delays_ms),
            delivery_limit=settings.delivery_limit,
        )


@dataclass
class Resources:
    settings: ServiceSettings
    publisher: Publisher
    db: AsyncDatabase[Document] | None
    connection: AbstractRobustConnection
    vault: Vault | None = None
    """The process's key vault (shared/personal_data.py), None when encryption is off; the
    publisher seals events about a person with it and the consumers open them."""


Bootstrap = Callable[[Resources], Awaitable[DepsT]]


class Service(Generic[DepsT]):
    def __init__(
        self,
        router: Router,
        settings: ServiceSettings,
        bootstrap: Bootstrap[DepsT],
        *,
        uses_mongo: bool = True,
    ) -> None:
        self.router = router
        self.settings = settings
        self._bootstrap = bootstrap
        self._uses_mongo = uses_mongo
        self._connection: AbstractRobustConnection | None = None
        self._mongo: AsyncMongoClient[Document] | None = None
        self._publisher: Publisher | None = None
        self._consumers: list[Consumer[DepsT]] = []
        self._deps: DepsT | None = None
        self._vault: Vault | None = None
        self.health = HealthServer(router.name, self.readiness, settings.health_host, settings.health_port)
        self._log = structlog.stdlib.get_logger("samleng.service").bind(service=router.name)

    @property
    def publisher(self) -> Publisher:
        if self._publisher is None:
            raise RuntimeError(f"{self.router.name} is not started")
        return self._publisher

    async def readiness(self) -> dict[str, bool]:
        checks = {"broker": self._connection is not None and not self._connection.is_closed}
        if self.router.subscriptions:
            checks["consuming"] = bool(self._consumers) and all(c.consuming for c in self._consumers)
        if self._uses_mongo:
            try:
                assert self._mongo is not None
                await ping(self._mongo)
                checks["mongodb"] = True
            except Exception:
                checks["mongodb"] = False
        return checks

    async def start(self) -> None:
        settings = self.settings
        await self.health.start(settings.health_registry_dir)
        self._connection = await connect(settings.amqp_url.get_secret_value(), self.router.name)
        self._publisher = await Publisher.open(
            self._connection, settings.amqp_exchange, settings.publish_timeout_seconds
        )
        db = None
        if self._uses_mongo:
            self._mongo = create_client(settings)
            await wait_for_database(self._mongo)
            db = database(self._mongo, settings)
            self._vault = self._publisher.vault = await open_vault(db)
        deps = self._deps = await self._bootstrap(
            Resources(
                settings=settings,
                publisher=self._publisher,
                db=db,
                connection=self._connection,
                vault=self._vault,
            )
        )
        prefetch = getattr(deps, "prefetch", None) or settings.prefetch
        groups = self.router.consumer_groups(settings) if self.router.subscriptions else []
        for group in groups:
            consumer = Consumer(group, self.router.subscriptions, deps, self._publisher)
            self._consumers.append(consumer)
            channel = await self._connection.channel()  # one per queue: prefetch is per channel
            try:  # a broker that cannot declare a queue (e.g. no quorum leader) must not hang us
                await asyncio.wait_for(consumer.start(channel, prefetch), STARTUP_TIMEOUT_SECONDS)
            except TimeoutError as error:
                raise StartupError(
                    f"declaring and consuming {group.queue} took over {STARTUP_TIMEOUT_SECONDS:.0f}s; "
                    "see the broker's log"
                ) from error
        self._log.info("started", health=self.health.url)

    async def stop(self) -> None:
        self._log.info("stopping")
        grace = self.settings.shutdown_grace_seconds
        await asyncio.gather(*(consumer.stop(grace) for consumer in self._consumers))
        aclose = getattr(self._deps, "aclose", None)
        if aclose is not None:  # dependencies that hold clients (HTTP, SMTP) close them here
            await aclose()
        if self._connection is not None:
            await close(self._connection)
        if self._vault is not None:
            await self._vault.close()
        if self._mongo is not None:
            await self._mongo.close()
        await self.health.stop()
        self._log.info("stopped")

    async def run_until_signalled(self) -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        # A signal that arrives while we are still starting (e.g. waiting for a broker that is not
        # there) stops the start too, instead of leaving the process deaf until SIGKILL.
        starting = asyncio.ensure_future(self.start())
        stopping = asyncio.ensure_future(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await starting
            self._log.info("stopped while starting")
            await self.stop()
            return
        try:
            starting.result()
        except StartupError as error:
            stopping.cancel()
            self._log.error("could not start", error=str(error))
            await self.stop()
            raise SystemExit(1) from error
        await stopping
        await self.stop()


def run_service(
    router: Router, settings: ServiceSettings, bootstrap: Bootstrap[Any], *, uses_mongo: bool = True
) -> None:
    configure_logging(router.name, settings.log_level, settings.log_format)
    configure_tracing(router.name)
    try:
        asyncio.run(Service(router, settings, bootstrap, uses_mongo=uses_mongo).run_until_signalled())
    finally:
        shutdown_tracing()  # flushes the spans still waiting for export
