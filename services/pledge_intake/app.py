"""pledge-intake: records pledges, their members and consents.

Consumes `pledge.submitted.v1`, `certificate.reissue_requested.v1` (a corrected name) and
`consent.withdrawn.v1` (unsubscribe: recorded in `consents`, `members.unsubscribed`),
`inbound.message.v1` (chat replies: STOP withdraws; all kept in `inbound_messages`; the member's
`last_inbound.<channel>` time) and `contact.linked.v1` (e.g. a Messenger PSID); publishes `pledge.recorded.v1` or `pledge.rejected.v1`.
Owns the collections `members`, `member_keys`, `signatures`, `pledges` and `consents`.
`pledges` is also a documented read model (docs/read-models.md) that intake reads for status.

Everything is keyed so that redelivery and double submission create nothing twice:
- a pledge is stored under its pledge id (intake derives it from the Idempotency-Key or table row);
- a member is found through `member_keys` (`email:...`, `phone:...`), created with an id derived
  from the first pledge that introduced it;
- `signatures` holds one document per member: the first recorded pledge. A later pledge by the
  same person is stored as `duplicate_of` that one and gets no second certificate;
- outcome events have ids derived from the pledge id, so a republished outcome is the same event.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, DESCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from services.intake.validation import business_rule_errors
from services.pledge_intake import subscriptions
from shared.contracts import utcnow
from shared.contracts.certificate import ReissueRequested
from shared.contracts.inbound import ContactLinked, InboundMessage
from shared.contracts.member import (
    ConsentWithdrawn,
    NoticeRequested,
    PreferencesChanged,
    SubscriptionConfirmed,
    SubscriptionRequested,
)
from shared.contracts.pledge import (
    PledgeRecorded,
    PledgeRecordedData,
    PledgeRejected,
    PledgeRejectedData,
    PledgeSubmitted,
    PledgeSubmittedData,
)
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError, RetryableError
from shared.service import Resources, Router
from shared.storage import Document, durable, insert_once

router = Router("pledge-intake", description="Records pledges, members and consents.")
router.publishing(PledgeRecorded, PledgeRejected, NoticeRequested)

OUTCOME_NAMESPACE = uuid.UUID("6f1d3a4e-3c1b-4b7e-9a56-5a9f3c2d8e11")
REJECTION_DETAIL = {
    "post-not-available-in-country": "Certificates cannot be posted to addresses in Cambodia.",
    "invalid-submission": "The submission was not valid.",
}


@dataclass(frozen=True)
class Store:
    members: AsyncCollection[Document]
    member_keys: AsyncCollection[Document]
    signatures: AsyncCollection[Document]
    pledges: AsyncCollection[Document]
    consents: AsyncCollection[Document]
    inbound: AsyncCollection[Document]
    subscriptions: AsyncCollection[Document]

    @classmethod
    def of(cls, db: AsyncDatabase[Document]) -> Store:
        return cls(
            members=durable(db.members),
            member_keys=durable(db.member_keys),
            signatures=durable(db.signatures),
            pledges=durable(db.pledges),
            consents=durable(db.consents),
            inbound=durable(db.inbound_messages),
            subscriptions=durable(db.subscriptions),
        )

    async def ensure_indexes(self) -> None:
        await self.pledges.create_index([("member_id", ASCENDING)])
        await self.consents.create_index([("member_id", ASCENDING), ("at", ASCENDING)])
        await self.members.create_index([("unsubscribe_token", ASCENDING)], unique=True, sparse=True)
        await self.subscriptions.create_index([("confirm_token", ASCENDING)], unique=True)
        await self.inbound.create_index([("received_at", DESCENDING)])  # operators' list of replies


def outcome_event_id(pledge_id: str, outcome: str) -> uuid.UUID:
    return uuid.uuid5(OUTCOME_NAMESPACE, f"{pledge_id}:{outcome}")


def member_keys_of(data: PledgeSubmittedData) -> list[str]:
    keys = []
    if data.contact.email:
        keys.append(f"email:{data.contact.email.casefold()}")
    if data.contact.phone:
        keys.append(f"phone:{data.contact.phone}")
    return keys


async def resolve_member(store: Store, data: PledgeSubmittedData) -> str:
    """Claim each contact key for a member; a key someone already holds decides the member.

    New people (the common case) cost one insert per key and no reads.
    """
    candidate = f"mb_{uuid.uuid5(OUTCOME_NAMESPACE, 'member:' + data.pledge_id).hex}"
    member_id = candidate
    claimed: list[str] = []
    for key in member_keys_of(data):
        if await insert_once(store.member_keys, {"_id": key, "member_id": member_id, "at": utcnow()}):
            claimed.append(key)
            continue
        owner = await store.member_keys.find_one({"_id": key})
        if owner is not None and owner["member_id"] != member_id:
            member_id = str(owner["member_id"])
    if member_id != candidate and claimed:
        await store.member_keys.update_many(
            {"_id": {"$in": claimed}, "member_id": candidate}, {"$set": {"member_id": member_id}}
        )
    return member_id


async def save_member(store: Store, member_id: str, data: PledgeSubmittedData) -> None:
    now = utcnow()
    contact = data.contact
    add: dict[str, Any] = {}
    if contact.email:
        add["emails"] = contact.email
    if contact.phone:
        add["phones"] = contact.phone
    update: dict[str, Any] = {
        "$setOnInsert": {"created_at": now, "unsubscribe_token": secrets.token_urlsafe(24)},
        "$set": {
            "name": data.name,
            "country": data.country,
            "language": data.certificate_language,
            "interface_language": data.interface_language,
            "channels": list(data.channels),
            "alerts_opt_in": data.alerts_opt_in,
            "sessions_opt_in": data.sessions_opt_in,
            "updated_at": now,
        },
    }
    if contact.email:
        update["$set"]["email"] = contact.email
    if contact.phone:
        update["$set"]["phone"] = contact.phone
    if contact.postal_address is not None:
        update["$set"]["postal_address"] = contact.postal_address.model_dump()
    if add:
        update["$addToSet"] = add
    await store.members.update_one({"_id": member_id}, update, upsert=True)


async def record_consents(store: Store, member_id: str, data: PledgeSubmittedData) -> None:
    granted = {"pledge": True, "alerts": data.alerts_opt_in, "sessions": data.sessions_opt_in}
    documents = [
        {
            "_id": f"{data.pledge_id}:{kind}",
            "member_id": member_id,
            "kind": kind,
            "granted": value,
            "text_version": data.consent.text_version,
            "locale": data.consent.locale,
            "source": data.source,
            "at": data.consent.accepted_at,
            "pledge_id": data.pledge_id,
        }
        for kind, value in granted.items()
    ]
    try:
        await store.consents.insert_many(documents, ordered=False)
    except BulkWriteError as error:  # redelivery: the ones already there are duplicates, nothing else
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise


async def publish_outcome(ctx: MessageContext[Store], event: PledgeSubmitted, pledge: Document) -> None:
    data = event.data
    if pledge["state"] == "rejected":
        await ctx.publish(
            PledgeRejected(
                event_id=outcome_event_id(data.pledge_id, "rejected"),
                correlation_id=data.pledge_id,
                causation_id=event.event_id,
                data=PledgeRejectedData(
                    pledge_id=data.pledge_id, reason=pledge["reason"], detail=pledge["detail"]
                ),
            )
        )
    elif not pledge.get("duplicate_of"):
        await ctx.publish(
            PledgeRecorded(
                event_id=outcome_event_id(data.pledge_id, "recorded"),
                correlation_id=data.pledge_id,
                causation_id=event.event_id,
                data=PledgeRecordedData(
                    pledge_id=data.pledge_id,
                    member_id=pledge["member_id"],
                    recorded_at=pledge["recorded_at"],
                    name=data.name,
                    show_name_publicly=data.show_name_publicly,
                    country=data.country,
                    certificate_language=data.certificate_language,
                    channels=list(data.channels),
                    source=data.source,
                ),
            )
        )


@router.handles(ReissueRequested)
async def on_reissue_requested(event: ReissueRequested, ctx: MessageContext[Store]) -> None:
    """An operator corrected a name on a certificate: correct the member too, keeping the history."""
    store, data = ctx.deps, event.data
    pledge = await store.pledges.find_one({"_id": data.pledge_id}, {"member_id": 1})
    if pledge is None or "member_id" not in pledge:
        raise PermanentError(f"no recorded pledge {data.pledge_id}", reason="unknown-pledge")
    change = {
        "event_id": str(event.event_id),
        "name": data.corrected_name,
        "reason": data.reason,
        "certificate_number": data.certificate_number,
        "at": data.requested_at,
    }
    await store.members.update_one(
        {"_id": pledge["member_id"], "name_history.event_id": {"$ne": str(event.event_id)}},
        {"$set": {"name": data.corrected_name, "updated_at": utcnow()}, "$push": {"name_history": change}},
    )
    ctx.log.info("member record corrected", member_id=pledge["member_id"])


async def withdraw(store: Store, key: str, member_id: str, scope: str, source: str, at: datetime) -> None:
    """Record a withdrawal in the consent history (once per `key`) and stop the member's messages."""
    await insert_once(
        store.consents,
        {
            "_id": f"withdrawal:{key}",
            "member_id": member_id,
            "kind": scope,
            "granted": False,
            "source": source,
            "at": at,
        },
    )
    await store.members.update_one(
        {"_id": member_id}, {"$addToSet": {"unsubscribed": scope}, "$set": {"updated_at": utcnow()}}
    )


