"""pledge-intake's collections, and the member operations every handler shares.

A member is found through `member_keys`: one document per contact (email, phone, PSID), naming
the member that holds it, under the contact's keyed blind index (`bx:email:<hex>`,
shared/personal_data.py `contact_key`), never the contact itself. A key is claimed by inserting
it (unique `_id`), so two submissions racing for one new contact cannot both get it. A key someone already holds is never
moved to another member without that member's confirmation (see `changes`).

Personal data at rest (shared/personal_data.py `seal_fields`): with a vault (SAMLENG_MASTER_KEY),
each document's personal fields are stored together as one encrypted value, `sealed`, under the
data key of the person it is about; nothing sealed can be queried, so every field a query, an
index or another service filters on stays plain. Without a vault everything stays plain.

    collection        sealed (subject)                         plain, and why
    members           name, email, emails, phone, phones,      ids, country, languages, channels,
                      postal_address, psid (and `postal`       opt-ins, topics, time zone, quiet
                      from a linked address), email_confirmed, hours, unsubscribed, last_inbound,
                      name_history, unsubscribe_token          merged_into, dates: queried by the
                                                               dispatcher's fan-out and the pages;
                                                               `discreet` (their own choice of
                                                               discreet messages; absent: none,
                                                               `discreet_choice`);
                                                               `unsubscribe_key` (below)
    inbound_messages  sender, text (the member; a sender we    member_id, channel, sender_kind,
                      hold for nobody: contact_key(kind,       stop, received_at, `sender_key` =
                      sender))                                 contact_key(kind, sender): erasure
                                                               finds a phone's replies by it
    subscriptions     request: name, contacts, preferences,    state, confirm_token, member_id,
                      consent (the subscription id while       dates, `contact_keys` (the request's
                      pending; the member's id once confirmed) contact keys: erasure and export
                                                               find pending ones made with a contact)
    pending_changes   submission: the whole pledge kept aside  token, state, source, ref, holder_id,
                      (its own member, else the pledge or      own_member_id, keys (blinded), dates
                      subscription id: `ref`)
    pledges           nothing personal (ids, state, country, channels, language, table batch/row)
    signatures        nothing personal (member id, pledge id, time)
    consents          nothing personal (who, what, granted, text version, locale, source, when)

Tokens: a member's `unsubscribe_token` opens their personal page (preferences, their data, erase),
so it is sealed with their details and found through a blind index, `unsubscribe_key`
(`unsubscribe_key()`; intake looks members up by it, or by a plain token stored before). The
random `subscriptions.confirm_token` and `pending_changes.token` stay plain: each confirms one
pending request and shows nothing about the person.
A member's personal fields change by read, open, modify, seal, write (`write_sealed`), guarded by
`personal_rev`: a write applies only to the revision it read, so concurrent handlers retry
instead of losing each other's changes. Readers open documents with `open_fields`, which passes
plain (older) documents through; a document whose subject was erased reads as absent.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.contracts import utcnow
from shared.contracts.pledge import Contact, PledgeSubmittedData
from shared.messaging.errors import RetryableError
from shared.personal_data import (
    CONTACT_KINDS,
    KEY_VAULT,
    SEALED,
    BlindIndex,
    PersonalDataUnreadable,
    Vault,
    configured_contact_index,
    contact_key,
    open_fields,
    opened_document,
    seal_fields,
    unsubscribe_key,
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
    vault: Vault | None = None
    """The process's vault (shared/service.py `Resources.vault`): None keeps everything plain."""

    @classmethod
    def of(cls, db: AsyncDatabase[Document], vault: Vault | None = None) -> Store:
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
            vault=vault,
        )

    async def ensure_indexes(self) -> None:
        await blind_plain_keys(self, configured_contact_index())
        await self.pledges.create_index([("member_id", ASCENDING)])
        await self.consents.create_index([("member_id", ASCENDING), ("at", ASCENDING)])
        await self.members.create_index([("unsubscribe_token", ASCENDING)], unique=True, sparse=True)
        await self.members.create_index([("unsubscribe_key", ASCENDING)], unique=True, sparse=True)
        await self.subscriptions.create_index([("confirm_token", ASCENDING)], unique=True)
        await self.pending_changes.create_index([("token", ASCENDING)], unique=True)
        await self.pending_changes.create_index([("holder_id", ASCENDING)])
        await self.members.create_index([("merged_into", ASCENDING)], sparse=True)
        await self.inbound.create_index([("member_id", ASCENDING)])
        await self.subscriptions.create_index([("member_id", ASCENDING)], sparse=True)
        await self.subscriptions.create_index([("contact_keys", ASCENDING)], sparse=True)
        await self.inbound.create_index([("sender_key", ASCENDING)], sparse=True)
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


MEMBER_FIELDS = (
    *("name", "email", "emails", "phone", "phones", "postal_address", "postal", "psid"),
    *("email_confirmed", "name_history", "unsubscribe_token"),
)
INBOUND_FIELDS = ("sender", "text")
SUBSCRIPTION_FIELDS = ("request",)
CHANGE_FIELDS = ("submission",)
REV = "personal_rev"
WRITE_ATTEMPTS = 20

Personal = dict[str, Any]
PersonalChange = Callable[[Personal, bool], Personal | None]
"""The new personal fields of a document from its current ones (opened) and whether it exists
already; None leaves the document as it is."""


