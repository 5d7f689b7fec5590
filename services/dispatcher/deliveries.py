"""The dispatcher's deliveries: one document per message, person and channel, under an id
derived from them (routing.py `delivery_id`), and what is done with them: build, create (sealed,
made discreet for a discreet person), publish as `delivery.requested.v1`, wait (durable timers:
an opt-in address, a number's confirmation, quiet hours, a receipt), release, fall back to the
person's next channel, and the collection's indexes. A certificate on a channel that carries no
files also gets a personal download link (downloads.py). app.py keeps the router, the handlers and
start-up; alerts.py, reminders.py and replies.py build on this module (none of them imports app.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.dispatcher import discreet, downloads, numbers
from services.dispatcher.personal import contact_card, open_member, opened_request, sealed, sealed_delivery
from services.dispatcher.read_models import MEMBERS
from services.dispatcher.routing import (
    FINAL,
    NO_RECEIPT,
    delivery_id,
    next_channel,
    receipt_wait,
    unconfirmed,
)
from shared.channels.catalogue import ChannelSpec
from shared.contracts import utcnow
from shared.contracts.delivery import (
    DeliveryRequested,
    DeliveryRequestedData,
    DeliveryStatusData,
    NoticeRef,
    Recipient,
)
from shared.contracts.inbound import (
    DeliveryWaitExpired,
    DeliveryWaitExpiredData,
)
from shared.contracts.pledge import PostalAddress, is_discreet
from shared.member_links import link_token
from shared.message_details import DISCREET_KIND
from shared.messaging.consumer import MessageContext
from shared.messaging.publisher import Publisher, to_message
from shared.personal_data import PersonalDataUnreadable, Vault
from shared.retention import RetentionRule, RetentionSettings, declare_retention
from shared.storage import Document, insert_once

REQUEST_NAMESPACE = uuid.UUID("3e5f7a9b-1c2d-4e6f-8a0b-2c4d6e8f0a1b")


@dataclass
class Deps:
    deliveries: AsyncCollection[Document]
    db: AsyncDatabase[Document]
    """Other services' collections are read from it through read_models.py only."""
    channels: Mapping[str, ChannelSpec]
    """The installed channels' declarations (shared/channels/catalogue.py `catalogue()`)."""
    public_base_url: str
    alerts: AsyncCollection[Document] | None = None
    alert_versions: AsyncCollection[Document] | None = None
    action_reports: AsyncCollection[Document] | None = None
    official_actions: AsyncCollection[Document] | None = None
    waits: dict[str, float] = field(default_factory=dict)
    receipt_waits: dict[str, float] = field(default_factory=dict)
    """Per channel that gets delivery receipts: how long a `sent` delivery waits for one."""
    wait_queues: dict[int, str] = field(default_factory=dict)
    vault: Vault | None = None
    """The process's vault (`Resources.vault`; the service closes it)."""
    preferences_link_days: int = 30
    details: AsyncCollection[Document] | None = None
    """`message_details`: what discreet messages and download links stand for (discreet.py,
    downloads.py)."""
    detail_link_hours: float = 72
    confirm_numbers: bool = True
    confirmed_numbers: AsyncCollection[Document] | None = None
    awaiting_numbers: AsyncCollection[Document] | None = None
    number_wait_seconds: float = 168 * 3600.0
    """numbers.py: which phone numbers their owners confirmed; deliveries waiting for it."""

    async def member(self, member_id: str) -> Document | None:
        """pledge-intake's member, opened (personal.py `open_member`); None if absent or erased."""
        return await open_member(self.vault, await MEMBERS.find_one(self.db, {"_id": member_id}))


def request_event_id(delivery: str) -> uuid.UUID:
    return uuid.uuid5(REQUEST_NAMESPACE, delivery)


def recipient_of(member: Document) -> Recipient:
    emails = member.get("emails") or []
    phones = member.get("phones") or []
    address = member.get("postal_address")
    return Recipient(
        member_id=str(member["_id"]),
        name=member["name"],
        language=member.get("language", "en"),
        country=member["country"],
        email=member.get("email") or (emails[-1] if emails else None),
        phone=member.get("phone") or (phones[-1] if phones else None),
        postal_address=PostalAddress(**address) if address else None,
        psid=member.get("psid"),
        last_inbound_at=member.get("last_inbound") or {},
        discreet=is_discreet(member.get("discreet"), member.get("country")),
    )