@router.handles(ConsentWithdrawn)
async def on_consent_withdrawn(event: ConsentWithdrawn, ctx: MessageContext[Store]) -> None:
    """Record the withdrawal in the consent history and stop the member's messages (scope)."""
    data = event.data
    await withdraw(ctx.deps, str(event.event_id), data.member_id, data.scope, data.source, data.at)
    ctx.log.info("consent withdrawn", member_id=data.member_id, scope=data.scope, source=data.source)


STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "ឈប់", "បញ្ឈប់", "ឈប់ផ្ញើ", "ឈប់ទទួល"}
)


def is_stop(text: str) -> bool:
    """STOP (and the usual synonyms) or its Khmer equivalents, alone in the message."""
    words = "".join(
        ch for ch in text.casefold() if ch.isalnum() or ch.isspace() or "\u1780" <= ch <= "\u17ff"
    )
    return " ".join(words.split()) in STOP_WORDS


@router.handles(InboundMessage)
async def on_inbound_message(event: InboundMessage, ctx: MessageContext[Store]) -> None:
    """A reply on a chat channel: STOP withdraws everything; all replies are kept for operators."""
    store, data = ctx.deps, event.data
    owner = await store.member_keys.find_one({"_id": f"{data.sender_kind}:{data.sender}"})
    member_id = str(owner["member_id"]) if owner else None
    stop = is_stop(data.text)
    await insert_once(
        store.inbound,
        {
            "_id": str(event.event_id),
            "member_id": member_id,
            "channel": data.channel,
            "sender_kind": data.sender_kind,
            "sender": data.sender,
            "text": data.text,
            "stop": stop,
            "received_at": data.received_at,
        },
    )
    if member_id is None:
        ctx.log.info("reply from an unknown sender kept", channel=data.channel)
        return
    await store.members.update_one(
        {"_id": member_id}, {"$max": {f"last_inbound.{data.channel}": data.received_at}}
    )
    if stop:
        await withdraw(store, str(event.event_id), member_id, "all", "chat-reply", data.received_at)
    ctx.log.info("reply recorded", member_id=member_id, channel=data.channel, stop=stop)


