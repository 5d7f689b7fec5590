"""Urgent Action alerts in the dispatcher: fan-out, updates to the original recipients, and
"I took action" reports (by link or by a DONE reply).

- `alert.published.v1` (kind `alert`): the alert is kept in `alerts` (the public page reads it);
  every member who opted in to alerts, has not unsubscribed and follows one of its topics (no
  topics chosen = all) gets ONE delivery, on the first channel of their preferences that can
  carry an alert to them (as the channels declare). Delivery ids are deterministic (alert x
  sequence x member x channel) and each carries a random per-member action token, so a fan-out that is
  redelivered after a crash resumes: existing deliveries are found, not recreated, and the
  channels' send logs make sure nobody gets a second copy.
- kind `update` / `extension` / `closure`: to exactly the members who received the original (any delivery of
  it that was not skipped or failed), on the channel that reached them.
- quiet hours: a member's `quiet_hours` ({"start": "21:00", "end": "07:00"}, in their
  `time_zone`) hold a non-urgent alert as a `waiting` delivery (reason `quiet-hours`) until they
  end; the urgent-override policy: an alert published as `urgent` goes out at once, day or night.
- `alert.test_requested.v1`: an operator's test before publishing, ONE delivery of purpose
  `alert_test` to the operator's own address on the channel they chose (the channel sends it as
  an alert; the alert's totals and the public pages never count it).
- `action.reported.v1` and DONE replies (`inbound.message.v1`): one `action_reports` document
  per alert and member, whatever the number of clicks or replies.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo.errors import DuplicateKeyError

from services.dispatcher import discreet, numbers
from services.dispatcher.deliveries import (
    BY_CORRELATION,
    BY_MEMBER,
    build_delivery,
    create_deliveries,
    discreet_base,
    preferences_url,
    publish_request,
    recipient_of,
    release_waiting,
    request_event,
    schedule_wait_end,
    unsubscribe_url,
)
from services.dispatcher.personal import open_member, open_members, sealed_delivery
from services.dispatcher.read_models import MEMBER_KEYS, MEMBERS
from services.dispatcher.routing import delivery_id
from shared.channels.texts import alert_ref as member_alert
from shared.contracts import utcnow
from shared.contracts.alert import (
    ALERT_TEST,
    ActionReported,
    AlertPublished,
    AlertPublishedData,
    AlertTestRequested,
    action_token,
    action_token_hash,
    alert_channel,
    can_carry_alert,
    follows_topics,
    held_until,
    quiet_hours_end,
)
from shared.contracts.delivery import AlertRef, DeliveryRequestedData, Recipient
from shared.contracts.inbound import InboundMessage
from shared.messaging.consumer import MessageContext
from shared.personal_data import Vault, contact_key
from shared.storage import Document, insert_once

ALERT_PRIORITY = 7
UNKNOWN_COUNTRY = "ZZ"  # an operator's test: no member record says where they are
URGENT_PRIORITY = 9
REACHED = ("pending", "retrying", "unknown", "sent", "delivered")
DONE_WORDS = frozenset({"done", "i took action", "took action", "រួចរាល់", "ធ្វើរួច", "បានធ្វើ"})


def source_id(data: AlertPublishedData) -> str:
    return f"{data.alert_id}#{data.sequence}"


def alert_ref(data: AlertPublishedData, member: Document, action_url: str) -> AlertRef:
    """The alert as `member` receives it (shared/channels/texts.py `alert_ref`: the console's
    preview builds it the same way)."""
    return member_alert(data, member.get("language", "en"), str(member.get("name", "")), action_url)


def quiet_until(member: Document, now: datetime) -> datetime | None:
    """When the member's quiet hours end, if `now` falls inside them (None otherwise)."""
    return quiet_hours_end(member.get("quiet_hours"), member.get("time_zone"), now)


def follows(member: Document, topics: list[str]) -> bool:
    return follows_topics(member.get("topics"), topics)


