"""Confirmed numbers: no chat message goes to a phone number its owner has not confirmed.

Anyone can type someone else's number into a form; a human-rights message arriving unasked on a
phone in Cambodia can harm its owner, and making Samleng message arbitrary numbers is abuse. So a
channel that sends to a phone number (Signal, WhatsApp, SMS: channels whose declared
`address_kind` is `phone`) may carry a message only once the number's owner wrote to us from it,
on any of those channels (`inbound.message.v1`): that is their confirmation, and it is also what
the platforms ask before a business writes to someone (WhatsApp's opt-in, Signal's message
requests). The public site tells people how (services/intake: "send any message to our number").
Email keeps its own double opt-in (a link).

- `confirmed_numbers` (owned here): `{_id: contact_key("phone", number), at, channel}`; the key is
  the blind index of the number (shared/personal_data.py), never the number.
- Routing sees it as `Recipient.phone_confirmed`; a channel declines an unconfirmed number
  (shared/channels/catalogue.py `ChannelSpec.ineligibility`, reason `number-not-confirmed`), so
  an alert goes to the member's next channel, or nowhere.
- A certificate chosen for such a channel waits (`waiting-for-number-confirmation`, up to
  `DISPATCHER_NUMBER_WAIT_HOURS`), recorded in `awaiting_numbers` `{_id: delivery id,
  number_key}`: when the number is confirmed it is sent; when the wait ends it is skipped
  (`number-not-confirmed-in-time`) and falls back to the member's next channel.
- `DISPATCHER_CONFIRM_NUMBERS=false` turns the rule off (every number counts as confirmed).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

from shared.contracts.delivery import Recipient
from shared.personal_data import contact_key
from shared.storage import Document

CONFIRMED_NUMBERS = "confirmed_numbers"
AWAITING_NUMBERS = "awaiting_numbers"
WAIT_REASON = "waiting-for-number-confirmation"
NOT_CONFIRMED = "number-not-confirmed"


def number_key(phone: str) -> str:
    return contact_key("phone", phone)


async def confirmed_keys(deps: Any, phones: Iterable[str | None]) -> set[str]:
    """The keys of those of `phones` whose owners confirmed them (all of them with the rule off)."""
    keys = {number_key(phone) for phone in phones if phone}
    if not keys:
        return set()
    if not deps.confirm_numbers or deps.confirmed_numbers is None:
        return keys
    found = deps.confirmed_numbers.find({"_id": {"$in": sorted(keys)}}, {"_id": 1})
    return {doc["_id"] async for doc in found}


def marked(recipient: Recipient, confirmed: set[str]) -> Recipient:
    """The recipient with `phone_confirmed` as `confirmed` (keys) says."""
    ok = recipient.phone is not None and number_key(recipient.phone) in confirmed
    return (
        recipient if ok == recipient.phone_confirmed else recipient.model_copy(update={"phone_confirmed": ok})
    )


async def checked(deps: Any, recipient: Recipient) -> Recipient:
    """`marked` for one recipient."""
    return marked(recipient, await confirmed_keys(deps, [recipient.phone]))


async def confirm(deps: Any, phone: str, channel: str, at: datetime) -> list[str]:
    """Record that the owner of `phone` wrote to us; the deliveries that waited for it (ids)."""
    key = number_key(phone)
    assert deps.confirmed_numbers is not None and deps.awaiting_numbers is not None
    await deps.confirmed_numbers.update_one(
        {"_id": key}, {"$setOnInsert": {"at": at, "channel": channel}}, upsert=True
    )
    waiting = deps.awaiting_numbers.find({"number_key": key}, {"_id": 1})
    return [doc["_id"] async for doc in waiting]


async def ensure_indexes(awaiting: AsyncCollection[Document]) -> None:
    await awaiting.create_index([("number_key", ASCENDING)])