@router.handles(ContactLinked)
async def on_contact_linked(event: ContactLinked, ctx: MessageContext[Store]) -> None:
    """A channel address (e.g. a Messenger PSID) linked through a pledge's signed reference."""
    store, data = ctx.deps, event.data
    pledge = await store.pledges.find_one({"_id": data.pledge_id}, {"member_id": 1})
    if pledge is None or "member_id" not in pledge:
        raise RetryableError("pledge not recorded yet", reason="pledge-unknown")
    member_id = pledge["member_id"]
    await insert_once(
        store.member_keys,
        {"_id": f"{data.address_kind}:{data.address}", "member_id": member_id, "at": data.linked_at},
    )
    await store.members.update_one(
        {"_id": member_id},
        {
            "$set": {data.address_kind: data.address, "updated_at": utcnow()},
            "$max": {f"last_inbound.{data.channel}": data.linked_at},
        },
    )
    ctx.log.info("contact linked", member_id=member_id, channel=data.channel)


@router.handles(PledgeSubmitted)
async def on_pledge_submitted(event: PledgeSubmitted, ctx: MessageContext[Store]) -> None:
    store, data = ctx.deps, event.data
    pledge = await store.pledges.find_one({"_id": data.pledge_id})
    if pledge is None:
        pledge = await record(store, data)
    if pledge["state"] == "recorded" and data.alerts_opt_in and data.contact.email:
        member = await store.members.find_one({"_id": pledge["member_id"]}, {"email_confirmed": 1})
        if (member or {}).get("email_confirmed") != data.contact.email:  # double opt-in for email
            await subscriptions.request_subscription(
                ctx, subscriptions.pledge_subscription(data), event.event_id
            )
    await publish_outcome(ctx, event, pledge)
    ctx.log.info(
        "pledge handled",
        pledge_id=data.pledge_id,
        state=pledge["state"],
        duplicate=bool(pledge.get("duplicate_of")),
    )


