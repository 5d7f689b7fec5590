"""The adapter contract: one class per delivery channel, declaring what it needs and can do.

A channel lives in `services/channels/<name>/adapter.py` and defines one `ChannelAdapter`
subclass. The class attributes are its declaration, read by the dispatcher (who can be served)
and by the runner (attachments to load, rate limit); `send()` talks to the provider and either
returns a `SendResult` or raises one of:

    DeliveryError
    ├── PermanentDeliveryError   will never succeed (bad address, 5xx SMTP, 4xx API): no retry;
    │                            the dispatcher falls back to the member's next channel
    ├── RetryableDeliveryError   nothing was delivered (connection refused, 4xx SMTP, 5xx API,
    │                            429): retried through the channel's retry tiers
    └── OutcomeUnknown           it may have been delivered (timeout after sending, Signal's
                                 429-but-sent): the runner reconciles, never resends blindly

Anything else an adapter raises is treated as retryable (and logged with its traceback).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.channels.catalogue import DECLARATION_FILE, AttachmentKind, ChannelSpec, spec
from shared.contracts.delivery import AddressKind, DeliveryRequestedData, Recipient
from shared.settings import ServiceSettings


class DeliveryError(Exception):
    """Base of what `send()` raises on purpose; `reason` is short, stable and free of personal data."""

    reason = "delivery-error"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason


class PermanentDeliveryError(DeliveryError):
    reason = "permanent"


class RetryableDeliveryError(DeliveryError):
    reason = "retryable"

    def __init__(self, message: str, *, reason: str | None = None, retry_after: float | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class OutcomeUnknown(DeliveryError):
    reason = "outcome-unknown"


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundMessage:
    """One delivery with its attachments loaded, as the runner hands it to `send()`."""

    delivery: DeliveryRequestedData
    attachments: tuple[Attachment, ...] = ()

    @property
    def recipient(self) -> Recipient:
        return self.delivery.recipient


@dataclass(frozen=True)
class SendResult:
    provider_message_id: str | None = None
    state: Literal["sent", "delivered"] = "sent"
    details: Mapping[str, Any] = field(default_factory=dict)


class ChannelSettings(ServiceSettings):
    """Base for a channel's settings; a channel subclasses it with `env_prefix="<NAME>_"`."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")
    claim_lease_seconds: float = Field(
        default=120.0,
        gt=0,
        validation_alias=AliasChoices("CHANNEL_CLAIM_LEASE_SECONDS"),
        description="A claimed delivery whose worker died is reconciled after this long.",
    )
    rate_per_second: float | None = Field(
        default=None,
        gt=0,
        description="Sends per second per process; unset = the adapter's declared rate (<NAME>_RATE_PER_SECOND).",
    )
    address_wait_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Override of the adapter's address wait (<NAME>_ADDRESS_WAIT_SECONDS); read by the dispatcher.",
    )
    receipt_wait_seconds: float | None = Field(
        default=None,
        ge=0,
        description="Override of the adapter's receipt wait (<NAME>_RECEIPT_WAIT_SECONDS; 0 = never fall "
        "back for a missing receipt); read by the dispatcher, ignored for channels without receipts.",
    )
    webhook_port: int = Field(
        default=0, ge=0, description="Port of the channel's inbound (webhook) process (<NAME>_WEBHOOK_PORT)."
    )
    sandbox_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SANDBOX_URL"),
        description="Local runs and tests: the provider sandbox; a channel without its own API URL "
        "setting talks to `<SANDBOX_URL>/<provider>`.",
    )
    breaker_threshold: int = Field(
        default=5,
        ge=1,
        validation_alias=AliasChoices("CHANNEL_BREAKER_THRESHOLD"),
        description="Consecutive provider failures that open a channel's circuit breaker.",
    )
    breaker_cooldown_seconds: float = Field(
        default=30.0,
        gt=0,
        validation_alias=AliasChoices("CHANNEL_BREAKER_COOLDOWN_SECONDS"),
        description="How long an open breaker waits before one trial send.",
    )


DECLARATIONS = (
    "description",
    "address_kind",
    "attachments",
    "max_attachment_bytes",
    "rate_per_second",
    "unavailable_countries",
    "purposes",
    "resend_is_safe",
    "address_wait_seconds",
    "receipt_wait_seconds",
    "reply_window_seconds",
    "carries_discreet",
)
"""What a channel declares in its folder's `channel.toml` (shared/channels/catalogue.py), copied
onto its adapter class: an adapter in services/channels/ never sets them itself."""


