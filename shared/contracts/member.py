"""Member contracts: consent changes that apply across every channel."""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event, Payload

WithdrawalSource = Literal["list-unsubscribe", "unsubscribe-page", "chat-reply", "operator"]


class ConsentWithdrawnData(Payload):
    member_id: str
    scope: str = Field(
        description="`all` (every message on every channel) or one channel name.", examples=["all", "email"]
    )
    source: WithdrawalSource = Field(description="Where the person asked.")
    at: AwareDatetime


class ConsentWithdrawn(Event[ConsentWithdrawnData]):
    """A member asked to receive nothing more (or nothing more on one channel)."""

    type: Literal["consent.withdrawn.v1"] = "consent.withdrawn.v1"
