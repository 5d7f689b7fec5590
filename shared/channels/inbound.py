"""A channel's inbound side: webhooks and polling, written once for every chat channel.

    python -m services.channels.<name>.inbound

serves the adapter's `inbound_router()` under `/webhooks/<name>` (on `<NAME>_WEBHOOK_PORT`) and,
if the adapter polls (`poll_inbound()`), polls its provider. Whatever it learns goes out as events,
through the `Inbound` helper the adapter gets:

    status(provider_message_id, state)   -> delivery.status.v1.<name> for the delivery whose send
                                            the channel's send log recorded with that provider id
                                            (out-of-order reports are fine: the dispatcher only
                                            moves a delivery forward)
    message(sender_kind, sender, text)   -> inbound.message.v1 (STOP handling is pledge-intake's)
    linked(kind, address, pledge_id)     -> contact.linked.v1
    spend(key, holder, until)            a single-use reference (e.g. an m.me link's): True at its
                                         first use and for the same holder again (providers resend
                                         webhooks), False once another holder used it
    spent(key)                           whether anyone spent that reference
    refuse_link(reason)                  logs and counts a link refused (a reason code, nothing
                                         personal): samleng_channel_links_refused_total

Run one inbound process per channel (or several behind a load balancer: what they keep is in the
database). `spent_references` holds each spent reference under opaque keys the adapter derives
(keyed hashes: neither the reference nor the address), swept once the reference has expired.
Webhook posts count against a per-address limit shared by every replica (WEBHOOK_RATE_LIMIT_PER_MINUTE,
shared/rate_limit.py; beyond it 429 + Retry-After, which providers retry).
Its requests are counted and traced like every web app's (shared/http_telemetry.py): a status
a provider reports starts its own trace, under the webhook's route template.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine
from datetime import datetime
from typing import Any

import structlog
from fastapi import Depends, FastAPI, HTTPException, Request
from prometheus_client import Counter
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.channels.adapter import ChannelAdapter, ChannelSettings
from shared.contracts import utcnow
from shared.contracts.delivery import AddressKind, DeliveryState, DeliveryStatus, DeliveryStatusData
from shared.contracts.inbound import ContactLinked, ContactLinkedData, InboundMessage, InboundMessageData
from shared.health import health_routes, run_asgi
from shared.http_errors import install_field_problems
from shared.http_telemetry import install_http_telemetry
from shared.messaging.connection import close, connect
from shared.messaging.publisher import Publisher
from shared.observability import configure_logging
from shared.personal_data import PersonalDataSettings, open_vault
from shared.rate_limit import (
    RATE_LIMITS,
    Rule,
    SharedLimiter,
    WebhookLimitSettings,
    parse_networks,
    request_client,
)
from shared.retention import RetentionRule, declare_retention
from shared.storage import Document, create_client, database, insert_once, ping, wait_for_database

LIMITED: dict[str, Any] = {
    "description": "Too many posts from this address (WEBHOOK_RATE_LIMIT_PER_MINUTE): retry after Retry-After",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Refusal"}}},
}
INBOUND_NAMESPACE = uuid.UUID("7d3e9f1a-2b4c-4d5e-8f6a-9b0c1d2e3f4a")
POLL_INTERVAL_SECONDS = 1.0
SPENT_REFERENCES = "spent_references"
SPENT_RETENTION = RetentionRule.after("expires_at", 0)  # a spent reference goes once it has expired
LINKS_REFUSED = Counter(
    "samleng_channel_links_refused_total",
    "Contact links a channel's webhook refused, by reason (e.g. reference-expired, reference-spent).",
    ["channel", "reason"],
)


class Inbound:
    """What an adapter's webhook or poller uses to report what it learned."""

    def __init__(
        self,
        channel: str,
        publisher: Publisher,
        sends: AsyncCollection[Document],
        settings: ChannelSettings,
        spent: AsyncCollection[Document] | None = None,
    ) -> None:
        self.channel = channel
        self.publisher = publisher
        self.sends = sends
        self.settings = settings
        self.spent_references = spent
        self.log = structlog.stdlib.get_logger("samleng.inbound").bind(channel=channel)

    async def status(
        self,
        provider_message_id: str,
        state: DeliveryState,
        reason: str | None = None,
        at: datetime | None = None,
    ) -> bool:
        """Report a provider's status for one of our sends; False if we never sent that message."""
        send = await self.sends.find_one({"provider_message_id": provider_message_id}, {"claims": 1})
        if send is None:
            self.log.warning("status for an unknown message", state=state)
            return False
        delivery_id = str(send["_id"])
        attempt = max(1, int(send.get("claims", 1)))
        await self.publisher.publish(
            DeliveryStatus(
                event_id=uuid.uuid5(INBOUND_NAMESPACE, f"{delivery_id}:{state}:{provider_message_id}"),
                correlation_id=delivery_id,
                data=DeliveryStatusData(
                    delivery_id=delivery_id,
                    channel=self.channel,
                    state=state,
                    attempt=attempt,
                    reason=reason,
                    provider_message_id=provider_message_id,
                    at=at or utcnow(),
                ),
            )
        )
        return True

    async def message(
        self,
        sender_kind: AddressKind,
        sender: str,
        text: str,
        provider_message_id: str | None = None,
        at: datetime | None = None,
    ) -> None:
        key = provider_message_id or f"{sender}:{(at or utcnow()).isoformat()}"
        await self.publisher.publish(
            InboundMessage(
                event_id=uuid.uuid5(INBOUND_NAMESPACE, f"{self.channel}:message:{key}"),
                correlation_id=f"{self.channel}:{sender_kind}",
                data=InboundMessageData(
                    channel=self.channel,
                    sender_kind=sender_kind,
                    sender=sender,
                    text=text[:5000],
                    received_at=at or utcnow(),
                    provider_message_id=provider_message_id,
                ),
            )
        )

    async def spend(self, key: str, holder: str, until: datetime) -> bool:
        """Spend a single-use reference: True for its first use, and for the same holder again
        (the expiry moves to the later one); False once another holder spent it. `key` and `holder`
        are opaque (keyed hashes the adapter derives); the record is swept after `until`."""
        assert self.spent_references is not None
        return await spend(self.spent_references, f"{self.channel}:{key}", holder, until)

    async def spent(self, key: str) -> bool:
        assert self.spent_references is not None
        return await self.spent_references.find_one({"_id": f"{self.channel}:{key}"}, {"_id": 1}) is not None

    def refuse_link(self, reason: str) -> None:
        self.log.warning("contact link refused", reason=reason)
        LINKS_REFUSED.labels(self.channel, reason).inc()

    async def linked(self, address_kind: AddressKind, address: str, pledge_id: str) -> None:
        await self.publisher.publish(
            ContactLinked(
                event_id=uuid.uuid5(INBOUND_NAMESPACE, f"{self.channel}:linked:{address}:{pledge_id}"),
                correlation_id=pledge_id,
                data=ContactLinkedData(
                    channel=self.channel,
                    address_kind=address_kind,
                    address=address,
                    pledge_id=pledge_id,
                    linked_at=utcnow(),
                ),
            )
        )


