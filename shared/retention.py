"""How long personal records are kept, as data, and the rule each owner declares for its own.

    record                                   kept after             variable (days; default)
    pending subscription (never confirmed)   it was requested       RETENTION_PENDING_SUBSCRIPTION_DAYS (7)
    chat reply (`inbound_messages`)          it was received        RETENTION_CHAT_REPLY_DAYS (90)
    delivery and its request body            its final state        RETENTION_DELIVERY_DAYS (30)
    a channel's send log (`sends_<name>`)    its final state        RETENTION_SEND_LOG_DAYS (30)
    dead letter (`samleng.<group>.dlq`)      it was dead-lettered   RETENTION_DEAD_LETTER_DAYS (14)

Days may be fractional (tests use seconds). MongoDB records expire through TTL indexes, which
the database enforces itself (mongod's TTL monitor and the local Mongo-wire server's sweeper both
run every 60 s), so nothing of ours has to be running for data to go. "After its final state" is
a PARTIAL TTL index on `updated_at` that holds only documents in a final state: a record still in
progress is not in the index and never expires, one that leaves a final state (a replayed dead
letter) leaves the index, and every state change writes `updated_at`. Each owner declares its
rule next to its other indexes (`await ensure_retention_index(collection, rule)`); a changed
setting is applied at the next start (`collMod`, no rebuild).

Dead letters carry their own expiry: the consumer gives each copy it puts in a dead-letter queue a
per-message TTL (`expiration`), so the broker drops it on time. Queue arguments cannot change on
an existing queue, a policy needs management rights no service has, and a sweeper would have to
take messages off the queue and put them back (each return counts as a delivery on quorum queues).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Mapping
from typing import Any

import structlog
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection

log = structlog.stdlib.get_logger("samleng.retention")

DAY_SECONDS = 86_400.0


def _days(name: str, default: float, description: str) -> Any:
    return Field(
        default=default, gt=0, validation_alias=AliasChoices(name, name.lower()), description=description
    )


class RetentionSettings(BaseSettings):
    """Retention periods in days, shared by every service (no prefix, like AMQP_URL)."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", populate_by_name=True
    )

    pending_subscription_days: float = _days(
        "RETENTION_PENDING_SUBSCRIPTION_DAYS", 7, "An unconfirmed subscription, from its request."
    )
    chat_reply_days: float = _days("RETENTION_CHAT_REPLY_DAYS", 90, "A chat reply, from its receipt.")
    delivery_days: float = _days(
        "RETENTION_DELIVERY_DAYS", 30, "A delivery and its request body, from its final state."
    )
    send_log_days: float = _days("RETENTION_SEND_LOG_DAYS", 30, "A channel's send log, from its final state.")
    dead_letter_days: float = _days(
        "RETENTION_DEAD_LETTER_DAYS",
        14,
        "A dead letter, from the moment it was dead-lettered; keep it shorter than the send log's, "
        "so a replayed delivery still finds its send log (and is never sent twice).",
    )

    @property
    def dead_letter_ttl_ms(self) -> int:
        return max(1, round(self.dead_letter_days * DAY_SECONDS * 1000))


@dataclasses.dataclass(frozen=True)
class RetentionRule:
    """Documents whose date `field` is older than `seconds` go, if they match `only` (if given)."""

    field: str
    seconds: int
    only: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def after(cls, date_field: str, days: float, only: Mapping[str, Any] | None = None) -> RetentionRule:
        return cls(date_field, max(0, round(days * DAY_SECONDS)), dict(only or {}))

    @classmethod
    def after_final_state(cls, days: float, final_states: Collection[str]) -> RetentionRule:
        """Counted from the last change of a document that is in one of `final_states`."""
        return cls.after("updated_at", days, {"state": {"$in": sorted(final_states)}})

    @property
    def index_name(self) -> str:
        return f"retention_{self.field}"


def _same(a: Any, b: Any) -> bool:
    """Index options compare equal whatever their mapping type (SON or dict)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


async def ensure_retention_index(collection: AsyncCollection[Any], rule: RetentionRule) -> None:
    """Create the rule's TTL index, retune it in place when only the period changed, or replace it."""
    name = rule.index_name
    existing = (await collection.index_information()).get(name)
    if existing is not None:
        same_shape = _same(existing.get("key"), [(rule.field, ASCENDING)]) and _same(
            existing.get("partialFilterExpression") or {}, rule.only
        )
        if same_shape and existing.get("expireAfterSeconds") == rule.seconds:
            return
        if same_shape:
            await collection.database.command(
                {"collMod": collection.name, "index": {"name": name, "expireAfterSeconds": rule.seconds}}
            )
            log.info("retention changed", collection=collection.name, seconds=rule.seconds)
            return
        await collection.drop_index(name)
    options: dict[str, Any] = {"name": name, "expireAfterSeconds": rule.seconds}
    if rule.only:
        options["partialFilterExpression"] = dict(rule.only)
    await collection.create_index([(rule.field, ASCENDING)], **options)
    log.info("retention declared", collection=collection.name, field=rule.field, seconds=rule.seconds)
