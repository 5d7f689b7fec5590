"""Erasing a member (`member.erasure_requested.v1`): pledge-intake forgets them first, then tells
everyone else (`member.erased.v1`).

What goes, for the member and every record merged into them:
- their data keys (`key_vault`, crypto-shredding: whatever is still encrypted for them anywhere —
  documents, deliveries, queued events and requests, dead letters, backups — becomes unreadable):
  the member's own, and those their data was sealed under before it was theirs (their pledges',
  their subscriptions', their contacts' — shared/contracts `sealed_by`);
- `members`, `member_keys` (their contacts become free again), `signatures`, `inbound_messages`
  (theirs, and replies from their phone or PSID before it was linked), `subscriptions` (theirs,
  and pending ones made with their email or phone), `pending_changes` (held for them or made by
  their own record);
- `pledges` keep a non-personal tombstone (`_id`, `state`, `member_id`, `recorded_at`, `erased`):
  a redelivered submission then finds its pledge and is not recorded again;
- `consents` keep a non-personal tombstone (`member_id`, `kind`, `granted`, `at`, `erased`): the
  ledger still shows that consent was given and when, and nothing else.

`erasures` remembers who was erased, without personal data (`_id` = member id, request id,
source, times, the merged ids, counts). The document is written `erasing` before anything is
deleted and `erased` after, so a crash half-way is finished by the redelivery. A second request
(or one for a member we never knew) changes nothing; the second one publishes the same
`member.erased.v1` again (same event id), which every owner handles idempotently.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from services.pledge_intake.store import Store
from shared.contracts import utcnow
from shared.contracts.erasure import (
    ErasureRequested,
    MemberErased,
    MemberErasedData,
    contact_digest,
)
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import UnroutableMessage
from shared.personal_data import (
    CONTACT_KEY_VERSION,
    BlindIndex,
    PersonalDataUnreadable,
    alt_name,
    blind_index,
    contact_key_kind,
    normalise_contact,
    open_fields,
)
from shared.storage import Document

NAMESPACE = uuid.UUID("9d3a1f6e-2b7c-4e58-a1d0-6c4b8e2f7a93")
PLEDGE_TOMBSTONE = ("_id", "state", "member_id", "recorded_at", "rejected_at")
CONSENT_TOMBSTONE = ("_id", "member_id", "kind", "granted", "at")


def erased_event_id(member_id: str) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, f"erased:{member_id}")


def tombstone(doc: Document, keep: tuple[str, ...], at: Any) -> Document:
    return {**{k: doc[k] for k in keep if k in doc}, "erased": True, "erased_at": at}


@dataclass
class Held:
    """What identifies the member across pledge-intake's collections."""

    member_ids: list[str]
    emails: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)
    psids: set[str] = field(default_factory=set)
    keys: set[str] = field(default_factory=set)

    def digests(self, index: BlindIndex | None) -> list[str]:
        """Their email and phone digests: from the opened members, and from their blinded contact
        keys (`bx:<kind>:<hmac>` is the digest `<kind>:<hmac>`), which need no decryption."""
        blinded = {
            key.split(":", 1)[1]
            for key in self.keys
            if key.startswith(f"{CONTACT_KEY_VERSION}:") and contact_key_kind(key) in ("email", "phone")
        }
        return sorted(
            blinded
            | {contact_digest("email", normalise_contact("email", e), index) for e in self.emails}
            | {contact_digest("phone", normalise_contact("phone", p), index) for p in self.phones}
        )


async def held_for(store: Store, member_id: str) -> Held | None:
    """The member, the records merged into them and their contacts; None if we never knew them."""
    members = await store.members.find({"$or": [{"_id": member_id}, {"merged_into": member_id}]}).to_list(
        None
    )
    ids = list(dict.fromkeys([member_id, *(str(m["_id"]) for m in members)]))
    keys = await store.member_keys.find({"member_id": {"$in": ids}}, {"_id": 1}).to_list(None)
    if not members and not keys and await store.pledges.count_documents({"member_id": member_id}) == 0:
        return None
    held = Held(member_ids=ids, keys={str(k["_id"]) for k in keys})
    for stored in members:
        try:
            member = await open_fields(store.vault, stored)
        except PersonalDataUnreadable:  # a crash half-way through an erasure: its key is gone
            continue  # (the contacts are still in `keys`, and `member_keys` has them)
        held.emails |= {e for e in [member.get("email"), *(member.get("emails") or [])] if e}
        held.phones |= {p for p in [member.get("phone"), *(member.get("phones") or [])] if p}
        if member.get("psid"):
            held.psids.add(str(member["psid"]))
    for key in held.keys:  # plain keys name the value itself (encryption off); blinded ones do not
        kind, _, value = key.partition(":")
        if kind == "phone" and value.startswith("+"):
            held.phones.add(value)
        elif kind == "psid":
            held.psids.add(value)
    return held


async def forget_keys(store: Store, subjects: list[str]) -> int:
    """Crypto-shredding: delete the data keys of these subjects (shared/personal_data.py
    `Vault.forget`, without needing the master key here)."""
    result = await store.key_vault.delete_many({"keyAltNames": {"$in": [alt_name(s) for s in subjects]}})
    return int(result.deleted_count)