async def spend(spent: AsyncCollection[Document], key: str, holder: str, until: datetime) -> bool:
    if await insert_once(spent, {"_id": key, "holder": holder, "expires_at": until}):
        return True
    again = await spent.update_one({"_id": key, "holder": holder}, {"$max": {"expires_at": until}})
    return again.matched_count == 1


def create_inbound_app(adapter_cls: type[ChannelAdapter], settings: ChannelSettings) -> FastAPI:
    name = adapter_cls.name
    state: dict[str, Any] = {}

    async def readiness() -> dict[str, bool]:
        checks = {"broker": "connection" in state and not state["connection"].is_closed}
        try:
            await ping(state["mongo"])
            checks["mongodb"] = True
        except Exception:
            checks["mongodb"] = False
        return checks

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["connection"] = await connect(settings.amqp_url.get_secret_value(), f"{name}-inbound")
        publisher = await Publisher.open(
            state["connection"], settings.amqp_exchange, settings.publish_timeout_seconds
        )
        state["mongo"] = mongo = create_client(settings)
        await wait_for_database(mongo)
        vault = publisher.vault = await open_vault(database(mongo, settings))  # seals what people write
        sends = database(mongo, settings)[f"sends_{name}"]
        await sends.create_index([("provider_message_id", ASCENDING)])
        spent = database(mongo, settings)[SPENT_REFERENCES]
        await declare_retention(spent, SPENT_RETENTION)
        adapter = adapter_cls(settings)
        await adapter.start()
        inbound = Inbound(name, publisher, sends, settings, spent)
        router = adapter.inbound_router(inbound)
        if router is not None:
            limited = webhook_limit(
                name, WebhookLimitSettings(), lambda: database(mongo, settings)[RATE_LIMITS]
            )
            app.include_router(router, prefix=f"/webhooks/{name}", dependencies=[Depends(limited)])
        poller = asyncio.create_task(_poll(adapter, inbound))
        yield
        poller.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await poller
        await adapter.close()
        await close(state["connection"])
        if vault is not None:
            await vault.close()
        await mongo.close()

    app = FastAPI(title=f"Samleng {name} inbound", lifespan=lifespan)
    install_http_telemetry(app, f"{name}-inbound")
    install_field_problems(app)
    document_webhook_limit(app)
    for route in health_routes(f"{name}-inbound", readiness):
        app.router.routes.append(route)
    return app