class ChannelAdapter(ABC):
    """Subclass once per channel (its declarations are its folder's `channel.toml`) and implement
    `send()`. The declarations are documented on `ChannelSpec`; the class attributes below are
    filled from it when the class is defined. An adapter defined elsewhere (a test's) declares
    them as class attributes instead."""

    name: ClassVar[str]
    spec: ClassVar[ChannelSpec]
    description: ClassVar[str] = ""
    address_kind: ClassVar[AddressKind]
    attachments: ClassVar[tuple[AttachmentKind, ...]] = ()
    max_attachment_bytes: ClassVar[int] = 10_000_000
    rate_per_second: ClassVar[float] = 10.0
    unavailable_countries: ClassVar[frozenset[str]] = frozenset()
    purposes: ClassVar[frozenset[str]] = frozenset({"certificate"})
    resend_is_safe: ClassVar[bool] = False
    """True when sending the same delivery twice reaches the person once (the provider dedupes on
    our idempotency key). Then an unknown outcome is resolved by sending again; otherwise by
    `reconcile()`, and if that cannot tell, by an operator (dead letter `outcome-unknown`)."""
    address_wait_seconds: ClassVar[float] = 0.0
    receipt_wait_seconds: ClassVar[float | None] = None
    reply_window_seconds: ClassVar[float | None] = None
    carries_discreet: ClassVar[bool] = True
    settings_class: ClassVar[type[ChannelSettings]] = ChannelSettings

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = cls.__dict__.get("name")
        if name is None:
            return
        if cls.__module__.startswith("services.channels."):
            here = [attribute for attribute in DECLARATIONS if attribute in cls.__dict__]
            if here:
                raise TypeError(
                    f"{cls.__qualname__} sets {', '.join(here)}: declare them in "
                    f"services/channels/{name}/{DECLARATION_FILE}"
                )
            cls.spec = spec(name)
            for attribute in DECLARATIONS:
                setattr(cls, attribute, getattr(cls.spec, attribute))
            if cls.spec.sandbox_provider:
                cls.sandbox_provider = cls.spec.sandbox_provider  # type: ignore[attr-defined]
            return
        cls.spec = ChannelSpec(
            name=name,
            labels={"en": name},
            **{attribute: getattr(cls, attribute) for attribute in DECLARATIONS},
        )

    def __init__(self, settings: ChannelSettings) -> None:
        self.settings = settings

    def max_concurrent_sends(self) -> int | None:
        """Sends one process can have in flight (e.g. open SMTP connections); None = the
        runner's default (16).

        The runner claims a delivery only when a slot is free, so work waiting for a slot is
        never claimed and a stopping worker simply returns it to the queue. Free slots go to the
        most urgent priority band first; each band's queue prefetches twice the slots."""
        return None

    async def start(self) -> None:  # noqa: B027 - optional hook, most adapters need it
        """Open clients (called once, in the running event loop)."""

    async def close(self) -> None:  # noqa: B027 - optional hook
        """Close clients."""

    @abstractmethod
    async def send(self, message: OutboundMessage) -> SendResult:
        """Hand one message to the provider; raise from the error tree above when it fails."""

    async def reconcile(self, delivery: DeliveryRequestedData) -> SendResult | None:
        """After an unknown outcome: the result if the provider has it, None if it cannot tell.

        Raise RetryableDeliveryError if the provider says it was NOT delivered and may be resent.
        """
        return None

    # ---- inbound (optional): run by `python -m services.channels.<name>.inbound` ---------------

    def inbound_router(self, inbound: Any) -> APIRouter | None:
        """Webhook routes (mounted at /webhooks/<name>); `inbound` is a shared.channels.inbound.Inbound."""
        return None

    async def poll_inbound(self, inbound: Any) -> bool:
        """One poll of a provider that has no webhooks; return False if this channel does not poll."""
        return False

    @classmethod
    def address_of(cls, recipient: Recipient) -> str | None:
        return cls.spec.address_of(recipient)

    @classmethod
    def reply_window_closes(cls, last_message_at: datetime) -> datetime | None:
        """When free text stops being allowed after the person's message at `last_message_at`;
        None = never (no window)."""
        return cls.spec.reply_window_closes(last_message_at)

    @classmethod
    def ineligibility(cls, recipient: Recipient, purpose: str) -> str | None:
        """Why this channel cannot serve this recipient (a short reason), or None if it can."""
        return cls.spec.ineligibility(recipient, purpose)
