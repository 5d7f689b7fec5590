"""Delivery channels: the adapter contract every channel implements and the runner they share."""

from shared.channels.adapter import (
    Attachment,
    ChannelAdapter,
    ChannelSettings,
    DeliveryError,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)

__all__ = [
    "Attachment",
    "ChannelAdapter",
    "ChannelSettings",
    "DeliveryError",
    "OutboundMessage",
    "OutcomeUnknown",
    "PermanentDeliveryError",
    "RetryableDeliveryError",
    "SendResult",
]