def unsubscribe_url(deps: Deps, member: Document | None) -> str | None:
    """The member's one-click unsubscribe link: it opens the unsubscribe action only and never
    expires (shared/member_links.py; pledge-intake gives every member a random secret)."""
    secret = member.get("unsubscribe_token") if member else None
    if member is None or not secret:
        return None
    return f"{deps.public_base_url.rstrip('/')}/u/{link_token(secret, str(member['_id']), 'unsubscribe')}"


def preferences_url(deps: Deps, member: Document | None) -> str | None:
    """The member's personal page (preferences, their data, erase): a link of its own, which
    expires after `preferences_link_days`; each message carries a fresh one."""
    secret = member.get("unsubscribe_token") if member else None
    if member is None or not secret:
        return None
    expires = utcnow() + timedelta(days=deps.preferences_link_days)
    token = link_token(secret, str(member["_id"]), "preferences", expires)
    return f"{deps.public_base_url.rstrip('/')}/p/{token}"


def waits_for_address(deps: Deps, channel: str, skipped_reason: str | None) -> float:
    """Seconds to wait for an address the member can still give, or for their number's
    confirmation (0 = do not wait)."""
    declared = deps.channels.get(channel)
    if declared is not None and skipped_reason == numbers.NOT_CONFIRMED:
        return deps.number_wait_seconds
    if declared is None or skipped_reason != f"no-{declared.address_kind}-address":
        return 0.0
    return deps.waits.get(channel, 0.0)


async def create_delivery(
    deps: Deps,
    base: dict[str, Any],
    channel: str,
    skipped_reason: str | None,
    fallback_from: str | None,
    wait_seconds: float = 0.0,
) -> Document:
    """Insert the delivery under its deterministic id, or return the one already there. For a
    discreet recipient the details are written first and the delivery carries their link; so are
    a certificate's for a channel that carries no files (its download link)."""
    if skipped_reason is None or wait_seconds > 0:  # it goes now, or once the wait ends
        base, detail = discreet_base(deps, base)
        base, download = downloads.with_download_link(
            base, deps.channels.get(channel), deps.public_base_url, deps.detail_link_hours, wait_seconds
        )
        details = [d for d in (detail, download) if d is not None]
        if details and deps.details is not None:
            await discreet.store(deps.details, deps.vault, details)
    doc, request = build_delivery(deps, base, channel, skipped_reason, fallback_from, wait_seconds)
    doc, _ = await sealed_delivery(deps.vault, doc, request)
    if doc["reason"] == numbers.WAIT_REASON and deps.awaiting_numbers is not None and request.recipient.phone:
        await insert_once(
            deps.awaiting_numbers,
            {"_id": doc["_id"], "number_key": numbers.number_key(request.recipient.phone)},
        )
    if await insert_once(deps.deliveries, doc):
        return doc
    existing = await deps.deliveries.find_one({"_id": doc["_id"]})
    assert existing is not None
    return existing


async def create_deliveries(deps: Deps, docs: list[Document]) -> list[Document]:
    """`create_delivery` for many at once (fan-out): one write, duplicates resolved to what exists."""
    if not docs:
        return []
    try:
        await deps.deliveries.insert_many(docs, ordered=False)
        return docs
    except BulkWriteError as error:
        problems = error.details.get("writeErrors", [])
        if any(problem.get("code") != 11000 for problem in problems):
            raise
        duplicates = {docs[problem["index"]]["_id"] for problem in problems}
    existing = {d["_id"]: d async for d in deps.deliveries.find({"_id": {"$in": list(duplicates)}})}
    return [existing.get(doc["_id"], doc) for doc in docs]


def discreet_base(deps: Deps, base: dict[str, Any]) -> tuple[dict[str, Any], Document | None]:
    """discreet.py `make_discreet` with this dispatcher's settings; a base already made discreet
    (a fallback copies the failed request) keeps its link."""
    notice = base.get("notice")
    if isinstance(notice, NoticeRef) and notice.kind == DISCREET_KIND:
        return base, None
    return discreet.make_discreet(base, deps.public_base_url, deps.detail_link_hours)


