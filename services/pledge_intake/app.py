"""pledge-intake: records pledges, their members and consents.

Consumes `pledge.submitted.v1`, `certificate.reissue_requested.v1` (a corrected name) and
`consent.withdrawn.v1` (unsubscribe: recorded in `consents`, `members.unsubscribed`),
`inbound.message.v1` (chat replies: STOP withdraws; all kept in `inbound_messages`; the member's
`last_inbound.<channel>` time), `contact.linked.v1` (e.g. a Messenger PSID) and
`member_change.confirmed.v1`, `member.links_reset_requested.v1` (subscriptions.py: a new
member secret, every old link ends) and `member.erasure_requested.v1` (erasure.py: the member is
forgotten here first, then `member.erased.v1` tells every other owner); publishes `pledge.recorded.v1` or `pledge.rejected.v1`, and
`notice.requested.v1` for the confirmations it needs.
Owns the collections `members`, `member_keys`, `signatures`, `pledges`, `consents`,
`pending_changes` and `erasures` (who was erased, nothing personal). `pledges` is also a documented read model (docs/read-models.md) that intake
reads for status; intake reads `pending_changes` only to answer a confirmation link. Personal
fields are stored sealed with the process's vault (`Resources.vault`): store.py says which.

Nobody proves control of a contact by typing it, so a contact a member already holds never changes
that member and never joins another record until the member confirms (`changes`):
- a pledge's contacts that nobody holds are claimed in `member_keys` for a member with an id
  derived from the pledge: its own member, who gets a certificate as anyone new would;
- for each member who holds one of its contacts, the pledge is kept aside in `pending_changes` and
  that member is asked, on the contacts they have on file, to confirm it was them; confirming
  applies it (details, the new contacts, the pledge's own member merged in) and, for someone who
  had not signed before, issues the certificate;
- `signatures` holds one document per member: the first pledge it was recorded for;
- outcome events have ids derived from the pledge id, so a republished outcome is the same event.
What the submitter is told never depends on whether a contact was known.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from services.pledge_intake import changes, erasure, subscriptions
from services.pledge_intake.store import (
    INBOUND_FIELDS,
    Personal,
    Store,
    claim,
    contact_keys,
    find_member,
    merge_member,
    merged,
    record_consents,
    save_member,
    take_over_keys,
    update_member,
    without,
)
from shared.channels.catalogue import spec
from shared.contracts import utcnow
from shared.contracts.certificate import ReissueRequested
from shared.contracts.erasure import ErasureRequested, MemberErased
from shared.contracts.inbound import ContactLinked, ContactLinkedData, InboundMessage
from shared.contracts.member import (
    ConsentWithdrawn,
    LinksResetRequested,
    MemberChangeConfirmed,
    NoticeRequested,
    PreferencesChanged,
    SubscriptionConfirmed,
    SubscriptionRequested,
)
from shared.contracts.pledge import (
    Contact,
    PledgeRecorded,
    PledgeRecordedData,
    PledgeRejected,
    PledgeRejectedData,
    PledgeSubmitted,
    PledgeSubmittedData,
    is_discreet,
    own_member_id,
)
from shared.contracts.pledge_input import business_rule_errors
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError, RetryableError
from shared.personal_data import contact_key, seal_fields
from shared.service import Resources, Router
from shared.storage import Document, insert_once

router = Router("pledge-intake", description="Records pledges, members and consents.")
router.publishing(PledgeRecorded, PledgeRejected, NoticeRequested, MemberErased)

OUTCOME_NAMESPACE = uuid.UUID("6f1d3a4e-3c1b-4b7e-9a56-5a9f3c2d8e11")
REJECTION_DETAIL = {
    "post-not-available-in-country": "Certificates cannot be posted to addresses in Cambodia.",
    "invalid-submission": "The submission was not valid.",
}


def outcome_event_id(pledge_id: str, outcome: str) -> uuid.UUID:
    return uuid.uuid5(OUTCOME_NAMESPACE, f"{pledge_id}:{outcome}")


async def discreet_of(store: Store, member_id: str, data: PledgeSubmittedData) -> bool:
    """Whether the pledge's member gets discreet messages: their own latest choice (this pledge's,
    stored with them, or one made since), else their country's default."""
    member = await store.members.find_one({"_id": member_id}, {"discreet": 1, "country": 1}) or {}
    return is_discreet(member.get("discreet", data.discreet), member.get("country") or data.country)


