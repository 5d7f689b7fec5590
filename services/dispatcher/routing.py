"""Who gets what on which channel: pure decisions, no I/O (unit-tested on their own).

Eligibility comes only from the channels' declarations (shared/channels/catalogue.py: address
kind, countries they cannot serve, purposes they carry); nothing here names a channel.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from shared.channels.catalogue import ChannelSpec
from shared.contracts.delivery import UNRESOLVED, Recipient

DELIVERY_NAMESPACE = uuid.UUID("9a4c2f1e-5b3d-4e6f-8a7b-0c1d2e3f4a5b")
EVERYTHING = "all"

STATE_RANK = {
    "waiting": 0,
    "pending": 0,
    "retrying": 1,
    "unknown": 2,
    "sent": 3,
    "delivered": 4,
    "failed_permanent": 4,
    "dead_lettered": 4,
    "skipped": 4,
}
FINAL = frozenset({"delivered", "failed_permanent", "dead_lettered", "skipped"})
NO_RECEIPT = "no-receipt-in-time"
"""Why a delivery handed to its provider fell back: no delivery receipt within the channel's wait."""


def delivery_id(purpose: str, source_id: str, member_id: str, channel: str) -> str:
    """Deterministic, so replays and races meet the same unique key."""
    return "dl_" + uuid.uuid5(DELIVERY_NAMESPACE, f"{purpose}:{source_id}:{member_id}:{channel}").hex[:24]


@dataclass(frozen=True)
class Decision:
    channel: str
    skipped_reason: str | None = None

    @property
    def deliverable(self) -> bool:
        return self.skipped_reason is None


def why_not(
    channel: str,
    recipient: Recipient,
    purpose: str,
    channels: Mapping[str, ChannelSpec],
    unsubscribed: Iterable[str],
) -> str | None:
    """Why `channel` cannot carry `purpose` to `recipient`, or None if it can."""
    stopped = set(unsubscribed)
    if EVERYTHING in stopped or channel in stopped:
        return "unsubscribed"
    declared = channels.get(channel)
    if declared is None:
        return "channel-not-installed"
    return declared.ineligibility(recipient, purpose)


def plan_certificate(
    chosen: Iterable[str],
    recipient: Recipient,
    channels: Mapping[str, ChannelSpec],
    unsubscribed: Iterable[str],
) -> list[Decision]:
    """One decision per channel the signer chose (they asked for every one of them)."""
    stopped = list(unsubscribed)
    return [
        Decision(channel, why_not(channel, recipient, "certificate", channels, stopped))
        for channel in dict.fromkeys(chosen)
    ]


def next_channel(
    preferences: Iterable[str],
    used: Iterable[str],
    recipient: Recipient,
    purpose: str,
    channels: Mapping[str, ChannelSpec],
    unsubscribed: Iterable[str],
) -> str | None:
    """The member's next eligible channel that has not been tried for this message."""
    tried = set(used)
    stopped = list(unsubscribed)
    for channel in dict.fromkeys(preferences):
        if channel not in tried and why_not(channel, recipient, purpose, channels, stopped) is None:
            return channel
    return None


def supersedes(current_state: str, current_attempt: int, new_state: str, new_attempt: int) -> bool:
    """Whether a status report should replace the recorded one (reports can arrive out of order)."""
    if current_state == new_state and current_attempt == new_attempt:
        return False
    if current_state == "waiting":  # only the dispatcher itself moves a delivery out of waiting
        return False
    if current_state == "dead_lettered":  # an operator replayed it from the dead-letter queue
        return new_state in ("sent", "delivered")
    if current_state in FINAL:
        return False
    if current_state == "sent":
        return new_state in ("delivered", "failed_permanent")
    if new_attempt != current_attempt:
        return new_attempt > current_attempt or STATE_RANK[new_state] >= STATE_RANK["sent"]
    return STATE_RANK[new_state] > STATE_RANK[current_state]


def receipt_wait(state: str, reason: str | None, wait: float | None, decided: bool) -> float | None:
    """Seconds a delivery a status just moved to `state` waits for its delivery receipt before it
    falls back (0 = fall back now), or None: it does not wait.

    `wait` is the channel's receipt wait (None: it gets no receipts); `decided`: a fallback was
    already decided for it (it fell back, or never does, e.g. a reply). A `sent` delivery waits on
    a channel with receipts; an `unknown` one that reconciliation could not resolve waits too, and
    on a channel without receipts falls back at once (nothing will ever tell)."""
    if decided:
        return None
    if state == "sent":
        return wait or None
    if state == "unknown" and reason == UNRESOLVED:
        return wait or 0.0
    return None


def unconfirmed(state: str, reason: str | None) -> bool:
    """Handed to the provider with no delivery confirmed (yet): `sent`, or `unknown` that
    reconciliation could not resolve; a receipt wait that ends in this state falls back."""
    return state == "sent" or (state == "unknown" and reason in (UNRESOLVED, NO_RECEIPT))