def build_delivery(
    deps: Deps,
    base: dict[str, Any],
    channel: str,
    skipped_reason: str | None,
    fallback_from: str | None,
    wait_seconds: float = 0.0,
) -> tuple[Document, DeliveryRequestedData]:
    """The delivery document and its request (kept, so a fan-out need not parse it back)."""
    recipient: Recipient = base["recipient"]
    key = delivery_id(base["purpose"], base["source_id"], recipient.member_id, channel)
    now = utcnow()
    request = DeliveryRequestedData(
        delivery_id=key,
        channel=channel,
        purpose=base["purpose"],
        source_id=base["source_id"],
        priority=base["priority"],
        recipient=recipient,
        certificate=base.get("certificate"),
        alert=base.get("alert"),
        notice=base.get("notice"),
        reminder=base.get("reminder"),
        unsubscribe_url=base.get("unsubscribe_url"),
        preferences_url=base.get("preferences_url"),
        fallback_from=fallback_from,
        requested_at=now,
    )
    state = "waiting" if wait_seconds > 0 else ("skipped" if skipped_reason else "pending")
    if state == "waiting" and skipped_reason == numbers.NOT_CONFIRMED:
        skipped_reason = numbers.WAIT_REASON
    elif state == "waiting" and not base.get("wait_reason"):
        skipped_reason = f"waiting-for-{deps.channels[channel].address_kind}"
    elif state == "waiting":
        skipped_reason = base["wait_reason"]
    doc: Document = {
        "_id": key,
        "purpose": base["purpose"],
        "source_id": base["source_id"],
        "correlation_id": base["correlation_id"],
        "member_id": recipient.member_id,
        "channel": channel,
        "state": state,
        "attempt": 1,
        "reason": skipped_reason,
        "fallback_from": fallback_from,
        "created_at": now,
        "updated_at": now,
        "request": request.model_dump(mode="json"),
        "history": [{"state": state, "attempt": 1, "reason": skipped_reason, "at": now}],
        **base.get("extra", {}),
    }
    if state == "waiting":
        doc["wait_until"] = now + timedelta(seconds=wait_seconds)
    return doc, request


def request_event(doc: Document, request: DeliveryRequestedData | None = None) -> DeliveryRequested:
    """The request of a stored delivery; pass the request it was built from to skip parsing it."""
    request = request or DeliveryRequestedData.model_validate(doc["request"])
    return DeliveryRequested(
        event_id=request_event_id(doc["_id"]), correlation_id=doc["correlation_id"], data=request
    )


async def publish_request(publisher: Publisher, doc: Document) -> None:
    await publisher.publish(request_event(doc))


WAIT_TIERS_MS = (3_600_000, 600_000, 60_000, 10_000, 1_000, 100)


async def schedule_wait_end(
    publisher: Publisher, deps: Deps, doc: Document, wait: float, kind: str = "wait"
) -> None:
    """A durable timer: the largest tier queue (fixed TTL, so FIFO order is expiry order) that does
    not overshoot; on expiry the handler re-schedules whatever remains until `wait_until` (or
    `receipt_until`: `kind` "receipt", a delivery waiting for its delivery receipt)."""
    remaining_ms = max(0.0, wait * 1000)
    tier = next((t for t in WAIT_TIERS_MS if t <= remaining_ms), WAIT_TIERS_MS[-1])
    event = DeliveryWaitExpired(
        event_id=uuid.uuid5(REQUEST_NAMESPACE, f"{kind}:{doc['_id']}:{int(remaining_ms)}"),
        correlation_id=doc["correlation_id"],
        data=DeliveryWaitExpiredData(delivery_id=doc["_id"]),
    )
    await publisher.send_to_queue(deps.wait_queues[tier], to_message(event))


ADDRESS_FIELD = {"email": "email", "phone": "phone", "psid": "psid", "postal": "postal_address"}


async def release_waiting(
    ctx: MessageContext[Deps], waiting: list[Document], channel: str, wrote_at: datetime, change: Document
) -> None:
    """Send deliveries that waited for the person (an address linked, a number confirmed): they
    just wrote to us on `channel` at `wrote_at`, which opens that platform's reply window."""
    deps = ctx.deps
    for doc in waiting:
        request = await opened_request(deps.vault, doc)
        opened = {**request.recipient.last_inbound_at, channel: wrote_at}
        recipient = request.recipient.model_copy(update={**change, "last_inbound_at": opened})
        request = request.model_copy(update={"recipient": recipient, "requested_at": utcnow()})
        request = await sealed(deps.vault, request)
        stored = request.model_dump(mode="json")
        entry = {"state": "pending", "attempt": 1, "reason": "address-linked", "at": utcnow()}
        changed = await deps.deliveries.update_one(
            {"_id": doc["_id"], "state": "waiting"},
            {
                "$set": {"state": "pending", "reason": None, "request": stored, "updated_at": utcnow()},
                "$push": {"history": entry},
            },
        )
        if changed.modified_count:
            await publish_request(ctx.publisher, {**doc, "request": stored})
            ctx.log.info("waiting delivery released", delivery_id=doc["_id"], channel=doc["channel"])


