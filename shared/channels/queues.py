"""A channel's queues, from its declaration alone.

Every channel consumes one queue per priority band: consumer group `channel-<name>.<band>`,
queue `samleng.channel-<name>.<band>`, bound to `delivery.requested.v1.<name>.<band>`. This router
says so from the channel's declaration (shared/channels/catalogue.py `ChannelSpec`), so a process
that only sends to channels or lists their queues (the dispatcher declares every channel's queues
at start; the console's dead letters; `samleng docs`) needs no adapter and none of a provider's
libraries. The channel's own process runs the same router with its runner as the handler
(shared/channels/service.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from shared.channels.catalogue import ChannelSpec
from shared.contracts.delivery import BANDS, DeliveryRequested, DeliveryStatus
from shared.messaging.consumer import MessageContext
from shared.service import Router

if TYPE_CHECKING:
    from shared.channels.adapter import ChannelAdapter


class Sends(Protocol):
    """What handles a channel's requests in its own process (shared/channels/runner.py)."""

    async def handle(self, event: DeliveryRequested, ctx: MessageContext[Any]) -> None: ...


class ChannelProcess(Protocol):
    """A channel process's dependencies (shared/channels/service.py `ChannelDeps`)."""

    @property
    def runner(self) -> Sends: ...


def group_name(channel: str) -> str:
    """The channel's name as a consumer group; each band's group adds `.<band>`."""
    return f"channel-{channel}"


def request_binding(channel: str) -> str:
    """What each band's queue is bound to (the router fills in `{band}`)."""
    return DeliveryRequested.routing_key_for(channel, "{band}")


def channel_router(channel: ChannelSpec | type[ChannelAdapter]) -> Router:
    """A channel's router, from its declaration (all the dispatcher needs to declare its queues)
    or its adapter class (a test's adapter declares itself)."""
    declared = channel if isinstance(channel, ChannelSpec) else channel.spec
    router = Router(
        group_name(declared.name),
        description=declared.description or f"The {declared.name} channel.",
        bands=BANDS,
    )
    router.publishing(DeliveryStatus)

    @router.handles(DeliveryRequested, binding=request_binding(declared.name))
    async def on_delivery_requested(event: DeliveryRequested, ctx: MessageContext[ChannelProcess]) -> None:
        await ctx.deps.runner.handle(event, ctx)

    return router
