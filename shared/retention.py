"""How long personal records are kept, as data, and the rule each owner declares for its own.

    record                                   kept after             variable (days; default)
    pending subscription (never confirmed)   it was requested       RETENTION_PENDING_SUBSCRIPTION_DAYS (7)
    chat reply (`inbound_messages`)          it was received        RETENTION_CHAT_REPLY_DAYS (90)
    delivery and its request body            its final state        RETENTION_DELIVERY_DAYS (30)
    a channel's send log (`sends_<name>`)    its final state        RETENTION_SEND_LOG_DAYS (30)
    dead letter (`samleng.<group>.dlq`)      it was dead-lettered   RETENTION_DEAD_LETTER_DAYS (14)

Days may be fractional (tests use seconds). Each owner declares its rule next to its other
indexes (`await declare_retention(collection, rule)`), and a sweeper in that process deletes
what has expired every `RETENTION_SWEEP_SECONDS` (one `delete_many` per rule, on an index of the
rule's date field; replicas sweeping at once is harmless). "After its final state" counts from
`updated_at` of documents in a final state: a record still in progress never matches, whatever
its age, and every state change writes `updated_at`.

Why not TTL indexes: on the local Mongo-wire server (SecantusDB) the TTL monitor keeps a read
snapshot open between its sweeps, and under heavy writes (500 certificates, then a database drop)
it deadlocked the whole server in our test suite. Our own sweep behaves the same on MongoDB and
on the local server.

Dead letters carry their own expiry: the consumer gives each copy it puts in a dead-letter queue a
per-message TTL (`expiration`), so the broker drops it on time. Queue arguments cannot change on
an existing queue, a policy needs management rights no service has, and a sweeper would have to
take messages off the queue and put them back (each return counts as a delivery on quorum queues).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Collection, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import InvalidOperation, PyMongoError

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

    sweep_seconds: float = Field(
        default=300,
        gt=0,
        validation_alias=AliasChoices("RETENTION_SWEEP_SECONDS", "retention_sweep_seconds"),
        description="How often each service deletes its expired records.",
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


class Sweeper:
    """Deletes expired documents of every rule declared in this process, every `interval` s."""

    def __init__(self) -> None:
        self.rules: dict[tuple[str, str, str], tuple[AsyncCollection[Any], RetentionRule]] = {}
        self._task: asyncio.Task[None] | None = None

    def add(self, collection: AsyncCollection[Any], rule: RetentionRule, interval: float) -> None:
        key = (collection.database.name, collection.name, rule.index_name)
        self.rules[key] = (collection, rule)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(interval))

    async def sweep(self) -> int:
        """One pass over every rule; a rule whose client was closed is forgotten, one that fails
        (the database away) is tried again at the next pass."""
        removed = 0
        now = datetime.now(tz=UTC)
        for key, (collection, rule) in list(self.rules.items()):
            expired = {rule.field: {"$lt": now - timedelta(seconds=rule.seconds)}, **rule.only}
            try:
                removed += (await collection.delete_many(expired)).deleted_count
            except InvalidOperation:  # its client is closed: the service that declared it stopped
                self.rules.pop(key, None)
            except PyMongoError as error:
                log.warning("retention sweep failed", collection=collection.name, error=type(error).__name__)
        return removed

    async def _run(self, interval: float) -> None:
        while self.rules:
            await asyncio.sleep(interval)
            removed = await self.sweep()
            if removed:
                log.info("retention swept", removed=removed)


SWEEPER = Sweeper()


async def declare_retention(collection: AsyncCollection[Any], rule: RetentionRule) -> None:
    """Index the rule's date field (partial on its filter) and sweep the collection by the rule."""
    name = rule.index_name
    existing = (await collection.index_information()).get(name)
    if existing is not None and "expireAfterSeconds" in existing:
        await collection.drop_index(name)  # a TTL index of an earlier version: swept by us now
    elif existing is not None and not _same(existing.get("partialFilterExpression") or {}, rule.only):
        await collection.drop_index(name)
    options: dict[str, Any] = {"name": name}
    if rule.only:
        options["partialFilterExpression"] = dict(rule.only)
    await collection.create_index([(rule.field, ASCENDING)], **options)
    SWEEPER.add(collection, rule, RetentionSettings().sweep_seconds)
    log.info("retention declared", collection=collection.name, field=rule.field, seconds=rule.seconds)


def _same(a: Any, b: Any) -> bool:
    """Index options compare equal whatever their mapping type (SON or dict)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)