async def release_if_confirmed(ctx: MessageContext[Deps], doc: Document) -> None:
    """A delivery just made to wait for its number's confirmation: its owner may have written to
    us while it was being made, and that confirmation found nothing waiting yet. Confirming
    writes the confirmation, then reads what waits; waiting writes the delivery, then reads the
    confirmations (here): one of the two sees the other, and releasing twice sends once."""
    deps = ctx.deps
    if deps.confirmed_numbers is None or deps.awaiting_numbers is None:
        return
    phone = (await opened_request(deps.vault, doc)).recipient.phone
    confirmed = await deps.confirmed_numbers.find_one({"_id": numbers.number_key(phone)}) if phone else None
    if confirmed is None:
        return
    await release_waiting(ctx, [doc], confirmed["channel"], confirmed["at"], {"phone_confirmed": True})
    await deps.awaiting_numbers.delete_many({"_id": doc["_id"]})


async def end_receipt_wait(ctx: MessageContext[Deps], doc: Document) -> None:
    """A delivery's receipt wait ended: still unconfirmed, it falls back once, with the reason
    recorded; delivered (or failed, which fell back already) meanwhile, nothing happens."""
    deps = ctx.deps
    if not unconfirmed(doc["state"], doc.get("reason")):
        return
    remaining = (doc["receipt_until"] - utcnow()).total_seconds()
    if remaining > 0.05:
        await schedule_wait_end(ctx.publisher, deps, doc, remaining, "receipt")
        return
    if doc.get("reason") != NO_RECEIPT:
        entry = {"state": doc["state"], "attempt": doc["attempt"], "reason": NO_RECEIPT, "at": utcnow()}
        current = {k: doc.get(k) for k in ("_id", "state", "attempt", "reason")}
        changed = await deps.deliveries.update_one(
            current, {"$set": {"reason": NO_RECEIPT, "updated_at": utcnow()}, "$push": {"history": entry}}
        )
        if not changed.modified_count:  # a status moved it meanwhile (or a twin timer recorded it)
            again = await deps.deliveries.find_one({"_id": doc["_id"]})
            if (
                again is None
                or again.get("reason") != NO_RECEIPT
                or not unconfirmed(again["state"], NO_RECEIPT)
            ):
                return
    member = await deps.member(doc["member_id"]) or await contact_card(deps.vault, doc)
    if member is not None:
        await fall_back(ctx, {**doc, "reason": NO_RECEIPT}, member)
    ctx.log.info("no delivery receipt in time", delivery_id=doc["_id"], channel=doc["channel"])


async def release(ctx: MessageContext[Deps], doc: Document, why: str) -> None:
    """A waiting delivery goes out now."""
    entry = {"state": "pending", "attempt": 1, "reason": why, "at": utcnow()}
    changed = await ctx.deps.deliveries.update_one(
        {"_id": doc["_id"], "state": "waiting"},
        {"$set": {"state": "pending", "reason": None, "updated_at": utcnow()}, "$push": {"history": entry}},
    )
    if changed.modified_count:
        await publish_request(ctx.publisher, doc)
        ctx.log.info("waiting delivery released", delivery_id=doc["_id"], why=why)


async def await_receipt(ctx: MessageContext[Deps], doc: Document, status: DeliveryStatusData) -> None:
    """After `status` moved `doc`: start its receipt wait (`receipt_until`, recorded with the
    state), or fall back now from an unresolved outcome nothing will ever confirm."""
    deps = ctx.deps
    if (doc["state"], doc["attempt"]) != (status.state, status.attempt):
        return
    wait = receipt_wait(
        status.state, status.reason, deps.receipt_waits.get(status.channel), "fallback" in doc
    )
    if wait and doc.get("receipt_until"):
        remaining = (doc["receipt_until"] - utcnow()).total_seconds()
        await schedule_wait_end(ctx.publisher, deps, doc, remaining, "receipt")
    elif wait == 0:
        member = await deps.member(doc["member_id"]) or await contact_card(deps.vault, doc)
        if member is not None:
            await fall_back(ctx, doc, member)


