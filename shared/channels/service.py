"""A channel as a service: the router every channel gets, and how it is started.

    python -m services.channels <name>      # what the Procfile and compose run

The consumer group is `channel-<name>` (queue `samleng.channel-<name>`, its retry tiers and
dead-letter queue), bound to `delivery.requested.v1.<name>` only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket

from shared.channels.adapter import ChannelAdapter
from shared.channels.guards import CircuitBreaker, RateLimiter
from shared.channels.runner import ChannelRunner, SendLog, worker_id
from shared.contracts.delivery import DeliveryRequested, DeliveryStatus
from shared.messaging.consumer import MessageContext
from shared.service import Resources, Router, run_service

CERTIFICATE_BUCKET = "certificate_files"


def group_name(channel: str) -> str:
    return f"channel-{channel}"


def request_binding(channel: str) -> str:
    return f"{DeliveryRequested.event_type()}.{channel}"


@dataclass
class ChannelDeps:
    runner: ChannelRunner

    async def aclose(self) -> None:
        await self.runner.adapter.close()


def channel_router(adapter_cls: type[ChannelAdapter]) -> Router:
    router = Router(
        group_name(adapter_cls.name),
        description=adapter_cls.description or f"The {adapter_cls.name} channel.",
    )
    router.publishing(DeliveryStatus)

    @router.handles(DeliveryRequested, binding=request_binding(adapter_cls.name))
    async def on_delivery_requested(event: DeliveryRequested, ctx: MessageContext[ChannelDeps]) -> None:
        await ctx.deps.runner.handle(event, ctx)

    return router


def channel_bootstrap(adapter_cls: type[ChannelAdapter]) -> Any:
    async def bootstrap(resources: Resources) -> ChannelDeps:
        assert resources.db is not None
        settings = resources.settings
        assert isinstance(settings, adapter_cls.settings_class)
        adapter = adapter_cls(settings)
        await adapter.start()
        send_log = SendLog(
            resources.db[f"sends_{adapter_cls.name}"], worker_id(), settings.claim_lease_seconds
        )
        files = (
            AsyncGridFSBucket(resources.db, bucket_name=CERTIFICATE_BUCKET)
            if adapter_cls.attachments
            else None
        )
        runner = ChannelRunner(
            adapter,
            send_log,
            files,
            RateLimiter(settings.rate_per_second or adapter_cls.rate_per_second),
            CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_seconds),
        )
        return ChannelDeps(runner)

    return bootstrap


def run_channel(adapter_cls: type[ChannelAdapter]) -> None:
    run_service(channel_router(adapter_cls), adapter_cls.settings_class(), channel_bootstrap(adapter_cls))
