"""Numbers whose owners confirmed them (services/dispatcher/numbers.py), as the dispatcher keeps
them: a test's member who "wrote to us before" from their phone."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from services.dispatcher.numbers import CONFIRMED_NUMBERS
from shared.contracts import utcnow
from tests.support.member_keys import member_key


async def confirm_numbers(db: Any, env: Mapping[str, str], *phones: str, channel: str = "signal") -> None:
    """Record each of `phones` as confirmed (its owner wrote to us from it on `channel`)."""
    for phone in phones:
        await db[CONFIRMED_NUMBERS].update_one(
            {"_id": member_key(env, "phone", phone)},
            {"$setOnInsert": {"at": utcnow(), "channel": channel}},
            upsert=True,
        )
