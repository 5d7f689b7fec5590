"""A channel as a service: the router every channel gets, and how it is started.

    python -m services.channels <name>      # what the Procfile and compose run

A channel consumes one queue per priority band (`high`, `normal`, `low`; quorum queues have no
message priorities): consumer group `channel-<name>.<band>`, queue `samleng.channel-<name>.<band>`
with its own retry tiers (a retried request stays in its band) and dead-letter queue, bound to
`delivery.requested.v1.<name>.<band>` only. All bands feed one runner, whose priority gate gives
a free send slot to the most urgent band first; each queue prefetches twice the send slots, so
few lower-band requests sit in the process while more urgent ones arrive.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gridfs import AsyncGridFSBucket

from shared.channels.adapter import ChannelAdapter
from shared.channels.catalogue import ChannelSpec
from shared.channels.erasure import ErasedMembers
from shared.channels.guards import CircuitBreaker, RateLimiter
from shared.channels.runner import ChannelRunner, SendLog, worker_id
from shared.contracts.delivery import BANDS, DeliveryRequested, DeliveryStatus
from shared.contracts.session import SESSION_FILES_BUCKET
from shared.messaging.consumer import MessageContext
from shared.retention import RetentionSettings
from shared.service import Resources, Router, run_service

CERTIFICATE_BUCKET = "certificate_files"


def group_name(channel: str) -> str:
    """The channel's name as a consumer group; each band's group adds `.<band>`."""
    return f"channel-{channel}"


def request_binding(channel: str) -> str:
    """What each band's queue is bound to (the router fills in `{band}`)."""
    return DeliveryRequested.routing_key_for(channel, "{band}")


@dataclass
class ChannelDeps:
    runner: ChannelRunner

    @property
    def prefetch(self) -> int:
        """Per band queue: a slot's next request is already waiting when it frees, no more."""
        return 2 * self.runner.gate.slots

    async def aclose(self) -> None:
        await self.runner.adapter.close()  # the vault is the service's: it closes it


def channel_router(channel: ChannelSpec | type[ChannelAdapter]) -> Router:
    """A channel's router, from its declaration (all the dispatcher needs to declare its queues)
    or its adapter class."""
    declared = channel if isinstance(channel, ChannelSpec) else channel.spec
    router = Router(
        group_name(declared.name),
        description=declared.description or f"The {declared.name} channel.",
        bands=BANDS,
    )
    router.publishing(DeliveryStatus)

    @router.handles(DeliveryRequested, binding=request_binding(declared.name))
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
        await send_log.ensure_retention(RetentionSettings().send_log_days)
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
            AsyncGridFSBucket(resources.db, bucket_name=SESSION_FILES_BUCKET)
            if "pdf" in adapter_cls.attachments
            else None,
            vault=resources.vault,
            erased=ErasedMembers(resources.db),
        )
        return ChannelDeps(runner)

    return bootstrap


def run_channel(adapter_cls: type[ChannelAdapter]) -> None:
    run_service(channel_router(adapter_cls), adapter_cls.settings_class(), channel_bootstrap(adapter_cls))