async def keep_alert(deps: Any, data: AlertPublishedData) -> None:
    """The public page reads `alerts`: the latest version of each alert, with its history."""
    version = data.model_dump(mode="json")
    await insert_once(deps.alert_versions, {"_id": source_id(data), **version})
    # an older version redelivered after a newer one: keep the newer
    with contextlib.suppress(DuplicateKeyError):
        await deps.alerts.update_one(
            {"_id": data.alert_id, "sequence": {"$not": {"$gt": data.sequence}}},
            {
                "$set": {
                    **version,
                    "state": "closed" if data.kind == "closure" else "published",
                    "updated_at": utcnow(),
                },
                "$setOnInsert": {"first_published_at": data.published_at},
            },
            upsert=True,
        )


FANOUT_BATCH = 500
FANOUT_IN_FLIGHT = 3


async def on_alert_published(event: AlertPublished, ctx: MessageContext[Any]) -> None:
    deps, data = ctx.deps, event.data
    await keep_alert(deps, data)
    if data.kind == "alert":
        opted_in = MEMBERS.find(deps.db, {"alerts_opt_in": True, "unsubscribed": {"$ne": "all"}})
        topics: list[str] = list(data.topics)
        # topics are plain: members who follow none of them are left out before opening
        following = (member async for member in opted_in if follows_topics(member.topics, topics))
        members = open_members(deps.vault, following, FANOUT_BATCH)
        targets = ((member, None) async for member in members)
    else:
        targets = original_recipients(deps, data)
    in_flight: list[asyncio.Task[int]] = []  # reading the next members overlaps writing the last
    created = 0
    chunk: list[tuple[Document, str | None]] = []

    async def planned(chunk: list[tuple[Document, str | None]]) -> list[Planned]:
        confirmed = await numbers.confirmed_keys(deps, phones_of(m for m, _ in chunk))
        plans = (plan_member(deps, data, member, channel, confirmed) for member, channel in chunk)
        return [plan for plan in plans if plan is not None]

    async for target in targets:
        chunk.append(target)
        if len(chunk) >= FANOUT_BATCH:
            in_flight.append(asyncio.create_task(hand_over(ctx, await planned(chunk))))
            chunk = []
            if len(in_flight) >= FANOUT_IN_FLIGHT:
                created += await in_flight.pop(0)
    in_flight.append(asyncio.create_task(hand_over(ctx, await planned(chunk))))
    for task in in_flight:
        created += await task
    ctx.log.info("alert fanned out", alert_id=data.alert_id, kind=data.kind, deliveries=created)


Planned = tuple[Document, float, DeliveryRequestedData, Document | None]
"""A member's delivery document, how long quiet hours hold it, its request, and the details
document a discreet member's delivery links to (written first)."""


def phones_of(members: Iterable[Document]) -> list[str]:
    """Every number a member may be messaged at (recipient_of picks the latest)."""
    found: list[str] = []
    for member in members:
        found += [p for p in [member.get("phone"), *(member.get("phones") or [])] if p]
    return found


def plan_member(
    deps: Any, data: AlertPublishedData, member: Document, channel: str | None, confirmed: set[str]
) -> Planned | None:
    """This member's delivery for the alert (see `Planned`), or None; `confirmed`: the keys of
    the numbers their owners confirmed (numbers.py), of this member's at least."""

    if data.kind == "alert" and not follows(member, list(data.topics)):
        return None
    recipient = numbers.marked(recipient_of(member), confirmed)
    unsubscribed = member.get("unsubscribed") or []
    email = member.get("email_confirmed")  # double opt-in: by email only to a confirmed address
    if channel is None:
        channel = alert_channel(member.get("channels") or [], recipient, deps.channels, unsubscribed, email)
    if channel is None or not can_carry_alert(channel, recipient, deps.channels, unsubscribed, email):
        return None
    hold_until = held_until(data.urgent, member.get("quiet_hours"), member.get("time_zone"), utcnow())
    wait = max(0.0, (hold_until - utcnow()).total_seconds()) if hold_until else 0.0
    token = action_token(delivery_id("alert", source_id(data), recipient.member_id, channel))
    base_url = deps.public_base_url.rstrip("/")
    base = {
        "purpose": "alert",
        "source_id": source_id(data),
        "correlation_id": data.alert_id,
        "priority": URGENT_PRIORITY if data.urgent else ALERT_PRIORITY,
        "recipient": recipient,
        "alert": alert_ref(data, member, f"{base_url}/a/done/{token}"),
        "unsubscribe_url": unsubscribe_url(deps, member),
        "preferences_url": preferences_url(deps, member),
        "extra": {"action_token_hash": action_token_hash(token), "alert_id": data.alert_id},
        "wait_reason": "quiet-hours",
    }
    base, detail = discreet_base(deps, base)
    doc, request = build_delivery(deps, base, channel, None, None, wait)
    return doc, wait, request, detail


