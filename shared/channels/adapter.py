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
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from fastapi import APIRouter
from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from shared.contracts.delivery import AddressKind, DeliveryRequestedData, Recipient
from shared.settings import ServiceSettings

AttachmentKind = Literal["pdf", "png", "print_pdf"]


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


class ChannelAdapter(ABC):
    """Subclass once per channel; set every declaration and implement `send()`."""

    name: ClassVar[str]
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
    """How long a delivery may wait for the member to gain this channel's address (an opt-in the
    platform requires, e.g. Messenger's PSID) before the dispatcher falls back. 0 = no waiting;
    `<NAME>_ADDRESS_WAIT_SECONDS` overrides it."""
    receipt_wait_seconds: ClassVar[float | None] = None
    """Whether this channel's provider confirms delivery (its inbound process reports `delivered`)
    and how long after `sent` the dispatcher waits for that receipt: without one in time, or
    after an `unknown` outcome reconciliation could not resolve, the delivery falls back to the
    member's next channel once (a late receipt is recorded and sends nothing). None = no receipts:
    `sent` is as far as a delivery goes (and an unresolved `unknown` falls back at once);
    `<NAME>_RECEIPT_WAIT_SECONDS` overrides the wait."""
    reply_window_seconds: ClassVar[float | None] = None
    """How long after the person's last message on this channel free text (an operator's answer,
    purpose `reply`) may still be sent to them: a chat platform's customer-service window. None =
    no window (any time). Only a channel whose `purposes` include `reply` carries answers; the
    console reads this before it accepts one (`reply_window_closes`)."""
    carries_discreet: ClassVar[bool] = True
    """Whether this channel may carry a discreet message (at-risk mode: a neutral notice whose
    link shows the details once; services/dispatcher/discreet.py). A channel that cannot make
    its message neutral (post: an envelope, a return address, a printed certificate) says False:
    discreet recipients are then never sent anything on it."""
    settings_class: ClassVar[type[ChannelSettings]] = ChannelSettings

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
        value = {
            "email": recipient.email,
            "phone": recipient.phone,
            "psid": recipient.psid,
            "postal": recipient.postal_address.street_address if recipient.postal_address else None,
        }[cls.address_kind]
        return value or None

    @classmethod
    def reply_window_closes(cls, last_message_at: datetime) -> datetime | None:
        """When free text stops being allowed after the person's message at `last_message_at`;
        None = never (no window)."""
        if cls.reply_window_seconds is None:
            return None
        return last_message_at + timedelta(seconds=cls.reply_window_seconds)

    @classmethod
    def ineligibility(cls, recipient: Recipient, purpose: str) -> str | None:
        """Why this channel cannot serve this recipient (a short reason), or None if it can."""
        if purpose not in cls.purposes:
            return f"cannot-carry-{purpose}"
        if recipient.country.upper() in cls.unavailable_countries:
            return f"not-available-in-{recipient.country.upper()}"
        if recipient.discreet and not cls.carries_discreet:
            return "not-for-discreet-messages"
        if cls.address_of(recipient) is None:
            return f"no-{cls.address_kind}-address"
        if cls.address_kind == "phone" and not recipient.phone_confirmed:
            return "number-not-confirmed"  # its owner has not written to us from it
        return None
