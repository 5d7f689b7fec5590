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

from shared.channels.adapter import ChannelAdapter
from shared.channels.erasure import ErasedMembers
from shared.channels.guards import CircuitBreaker, RateLimiter
from shared.channels.queues import channel_router
from shared.channels.runner import ChannelRunner, SendLog, worker_id
from shared.retention import RetentionSettings
from shared.service import Resources, run_service


@dataclass
class ChannelDeps:
    runner: ChannelRunner

    @property
    def prefetch(self) -> int:
        """Per band queue: a slot's next request is already waiting when it frees, no more."""
        return 2 * self.runner.gate.slots

    async def aclose(self) -> None:
        await self.runner.adapter.close()  # the vault is the service's: it closes it


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
        runner = ChannelRunner(
            adapter,
            send_log,
            resources.db if adapter_cls.attachments else None,  # files: in the buckets requests name
            RateLimiter(settings.rate_per_second or adapter_cls.rate_per_second),
            CircuitBreaker(settings.breaker_threshold, settings.breaker_cooldown_seconds),
            vault=resources.vault,
            erased=ErasedMembers(resources.db),
        )
        return ChannelDeps(runner)

    return bootstrap


def run_channel(adapter_cls: type[ChannelAdapter]) -> None:
    run_service(channel_router(adapter_cls), adapter_cls.settings_class(), channel_bootstrap(adapter_cls))