async def hand_over(ctx: MessageContext[Any], planned: list[Planned]) -> int:
    """Write a batch of deliveries (existing ones are found, not recreated), then publish the
    requests of those still pending, with confirms in flight together. Discreet members' details
    are written first (discreet.py)."""

    details = [detail for *_, detail in planned if detail is not None]
    if details and ctx.deps.details is not None:
        await discreet.store(ctx.deps.details, ctx.deps.vault, details)
    batch = await sealed_batch(ctx.deps.vault, [(doc, wait, request) for doc, wait, request, _ in planned])
    built = [doc for doc, _, _ in batch]
    docs = await create_deliveries(ctx.deps, built)
    waits = {doc["_id"]: wait for doc, wait, _ in batch}
    # ours (not found already there after a crash): publish the request we built, unparsed
    ours = {id(doc): request for doc, _, request in batch}
    await ctx.publisher.publish_many(
        [request_event(doc, ours.get(id(doc))) for doc in docs if doc["state"] == "pending"]
    )
    for doc in docs:
        if doc["state"] == "waiting" and doc.get("reason") == "quiet-hours":
            remaining = (
                (doc["wait_until"] - utcnow()).total_seconds() if doc.get("wait_until") else waits[doc["_id"]]
            )
            await schedule_wait_end(ctx.publisher, ctx.deps, doc, max(0.0, remaining))
    return len(docs)


async def sealed_batch(
    vault: Vault | None, batch: list[tuple[Document, float, DeliveryRequestedData]]
) -> list[tuple[Document, float, DeliveryRequestedData]]:
    """The batch with each delivery's personal data encrypted for its member (keys loaded at once)."""
    if vault is None:
        return batch
    await vault.keys_for(request.recipient.member_id for _, _, request in batch)
    out = []
    for doc, wait, request in batch:
        doc, request = await sealed_delivery(vault, doc, request)
        out.append((doc, wait, request))
    return out


async def original_recipients(deps: Any, data: AlertPublishedData) -> Any:
    """Members who received the original alert, with the channel that reached them."""

    reached = deps.deliveries.find(
        {
            "correlation_id": data.alert_id,  # indexed; the alert's deliveries of every sequence
            "purpose": "alert",
            "source_id": f"{data.alert_id}#0",
            "state": {"$in": list(REACHED)},
        },
        {"member_id": 1, "channel": 1},
        hint=BY_CORRELATION,
    )
    seen: set[str] = set()
    async for delivery in reached:
        if delivery["member_id"] in seen:
            continue
        seen.add(delivery["member_id"])
        member = await open_member(
            deps.vault, await MEMBERS.find_one(deps.db, {"_id": delivery["member_id"]})
        )
        if member is not None and "all" not in (member.get("unsubscribed") or []):
            yield member, delivery["channel"]


async def record_action(
    deps: Any, alert_id: str, member_id: str, source: str, at: Any, officials: list[int] | None = None
) -> bool:
    """One report per member and alert; and one per member and official they say they wrote to
    (a later report can add officials, never count one twice)."""
    for index in officials or []:
        await insert_once(
            deps.official_actions,
            {"_id": f"{alert_id}:{member_id}:{index}", "alert_id": alert_id, "official": index, "at": at},
        )
    return await insert_once(
        deps.action_reports,
        {
            "_id": f"{alert_id}:{member_id}",
            "alert_id": alert_id,
            "member_id": member_id,
            "source": source,
            "at": at,
        },
    )


async def on_action_reported(event: ActionReported, ctx: MessageContext[Any]) -> None:
    data = event.data
    alert = await ctx.deps.alerts.find_one({"_id": data.alert_id}, {"officials": 1})
    known = range(len((alert or {}).get("officials") or []))
    officials = sorted({i for i in data.officials if i in known})  # positions that exist, once each
    counted = await record_action(
        ctx.deps, data.alert_id, data.member_id, data.source, data.reported_at, officials
    )
    ctx.log.info("action reported", alert_id=data.alert_id, counted=counted, source=data.source)


