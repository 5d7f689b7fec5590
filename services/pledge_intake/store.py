"""pledge-intake's collections, and the member operations every handler shares.

A member is found through `member_keys`: one document per contact (email, phone, PSID), naming
the member that holds it, under the contact's keyed blind index (`bx:email:<hex>`,
shared/personal_data.py `contact_key`), never the contact itself. A key is claimed by inserting
it (unique `_id`), so two submissions racing for one new contact cannot both get it. A key someone already holds is never
moved to another member without that member's confirmation (see `changes`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError

from shared.contracts import utcnow
from shared.contracts.pledge import Contact, PledgeSubmittedData
from shared.personal_data import (
    CONTACT_KINDS,
    KEY_VAULT,
    BlindIndex,
    configured_contact_index,
    contact_key,
)
from shared.retention import RetentionRule, RetentionSettings, declare_retention
from shared.storage import Document, durable, insert_once


@dataclass(frozen=True)
class Store:
    members: AsyncCollection[Document]
    member_keys: AsyncCollection[Document]
    signatures: AsyncCollection[Document]
    pledges: AsyncCollection[Document]
    consents: AsyncCollection[Document]
    inbound: AsyncCollection[Document]
    subscriptions: AsyncCollection[Document]
    pending_changes: AsyncCollection[Document]
    erasures: AsyncCollection[Document]
    key_vault: AsyncCollection[Document]

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
            pending_changes=durable(db.pending_changes),
            erasures=durable(db.erasures),
            key_vault=durable(db[KEY_VAULT]),  # only to forget a member's data key (erasure.py)
        )

    async def ensure_indexes(self) -> None:
        await blind_plain_keys(self, configured_contact_index())
        await self.pledges.create_index([("member_id", ASCENDING)])
        await self.consents.create_index([("member_id", ASCENDING), ("at", ASCENDING)])
        await self.members.create_index([("unsubscribe_token", ASCENDING)], unique=True, sparse=True)
        await self.subscriptions.create_index([("confirm_token", ASCENDING)], unique=True)
        await self.pending_changes.create_index([("token", ASCENDING)], unique=True)
        await self.pending_changes.create_index([("holder_id", ASCENDING)])
        await self.members.create_index([("merged_into", ASCENDING)], sparse=True)
        await self.inbound.create_index([("member_id", ASCENDING)])
        await self.subscriptions.create_index([("member_id", ASCENDING)], sparse=True)
        # Kept only as long as needed (docs/operations.md, Retention): unconfirmed subscriptions
        # and changes expire, chat replies go after their period; the TTL index on
        # `received_at` also serves the operators' list of replies, newest first.
        retention = RetentionSettings()
        unconfirmed = retention.pending_subscription_days
        await declare_retention(
            self.subscriptions, RetentionRule.after("created_at", unconfirmed, {"state": "pending"})
        )
        await declare_retention(
            self.pending_changes, RetentionRule.after("created_at", unconfirmed, {"state": "pending"})
        )
        await declare_retention(self.inbound, RetentionRule.after("received_at", retention.chat_reply_days))


_log = structlog.stdlib.get_logger("samleng.pledge_intake")
PLAIN_KEY = "^(" + "|".join(CONTACT_KINDS) + "):"


async def blind_plain_keys(store: Store, index: BlindIndex | None) -> int:
    """Rewrite the plain contact keys of before (`email:dara@example.org`) into blinded ones, so an
    upgrade loses no member; how many were rewritten. Idempotent, and safe when replicas do it at
    once: the blinded document is inserted (a duplicate means it is there already), then the plain
    one is deleted. Nothing to do without an index key (keys stay plain)."""
    if index is None:
        return 0
    moved = 0
    async for doc in store.member_keys.find({"_id": {"$regex": PLAIN_KEY}}):
        kind, _, value = str(doc["_id"]).partition(":")
        blinded = {**doc, "_id": contact_key(kind, value, index)}
        if not await insert_once(store.member_keys, blinded):
            existing = await store.member_keys.find_one({"_id": blinded["_id"]}, {"member_id": 1})
            if existing is not None and existing.get("member_id") != doc.get("member_id"):
                _log.warning(
                    "plain contact key dropped: its blinded key is held by another member",
                    kind=kind,
                    member_id=doc.get("member_id"),
                    holder_id=existing.get("member_id"),
                )
        await store.member_keys.delete_one({"_id": doc["_id"]})
        moved += 1
    if moved:
        _log.info("plain contact keys blinded", count=moved)
    return moved


def contact_keys(contact: Contact) -> list[str]:
    keys = []
    if contact.email:
        keys.append(contact_key("email", contact.email))
    if contact.phone:
        keys.append(contact_key("phone", contact.phone))
    return keys


async def claim(store: Store, keys: list[str], member_id: str) -> dict[str, str]:
    """Claim the free keys for `member_id`; the others' holders, by key (none: all are ours).

    New people (the common case) cost one insert per key and no reads.
    """
    held: dict[str, str] = {}
    for key in keys:
        if await insert_once(store.member_keys, {"_id": key, "member_id": member_id, "at": utcnow()}):
            continue
        owner = await store.member_keys.find_one({"_id": key})
        if owner is not None and owner["member_id"] != member_id:
            held[key] = str(owner["member_id"])
    return held


def without(contact: Contact, held: dict[str, str]) -> Contact:
    """The contact details nobody else holds (a postal address is never a key)."""
    email = contact.email if contact.email and contact_key("email", contact.email) not in held else None
    phone = contact.phone if contact.phone and contact_key("phone", contact.phone) not in held else None
    return Contact(email=email, phone=phone, postal_address=contact.postal_address)


async def save_member(store: Store, member_id: str, data: PledgeSubmittedData, contact: Contact) -> None:
    """What a pledge says about its signer, with only the contact details this member holds."""
    now = utcnow()
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


async def record_consents(
    store: Store, member_id: str, data: PledgeSubmittedData, prefix: str, confirmed_at: datetime | None = None
) -> None:
    """The pledge's consents (pledge, alerts, sessions), once per `prefix`."""
    granted = {"pledge": True, "alerts": data.alerts_opt_in, "sessions": data.sessions_opt_in}
    documents = [
        {
            "_id": f"{prefix}:{kind}",
            "member_id": member_id,
            "kind": kind,
            "granted": value,
            "text_version": data.consent.text_version,
            "locale": data.consent.locale,
            "source": data.source,
            "at": data.consent.accepted_at,
            "pledge_id": data.pledge_id,
            **({"confirmed_at": confirmed_at} if confirmed_at else {}),
        }
        for kind, value in granted.items()
    ]
    try:
        await store.consents.insert_many(documents, ordered=False)
    except BulkWriteError as error:  # redelivery: the ones already there are duplicates, nothing else
        if any(e.get("code") != 11000 for e in error.details.get("writeErrors", [])):
            raise