async def write_sealed(
    collection: AsyncCollection[Document],
    vault: Vault | None,
    subject: str,
    doc_id: str,
    fields: Iterable[str],
    change: PersonalChange,
    plain: Document | None = None,
    *,
    upsert: bool = False,
    derive: Callable[[Personal], Document] | None = None,
) -> bool:
    """Read the document, open its personal `fields`, let `change` say what they become, seal them
    under `subject` and write them with the `plain` update (operators on plain fields), only if
    nobody wrote its personal fields since (`personal_rev`); else read again. Whether it wrote.
    A plain document of before is sealed on its first write (its plain copies are removed).
    `derive` gives plain fields computed from the new personal ones (e.g. a blind index)."""
    fields = tuple(fields)
    plain = plain or {}
    for _ in range(WRITE_ATTEMPTS):
        current = await collection.find_one({"_id": doc_id})
        if current is None and not upsert:
            return False
        try:
            opened = await open_fields(vault, current or {})
        except PersonalDataUnreadable as error:  # its key is gone: the member is being erased
            raise RetryableError("personal data of an erased subject", reason="subject-erased") from error
        personal = change({k: opened[k] for k in fields if k in opened}, current is not None)
        if personal is None:
            return False
        assert set(personal) <= set(fields), set(personal) - set(fields)
        stored = await seal_fields(
            vault, subject, {k: v for k, v in personal.items() if v is not None}, fields
        )
        revision = (current or {}).get(REV)
        derived = derive(personal) if derive is not None else {}
        sets = {**plain.get("$set", {}), **derived, **stored, REV: int(revision or 0) + 1}
        update: Document = {**plain, "$set": sets}
        stale = {k: "" for k in (*fields, SEALED) if k in (current or {}) and k not in stored}
        if stale:
            update["$unset"] = stale
        guard = {REV: revision} if revision is not None else {REV: {"$exists": False}}
        try:
            result = await collection.update_one({"_id": doc_id, **guard}, update, upsert=upsert)
        except DuplicateKeyError:  # inserted meanwhile by another handler: read it
            continue
        if result.matched_count or result.upserted_id is not None:
            return True
    raise RetryableError("a personal record kept changing under us", reason="contention")


def merged(
    values: Personal | None = None,
    add: dict[str, list[Any]] | None = None,
    on_insert: Personal | None = None,
) -> PersonalChange:
    """A change as the update operators said it: `$setOnInsert` (`on_insert`), `$set` (`values`)
    and `$addToSet` (`add`) of personal fields."""

    def change(personal: Personal, exists: bool) -> Personal:
        if not exists:
            personal.update(on_insert or {})
        personal.update(values or {})
        for name, items in (add or {}).items():
            kept = list(personal.get(name) or [])
            personal[name] = kept + [item for item in items if item not in kept]
        return personal

    return change


async def update_member(
    store: Store,
    member_id: str,
    change: PersonalChange,
    plain: Document | None = None,
    *,
    upsert: bool = False,
) -> bool:
    """`write_sealed` of a member's record, under their own data key."""
    vault = store.vault

    def derive(personal: Personal) -> Document:
        token = personal.get("unsubscribe_token")
        return {"unsubscribe_key": unsubscribe_key(vault, token)} if vault is not None and token else {}

    return await write_sealed(
        store.members, vault, member_id, member_id, MEMBER_FIELDS, change, plain, upsert=upsert, derive=derive
    )


async def opened(vault: Vault | None, doc: Document | None) -> Document | None:
    """A stored document with its personal fields in place; None when absent or unreadable (its
    subject was erased)."""
    return await opened_document(vault, doc)


async def find_member(store: Store, member_id: str) -> Document | None:
    return await opened(store.vault, await store.members.find_one({"_id": member_id}))


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


def discreet_choice(choice: bool | None) -> Document:
    """The `$set` of a member's own choice of discreet messages: a choice replaces the one before;
    None (no choice made: the country's default, shared/contracts/pledge.py `is_discreet`) keeps it."""
    return {} if choice is None else {"discreet": choice}


async def save_member(store: Store, member_id: str, data: PledgeSubmittedData, contact: Contact) -> None:
    """What a pledge says about its signer, with only the contact details this member holds."""
    now = utcnow()
    personal: Personal = {"name": data.name}
    add: dict[str, list[Any]] = {}
    if contact.email:
        personal["email"] = contact.email
        add["emails"] = [contact.email]
    if contact.phone:
        personal["phone"] = contact.phone
        add["phones"] = [contact.phone]
    if contact.postal_address is not None:
        personal["postal_address"] = contact.postal_address.model_dump()
    plain: Document = {
        "$setOnInsert": {"created_at": now},
        "$set": {
            "country": data.country,
            "language": data.certificate_language,
            "interface_language": data.interface_language,
            "channels": list(data.channels),
            "alerts_opt_in": data.alerts_opt_in,
            "sessions_opt_in": data.sessions_opt_in,
            **discreet_choice(data.discreet),
            "updated_at": now,
        },
    }
    change = merged(personal, add, on_insert={"unsubscribe_token": secrets.token_urlsafe(24)})
    await update_member(store, member_id, change, plain, upsert=True)


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
    old = await opened(store.vault, old) or {}
    add = {field: list(old.get(field) or []) for field in ("emails", "phones") if old.get(field)}
    values = {"psid": old["psid"]} if old.get("psid") else {}
    if add or values:
        await update_member(store, into, merged(values, add))