async def fall_back(ctx: MessageContext[Deps], failed: Document, member: Document) -> None:
    """Decide once where a failed or skipped delivery goes next; repeat that decision on replays."""
    deps = ctx.deps
    decision = failed.get("fallback")
    if decision is None:
        tried = await deps.deliveries.find(
            {
                "purpose": failed["purpose"],
                "source_id": failed["source_id"],
                "member_id": failed["member_id"],
            },
            {"channel": 1},
            hint=BY_MEMBER,
        ).to_list(None)
        recipient = await numbers.checked(deps, recipient_of(member))
        channel = next_channel(
            member.get("channels") or [],
            [d["channel"] for d in tried],
            recipient,
            failed["purpose"],
            deps.channels,
            member.get("unsubscribed") or [],
        )
        proposal: Document = {"channel": channel, "at": utcnow()}
        if channel is None:
            proposal["reason"] = "no other eligible channel"
        await deps.deliveries.update_one(
            {"_id": failed["_id"], "fallback": {"$exists": False}}, {"$set": {"fallback": proposal}}
        )
        stored = await deps.deliveries.find_one({"_id": failed["_id"]}, {"fallback": 1})
        decision = (stored or {}).get("fallback") or proposal
    channel = decision.get("channel")
    if channel is None:
        ctx.log.warning("no fallback channel left", delivery_id=failed["_id"], reason=failed.get("reason"))
        return
    try:
        request = await opened_request(deps.vault, failed)
    except PersonalDataUnreadable:
        ctx.log.warning("no fallback: the member's data was erased", delivery_id=failed["_id"])
        return
    base = {
        "purpose": failed["purpose"],
        "source_id": failed["source_id"],
        "correlation_id": failed["correlation_id"],
        "priority": request.priority,
        "recipient": await numbers.checked(deps, recipient_of(member)),
        "certificate": request.certificate,
        "alert": request.alert,
        "notice": request.notice,
        "reminder": request.reminder,
        "unsubscribe_url": request.unsubscribe_url,
        "preferences_url": request.preferences_url,
        "extra": {
            k: failed[k]
            for k in ("action_token_hash", "alert_id", "contact_card", "session_id")
            if k in failed
        },
    }
    doc = await create_delivery(deps, base, channel, None, failed["_id"])
    if doc["state"] == "pending":
        await publish_request(ctx.publisher, doc)
    ctx.log.info("fell back", delivery_id=failed["_id"], to_channel=channel, to_delivery=doc["_id"])


def receipt_waits(channels: Mapping[str, ChannelSpec]) -> dict[str, float]:
    """Each channel with delivery receipts: how long to wait for one, its setting if set
    (`<NAME>_RECEIPT_WAIT_SECONDS`), else its declaration; a channel without receipts, or set to
    0, is left out (it never falls back for one)."""
    waits = {}
    for name, declared in channels.items():
        wait = declared.configured("receipt_wait_seconds")
        if wait:
            waits[name] = wait
    return waits


def address_waits(channels: Mapping[str, ChannelSpec]) -> dict[str, float]:
    """Each channel's wait for an opt-in address: its setting if set
    (`<NAME>_ADDRESS_WAIT_SECONDS`), else its declaration."""
    return {name: declared.configured("address_wait_seconds") or 0.0 for name, declared in channels.items()}


BY_CORRELATION = [("correlation_id", ASCENDING)]  # a pledge's or an alert's deliveries


BY_MEMBER = [("member_id", ASCENDING), ("purpose", ASCENDING), ("source_id", ASCENDING)]  # a member's


DELIVERY_INDEXES = (
    BY_CORRELATION,
    BY_MEMBER,
    [("state", ASCENDING), ("updated_at", DESCENDING)],  # the operators' list
)
# Lookups name their index (`hint`): a planner may otherwise pick (state, updated_at) for a
# query that filters on state and read every delivery in that state.
# Each index costs every delivery write (on the local Mongo-wire server an index adds ~35 us of
# server time per inserted document; a fan-out writes 100,000): these were folded into the above
# (action links find their delivery by `_id`, see shared.contracts.alert.action_token).
RETIRED_DELIVERY_INDEXES = (
    "purpose_1_source_id_1_member_id_1",
    "member_id_1_purpose_1_created_at_-1",
    "action_token_1",
)


async def ensure_delivery_indexes(deliveries: Any, retention: RetentionSettings | None = None) -> None:
    existing = set(await deliveries.index_information())
    for name in RETIRED_DELIVERY_INDEXES:
        if name in existing:
            await deliveries.drop_index(name)
    for keys in DELIVERY_INDEXES:
        await deliveries.create_index(keys)
    days = (retention or RetentionSettings()).delivery_days  # `sent` with no receipt stays `sent`
    await declare_retention(deliveries, RetentionRule.after_final_state(days, FINAL | {"sent"}))