async def take_over_keys(store: Store, keys: list[str], member_id: str, other: str | None) -> list[str]:
    """Give `member_id` the keys that are free or held by `other` (a record its owner has just
    confirmed as theirs); the keys it holds now. A third member's key stays where it is."""
    mine = []
    for key in keys:
        if await insert_once(store.member_keys, {"_id": key, "member_id": member_id, "at": utcnow()}):
            mine.append(key)
            continue
        owner = await store.member_keys.find_one({"_id": key})
        holder = str(owner["member_id"]) if owner else None
        if holder == member_id:
            mine.append(key)
        elif other is not None and holder == other:
            await store.member_keys.update_one(
                {"_id": key, "member_id": other}, {"$set": {"member_id": member_id}}
            )
            mine.append(key)
    return mine


async def merge_member(store: Store, duplicate: str, into: str) -> None:
    """Fold a duplicate record into the member who confirmed it was theirs: its keys move, its
    addresses join, and it receives nothing more itself (`merged_into`)."""
    if duplicate == into:
        return
    await store.member_keys.update_many({"member_id": duplicate}, {"$set": {"member_id": into}})
    old = await store.members.find_one_and_update(
        {"_id": duplicate, "merged_into": {"$exists": False}},
        {
            "$set": {
                "merged_into": into,
                "alerts_opt_in": False,
                "sessions_opt_in": False,
                "updated_at": utcnow(),
            }
        },
    )
    if old is None:
        return
    add = {field: {"$each": list(old.get(field) or [])} for field in ("emails", "phones") if old.get(field)}
    update: dict[str, Any] = {"$addToSet": add} if add else {}
    if old.get("psid"):
        update["$set"] = {"psid": old["psid"]}
    if update:
        await store.members.update_one({"_id": into}, update)