def recorded_event(
    data: PledgeSubmittedData, member_id: str, recorded_at: datetime, cause: uuid.UUID, discreet: bool
) -> PledgeRecorded:
    return PledgeRecorded(
        event_id=outcome_event_id(data.pledge_id, "recorded"),
        correlation_id=data.pledge_id,
        causation_id=cause,
        data=PledgeRecordedData(
            pledge_id=data.pledge_id,
            member_id=member_id,
            recorded_at=recorded_at,
            name=data.name,
            show_name_publicly=data.show_name_publicly,
            country=data.country,
            certificate_language=data.certificate_language,
            channels=list(data.channels),
            source=data.source,
            discreet=discreet,
        ),
    )


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
    elif pledge.get("member_id") and not pledge.get("duplicate_of"):
        member_id = pledge["member_id"]
        discreet = await discreet_of(ctx.deps, member_id, data)
        await ctx.publish(recorded_event(data, member_id, pledge["recorded_at"], event.event_id, discreet))


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

    def corrected(personal: Personal, exists: bool) -> Personal | None:
        history = list(personal.get("name_history") or [])
        if any(entry.get("event_id") == change["event_id"] for entry in history):
            return None  # a redelivery: corrected already
        return {**personal, "name": data.corrected_name, "name_history": [*history, change]}

    await update_member(store, pledge["member_id"], corrected, {"$set": {"updated_at": utcnow()}})
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
    owner = await store.member_keys.find_one({"_id": contact_key(data.sender_kind, data.sender)})
    member_id = str(owner["member_id"]) if owner else None  # else the reply is sealed for its sender
    stop = is_stop(data.text)
    sender_key = contact_key(data.sender_kind, data.sender)
    reply = {
        "_id": str(event.event_id),
        "member_id": member_id,
        "channel": data.channel,
        "sender_kind": data.sender_kind,
        "sender_key": sender_key,
        "sender": data.sender,
        "text": data.text,
        "stop": stop,
        "received_at": data.received_at,
    }
    await insert_once(
        store.inbound, await seal_fields(store.vault, member_id or sender_key, reply, INBOUND_FIELDS)
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
    pledge = await store.pledges.find_one({"_id": data.pledge_id}, {"member_id": 1, "erased": 1})
    if pledge is None or "member_id" not in pledge:
        raise RetryableError("pledge not recorded yet", reason="pledge-unknown")
    if pledge.get("erased"):
        ctx.log.info("contact of an erased member dropped", channel=data.channel)
        return
    member_id = pledge["member_id"]
    member = await find_member(store, member_id)
    linked = (member or {}).get(data.address_kind)
    if linked and linked != data.address:
        # The first account linked stays: a pledge page's reference that leaked (a shared screen, a
        # forwarded link) must not move the member's messages, or their STOP, to someone else's.
        # The member may confirm the new one from their contacts on file (changes.py).
        key = contact_key(data.address_kind, data.address)
        change = await changes.propose(
            store,
            source="contact-link",
            ref=f"{data.pledge_id}:{key}",
            holder_id=member_id,
            keys=[key],
            own_member_id=None,
            submission=data.model_dump(mode="json"),
            subject=member_id,
        )
        await changes.notify(ctx, change, event.event_id)
        ctx.log.warning(
            "another account used a linked member's reference: kept the first until they confirm",
            channel=data.channel,
            change_id=change["_id"],
        )
        return
    await link_address(store, member_id, data)
    ctx.log.info("contact linked", member_id=member_id, channel=data.channel)


async def link_address(store: Store, member_id: str, data: ContactLinkedData) -> None:
    await insert_once(
        store.member_keys,
        {"_id": contact_key(data.address_kind, data.address), "member_id": member_id, "at": data.linked_at},
    )
    await update_member(
        store,
        member_id,
        merged({data.address_kind: data.address}),
        {"$set": {"updated_at": utcnow()}, "$max": {f"last_inbound.{data.channel}": data.linked_at}},
    )


async def apply_link_change(ctx: MessageContext[Store], change: Document) -> None:
    """The member confirmed that the account linked after their first is theirs: it replaces the
    first (whose key no longer finds them), unless another member holds it meanwhile."""
    store = ctx.deps
    data = ContactLinkedData.model_validate(change["submission"])
    member_id = str(change["holder_id"])
    key = contact_key(data.address_kind, data.address)
    await insert_once(store.member_keys, {"_id": key, "member_id": member_id, "at": data.linked_at})
    owner = await store.member_keys.find_one({"_id": key}, {"member_id": 1})
    if owner is None or owner["member_id"] != member_id:
        ctx.log.warning("confirmed account is another member's: kept the first", change_id=change["_id"])
        return
    first = ((await find_member(store, member_id)) or {}).get(data.address_kind)
    if first and first != data.address:
        await store.member_keys.delete_one(
            {"_id": contact_key(data.address_kind, str(first)), "member_id": member_id}
        )
    await link_address(store, member_id, data)


@router.handles(PledgeSubmitted)
async def on_pledge_submitted(event: PledgeSubmitted, ctx: MessageContext[Store]) -> None:
    store, data = ctx.deps, event.data
    pledge = await store.pledges.find_one({"_id": data.pledge_id})
    if pledge is None:
        pledge = await record(store, data)
    if pledge.get("erased"):  # a late redelivery: its member was erased since
        ctx.log.info("pledge of an erased member dropped", pledge_id=data.pledge_id)
        return
    for change_id in pledge.get("changes") or []:
        change = await changes.find_change(store, change_id)
        if change is not None:
            await changes.notify(ctx, change, event.event_id)
    email = data.contact.email if pledge["state"] == "recorded" and data.alerts_opt_in else None
    if email and not await email_confirmed(store, email):  # double opt-in for email
        await subscriptions.request_subscription(ctx, subscriptions.pledge_subscription(data), event.event_id)
    await publish_outcome(ctx, event, pledge)
    ctx.log.info(
        "pledge handled",
        pledge_id=data.pledge_id,
        state=pledge["state"],
        held_contacts=len(pledge.get("changes") or []),
    )


async def email_confirmed(store: Store, email: str) -> bool:
    """Whether the member holding this address has already confirmed it."""
    owner = await store.member_keys.find_one({"_id": contact_key("email", email)})
    if owner is None:
        return False
    member = await find_member(store, str(owner["member_id"]))
    return (member or {}).get("email_confirmed") == email


def reachable(contact: Contact, channels: list[str]) -> bool:
    """Whether a certificate could reach the submitter without a contact someone else holds.
    (A channel whose address no one types, such as Messenger's: the submitter may still link
    their account through the pledge page.)"""
    typed_nothing = any(not spec(name).person_fields for name in channels)
    return bool(contact.email or contact.phone or contact.postal_address or typed_nothing)


async def record(store: Store, data: PledgeSubmittedData) -> Document:
    """Store the pledge. Contacts nobody holds make (or are) the pledge's own member, who gets a
    certificate as anyone new would; a contact a member already holds is neither claimed nor
    changes that member: the pledge is kept aside for them as a pending change (`changes`)."""
    base = {
        "_id": data.pledge_id,
        "source": data.source,
        "submitted_at": data.submitted_at,
        "country": data.country,
    }
    problems = business_rule_errors(data.country, list(data.channels))
    if problems:
        pledge: Document = {
            **base,
            "state": "rejected",
            "reason": problems[0],
            "detail": REJECTION_DETAIL[problems[0]],
            "rejected_at": utcnow(),
        }
    else:
        candidate = own_member_id(data.pledge_id)  # shares the pledge's data key (its seal alias)
        held = await claim(store, contact_keys(data.contact), candidate)
        own = without(data.contact, held)
        pledge = {
            **base,
            "state": "recorded",
            "recorded_at": utcnow(),
            "channels": list(data.channels),
            "certificate_language": data.certificate_language,
        }
        if not held or reachable(own, list(data.channels)):
            await save_member(store, candidate, data, own)
            await record_consents(store, candidate, data, data.pledge_id)
            await insert_once(
                store.signatures, {"_id": candidate, "pledge_id": data.pledge_id, "at": utcnow()}
            )
            pledge["member_id"] = candidate
        made = pledge.get("member_id")
        kept = []
        for holder in sorted(set(held.values())):
            change = await changes.propose(
                store,
                source="pledge",
                ref=data.pledge_id,
                holder_id=holder,
                keys=[key for key, owner in held.items() if owner == holder],
                own_member_id=str(made) if made else None,
                submission=data.model_dump(mode="json"),
            )
            kept.append(change["_id"])
        if kept:
            pledge["changes"] = kept
        if data.table is not None:
            pledge["table"] = data.table.model_dump()
    if not await insert_once(store.pledges, pledge):
        existing = await store.pledges.find_one({"_id": data.pledge_id})
        assert existing is not None
        return existing
    return pledge


@router.handles(MemberChangeConfirmed)
async def on_member_change_confirmed(event: MemberChangeConfirmed, ctx: MessageContext[Store]) -> None:
    """The holder of a contact confirmed, from a contact on file, that a change was theirs."""
    store, data = ctx.deps, event.data
    change = await changes.find_change(store, data.change_id)
    if change is None or change["state"] != "pending":
        ctx.log.info("change confirmation ignored: unknown or already applied", change_id=data.change_id)
        return
    if change["source"] == "pledge":
        await apply_pledge_change(ctx, change, data.at, event.event_id)
    elif change["source"] == "contact-link":
        await apply_link_change(ctx, change)
    else:
        await subscriptions.apply_subscription_change(ctx, change, data.at)
    await changes.mark_applied(store, change, change["holder_id"])
    ctx.log.info("change applied", change_id=change["_id"], member_id=change["holder_id"])


async def apply_pledge_change(
    ctx: MessageContext[Store], change: Document, at: datetime, cause: uuid.UUID
) -> None:
    """The holder's pledge after all: their details take what it said, the contacts it added and
    its own member join them, and a holder who had never signed gets its certificate."""
    store = ctx.deps
    data = PledgeSubmittedData.model_validate(change["submission"])
    holder, own = str(change["holder_id"]), change.get("own_member_id")
    mine = set(await take_over_keys(store, contact_keys(data.contact), holder, own))
    contact = Contact(
        email=data.contact.email
        if data.contact.email and contact_key("email", data.contact.email) in mine
        else None,
        phone=data.contact.phone
        if data.contact.phone and contact_key("phone", data.contact.phone) in mine
        else None,
        postal_address=data.contact.postal_address,
    )
    await save_member(store, holder, data, contact)
    await record_consents(store, holder, data, change["_id"], confirmed_at=at)
    if own:
        await merge_member(store, str(own), holder)
    await insert_once(store.signatures, {"_id": holder, "pledge_id": data.pledge_id, "at": utcnow()})
    signature = await store.signatures.find_one({"_id": holder})
    first = signature is not None and signature["pledge_id"] == data.pledge_id
    pledge = await store.pledges.find_one({"_id": data.pledge_id}, {"member_id": 1, "recorded_at": 1})
    if pledge is None:
        raise RetryableError("pledge not recorded yet", reason="pledge-unknown")
    update: dict[str, Any] = {"confirmed_by": holder}
    if not pledge.get("member_id"):  # no certificate of its own yet
        update["member_id"] = holder
        if not first and signature is not None:
            update["duplicate_of"] = signature["pledge_id"]
    await store.pledges.update_one({"_id": data.pledge_id}, {"$set": update})
    if not pledge.get("member_id") and first:
        discreet = await discreet_of(store, holder, data)
        await ctx.publish(recorded_event(data, holder, pledge["recorded_at"], cause, discreet))


router.handles(SubscriptionRequested)(subscriptions.on_subscription_requested)
router.handles(SubscriptionConfirmed)(subscriptions.on_subscription_confirmed)
router.handles(PreferencesChanged)(subscriptions.on_preferences_changed)
router.handles(LinksResetRequested)(subscriptions.on_links_reset_requested)
router.handles(ErasureRequested)(erasure.on_erasure_requested)


async def bootstrap(resources: Resources) -> Store:
    assert resources.db is not None
    store = Store.of(resources.db, resources.vault)
    await store.ensure_indexes()
    return store