def document_webhook_limit(app: FastAPI) -> None:
    """Every webhook POST can answer the limit's 429 (`webhook_limit`): its OpenAPI says so."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        document: dict[str, Any] = generate()
        for path, operations in document.get("paths", {}).items():
            if path.startswith("/webhooks/") and "post" in operations:
                operations["post"]["responses"].setdefault("429", LIMITED)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def webhook_limit(
    channel: str, limits: WebhookLimitSettings, counters: Callable[[], AsyncCollection[Document]]
) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A dependency of every webhook route: its posts count against the caller's address. The
    address is hashed under a key derived from SAMLENG_BLIND_INDEX_KEY (every inbound process has
    it); without one (local runs without encryption) under a fixed key, like contacts then."""
    key = PersonalDataSettings().blind_index_key
    limiter = SharedLimiter(
        counters, key.get_secret_value().encode() if key is not None else b"samleng-unkeyed"
    )
    rule = Rule(f"webhook-{channel}", limits.rate_limit_per_minute)
    trusted = parse_networks(limits.trusted_proxies)

    async def limited(request: Request) -> None:
        if request.method != "POST":
            return
        wait = await limiter.hit(rule, request_client(request, trusted))
        if wait:
            raise HTTPException(429, "too many requests; retry later", headers={"Retry-After": str(wait)})

    return limited


async def _poll(adapter: ChannelAdapter, inbound: Inbound) -> None:
    while True:
        try:
            if not await adapter.poll_inbound(inbound):
                return
        except asyncio.CancelledError:
            raise
        except Exception:
            inbound.log.exception("poll failed; trying again")
        await asyncio.sleep(POLL_INTERVAL_SECONDS)


def run_inbound(adapter_cls: type[ChannelAdapter]) -> None:
    settings = adapter_cls.settings_class()
    configure_logging(f"{adapter_cls.name}-inbound", settings.log_level, settings.log_format)
    run_asgi(
        create_inbound_app(adapter_cls, settings),
        f"{adapter_cls.name}-inbound",
        settings.health_host,
        settings.webhook_port,
        settings.health_registry_dir,
        proxy_headers=False,  # WEBHOOK_TRUSTED_PROXIES decides (shared/rate_limit.py)
    )