async def erase(store: Store, held: Held) -> dict[str, int]:
    """Delete or tombstone everything pledge-intake holds about them; safe to run again."""
    ids, now = held.member_ids, utcnow()
    counts: dict[str, int] = {}
    senders: list[Document] = [{"sender_key": {"$in": sorted(held.keys)}}] if held.keys else []
    if held.phones:  # replies stored before senders were sealed
        senders.append({"sender_kind": "phone", "sender": {"$in": sorted(held.phones)}})
    if held.psids:
        senders.append({"sender_kind": "psid", "sender": {"$in": sorted(held.psids)}})
    inbound = await store.inbound.delete_many({"$or": [{"member_id": {"$in": ids}}, *senders]})
    counts["inbound_messages"] = inbound.deleted_count
    made_with: list[Document] = [{"contact_keys": {"$in": sorted(held.keys)}}] if held.keys else []
    if held.emails:  # subscriptions stored before requests were sealed
        made_with.append({"request.contact.email": {"$in": sorted(held.emails)}})
    if held.phones:
        made_with.append({"request.contact.phone": {"$in": sorted(held.phones)}})
    subscription_filter = {"$or": [{"member_id": {"$in": ids}}, *made_with]}
    subscription_ids = [
        str(d["_id"]) for d in await store.subscriptions.find(subscription_filter, {"_id": 1}).to_list(None)
    ]
    subscriptions = await store.subscriptions.delete_many(subscription_filter)
    counts["subscriptions"] = subscriptions.deleted_count
    changes = await store.pending_changes.find(
        {"$or": [{"holder_id": {"$in": ids}}, {"own_member_id": {"$in": ids}}]}, {"_id": 1}
    ).to_list(None)
    change_ids = [c["_id"] for c in changes]
    pledges = await store.pledges.find(
        {
            "$or": [
                {"member_id": {"$in": ids}},
                {"confirmed_by": {"$in": ids}},
                *([{"changes": {"$in": change_ids}}] if change_ids else []),
            ]
        }
    ).to_list(None)
    for pledge in pledges:
        if not pledge.get("erased"):
            await store.pledges.replace_one({"_id": pledge["_id"]}, tombstone(pledge, PLEDGE_TOMBSTONE, now))
    counts["pledges"] = len(pledges)
    # Every key their data was sealed under, in the database and in queued messages: their own,
    # their pledges' (submitted before a member existed), their subscriptions' and their contacts'
    # (replies from a number before it was linked to them).
    subjects = [*ids, *(str(p["_id"]) for p in pledges), *subscription_ids, *sorted(held.keys)]
    counts["data_keys"] = await forget_keys(store, subjects)
    counts["pending_changes"] = (
        await store.pending_changes.delete_many({"_id": {"$in": change_ids}})
    ).deleted_count
    consents = await store.consents.find({"member_id": {"$in": ids}, "erased": {"$ne": True}}).to_list(None)
    for consent in consents:
        await store.consents.replace_one({"_id": consent["_id"]}, tombstone(consent, CONSENT_TOMBSTONE, now))
    counts["consents"] = len(consents)
    counts["signatures"] = (await store.signatures.delete_many({"_id": {"$in": ids}})).deleted_count
    counts["member_keys"] = (await store.member_keys.delete_many({"member_id": {"$in": ids}})).deleted_count
    counts["members"] = (await store.members.delete_many({"_id": {"$in": ids}})).deleted_count
    return counts


def erased_event(record: Document, cause: uuid.UUID, digests: list[str]) -> MemberErased:
    member_id = str(record["_id"])
    return MemberErased(
        event_id=erased_event_id(member_id),
        correlation_id=member_id,
        causation_id=cause,
        data=MemberErasedData(
            member_id=member_id,
            request_id=record["request_id"],
            member_ids=list(record["member_ids"]),
            contact_digests=digests,
            at=record["erased_at"],
        ),
    )


async def tell_others(ctx: MessageContext[Store], event: MemberErased) -> None:
    try:
        await ctx.publish(event)
    except UnroutableMessage:  # no other owner has started yet: none holds anything about them
        ctx.log.warning("member.erased.v1 has no consumer", member_id=event.data.member_id)


async def on_erasure_requested(event: ErasureRequested, ctx: MessageContext[Store]) -> None:
    store, data = ctx.deps, event.data
    record = await store.erasures.find_one({"_id": data.member_id})
    if record is not None and record.get("state") == "erased":
        ctx.log.info("erasure: already erased, nothing to do", member_id=data.member_id)
        await tell_others(ctx, erased_event(record, event.event_id, []))  # for them: a no-op too
        return
    if record is not None and record.get("state") == "merged":
        ctx.log.info("erasure: erased with another record", member_id=data.member_id)
        return
    held = await held_for(store, data.member_id)
    if held is None and record is not None:  # a crash half-way: finish what was started
        held = Held(member_ids=list(record["member_ids"]))
    if held is None:
        ctx.log.info("erasure: unknown member, nothing to erase", member_id=data.member_id)
        return
    index = blind_index()
    digests = held.digests(index)
    started = {
        "request_id": data.request_id,
        "source": data.source,
        "requested_at": data.at,
        "state": "erasing",
        "member_ids": held.member_ids,
    }
    await store.erasures.update_one({"_id": data.member_id}, {"$setOnInsert": started}, upsert=True)
    counts = await erase(store, held)
    now = utcnow()
    for other in held.member_ids[1:]:
        await store.erasures.update_one(
            {"_id": other},
            {"$setOnInsert": {"state": "merged", "erased_with": data.member_id, "erased_at": now}},
            upsert=True,
        )
    await store.erasures.update_one(
        {"_id": data.member_id, "state": "erasing"},
        {"$set": {"state": "erased", "erased_at": now, "counts": counts, "member_ids": held.member_ids}},
    )
    record = await store.erasures.find_one({"_id": data.member_id})
    assert record is not None
    await tell_others(ctx, erased_event(record, event.event_id, digests))
    ctx.log.info("member erased", member_id=data.member_id, **counts)