def is_done(text: str) -> bool:
    words = "".join(
        ch for ch in text.casefold() if ch.isalnum() or ch.isspace() or "\u1780" <= ch <= "\u17ff"
    )
    return " ".join(words.split()) in DONE_WORDS


async def on_inbound_message(event: InboundMessage, ctx: MessageContext[Any]) -> None:
    """A DONE reply counts as taking action on the member's latest alert."""

    deps, data = ctx.deps, event.data
    if data.sender_kind == "phone" and deps.confirmed_numbers is not None:
        await confirm_number(ctx, data)
    if not is_done(data.text):
        return
    owner = await MEMBER_KEYS.find_one(deps.db, {"_id": contact_key(data.sender_kind, data.sender)})
    if owner is None:
        return
    latest = (
        await deps.deliveries.find(
            {"purpose": "alert", "member_id": owner.member_id, "state": {"$in": list(REACHED)}},
            {"alert_id": 1, "created_at": 1},
            hint=BY_MEMBER,
        )
        .sort("created_at", -1)
        .limit(1)
        .to_list(1)
    )
    if latest and latest[0].get("alert_id"):
        counted = await record_action(
            deps, latest[0]["alert_id"], owner.member_id, "chat-reply", data.received_at
        )
        ctx.log.info("action reported by reply", alert_id=latest[0]["alert_id"], counted=counted)


async def confirm_number(ctx: MessageContext[Any], data: Any) -> None:
    """The owner of a number wrote to us from it: it is confirmed (numbers.py), and what waited
    for that goes now."""

    deps = ctx.deps
    ids = await numbers.confirm(deps, data.sender, data.channel, data.received_at)
    if not ids:
        return
    waiting = await deps.deliveries.find({"_id": {"$in": ids}, "state": "waiting"}).to_list(None)
    await release_waiting(ctx, waiting, data.channel, data.received_at, {"phone_confirmed": True})
    await deps.awaiting_numbers.delete_many({"_id": {"$in": ids}})
    ctx.log.info("number confirmed", channel=data.channel, released=len(waiting))


async def on_alert_test_requested(event: AlertTestRequested, ctx: MessageContext[Any]) -> None:
    """An operator's test: ONE delivery (purpose `alert_test`, so never in the alert's totals) on
    the channel they chose, to their own address, built as a member's delivery of the alert is
    (urgent priority: they are waiting for it). The channel receives an ordinary alert request.
    No fallback: they asked for that channel."""

    deps, data = ctx.deps, event.data
    recipient = Recipient(
        member_id=data.operator_id,
        name=data.name,
        language=data.language,
        country=UNKNOWN_COUNTRY,
        email=data.email,
        phone=data.phone,
        phone_confirmed=True,  # the operator's own number, which they gave to their account
    )
    declared = deps.channels.get(data.channel)
    refused = "channel-not-installed" if declared is None else declared.ineligibility(recipient, "alert")
    if refused is not None:
        ctx.log.warning("alert test not sendable", test_id=data.test_id, channel=data.channel, reason=refused)
        return
    base = {
        "purpose": "alert",  # what the channel renders: an alert, exactly as members get it
        "source_id": f"{source_id(data.alert)}:{data.test_id}",
        "correlation_id": data.alert.alert_id,
        "priority": URGENT_PRIORITY,
        "recipient": recipient,
        "alert": member_alert(data.alert, data.language, data.name, data.alert.public_url),
        "extra": {"alert_id": data.alert.alert_id, "test_id": data.test_id},
    }
    doc, request = build_delivery(deps, base, data.channel, None, None)
    doc["purpose"] = ALERT_TEST  # counted apart from the alert's deliveries
    doc, _ = await sealed_delivery(deps.vault, doc, request)
    if await insert_once(deps.deliveries, doc):
        await publish_request(ctx.publisher, doc)
    ctx.log.info(
        "alert test requested", test_id=data.test_id, alert_id=data.alert.alert_id, channel=data.channel
    )