async def record(store: Store, data: PledgeSubmittedData) -> Document:
    base = {
        "_id": data.pledge_id,
        "source": data.source,
        "submitted_at": data.submitted_at,
        "country": data.country,
    }
    problems = business_rule_errors(data.country, list(data.channels))
    if problems:
        pledge = {
            **base,
            "state": "rejected",
            "reason": problems[0],
            "detail": REJECTION_DETAIL[problems[0]],
            "rejected_at": utcnow(),
        }
    else:
        member_id = await resolve_member(store, data)
        await save_member(store, member_id, data)
        await record_consents(store, member_id, data)
        duplicate_of = None
        if not await insert_once(
            store.signatures, {"_id": member_id, "pledge_id": data.pledge_id, "at": utcnow()}
        ):
            first = await store.signatures.find_one({"_id": member_id})
            duplicate_of = first["pledge_id"] if first and first["pledge_id"] != data.pledge_id else None
        pledge = {
            **base,
            "state": "recorded",
            "member_id": member_id,
            "recorded_at": utcnow(),
            "channels": list(data.channels),
            "certificate_language": data.certificate_language,
        }
        if duplicate_of:
            pledge["duplicate_of"] = duplicate_of
        if data.table is not None:
            pledge["table"] = data.table.model_dump()
    if not await insert_once(store.pledges, pledge):
        existing = await store.pledges.find_one({"_id": data.pledge_id})
        assert existing is not None
        return existing
    return pledge


router.handles(SubscriptionRequested)(subscriptions.on_subscription_requested)
router.handles(SubscriptionConfirmed)(subscriptions.on_subscription_confirmed)
router.handles(PreferencesChanged)(subscriptions.on_preferences_changed)


async def bootstrap(resources: Resources) -> Store:
    assert resources.db is not None
    store = Store.of(resources.db)
    await store.ensure_indexes()
    return store
