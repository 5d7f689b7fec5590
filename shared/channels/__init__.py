"""Delivery channels: the adapter contract every channel implements and the runner they share.

The adapter contract's names below are loaded on first use: a process that only reads the
channels' declarations (catalogue.py) or declares their queues (queues.py), like the dispatcher,
never imports the adapter contract (tests/unit/test_dispatcher_modules.py)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("shared.channels.adapter"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
