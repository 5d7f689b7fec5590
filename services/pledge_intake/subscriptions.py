"""Alert subscriptions, their email confirmation (double opt-in) and members' own preferences.

- `subscription.requested.v1` (subscribe page, API, operator import, or the pledge form's alerts
  box with an email address): kept in `subscriptions` as `pending` with a random confirmation
  token, and a `notice.requested.v1` asks the dispatcher to email the link `/c/<token>`. Nothing
  about the person changes until they confirm, so nobody can subscribe (or re-subscribe) someone
  else's address. An operator import of people who confirmed elsewhere (`confirmed`) applies at
  once, with the consent record it brings.
- `subscription.confirmed.v1`: confirming proves control of the subscription's EMAIL only. It
  applies to the member holding that address (or a new one): alerts on, topics, channel order,
  language, time zone, quiet hours, the email address marked confirmed (only a confirmed address
  receives alerts by email); the channels it names are no longer stopped. Its other contacts join
  that member only if nobody holds them: a phone another member holds is not merged and that
  member's record (and their STOP) stays as it is; they are asked, on the contacts they have on
  file, whether it was them (`changes`), and confirming applies the subscription to them.
  Confirming twice changes nothing. Operator imports (`confirmed`) are vouched for by the
  operator and resolve their member by any of their contacts, as before.
- `preferences.changed.v1` (the member's personal page): applied, each change recorded.

Every change is written to the consent history (`consents`): what (kind, granted), which text
version and locale the person saw, where (source) and when.

A subscription's `request` (name, contacts, preferences) is stored sealed (store.py): under the
subscription's id while it is pending, under its member's once confirmed; its `contact_keys`
(blinded) stay plain, so a pending subscription made with a member's contact can be found.
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime
from typing import Any

from services.pledge_intake import changes
from services.pledge_intake.store import (
    SUBSCRIPTION_FIELDS,
    Personal,
    PersonalChange,
    Store,
    claim,
    contact_keys,
    discreet_choice,
    merge_member,
    merged,
    opened,
    take_over_keys,
    update_member,
    without,
    write_sealed,
)
from shared.contracts import utcnow
from shared.contracts.member import (
    LinksResetRequested,
    NoticeRequested,
    NoticeRequestedData,
    Preferences,
    PreferencesChanged,
    SubscriptionConfirmed,
    SubscriptionRequested,
    SubscriptionRequestedData,
)
from shared.contracts.pledge import Contact, PledgeSubmittedData
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import UnroutableMessage
from shared.personal_data import contact_key, contact_key_kind, seal_fields
from shared.storage import Document, insert_once

NAMESPACE = uuid.UUID("0b7c8e2f-5d7a-4f51-9a43-2a7f0e6c1d95")
DEFAULT_TIME_ZONE = {"KH": "Asia/Phnom_Penh", "TH": "Asia/Bangkok", "VN": "Asia/Ho_Chi_Minh"}

CONFIRM_TEXT = {
    "en": {
        "subject": "Please confirm: Urgent Action alerts from Samleng",
        "body": "Someone (we hope you) asked to receive Urgent Action alerts from the Khmer community "
        "advocacy network at this address.\n\nPlease confirm with the button below. If it was not "
        "you, ignore this message: nothing will be sent.",
        "label": "Confirm my subscription",
    },
    "km": {
        "subject": "សូមបញ្ជាក់៖ ការជូនដំណឹងសកម្មភាពបន្ទាន់ពី សំឡេង",
        "body": "មាននរណាម្នាក់ (យើងសង្ឃឹមថាជាអ្នក) បានស្នើសុំទទួលការជូនដំណឹងសកម្មភាពបន្ទាន់ "
        "ពីបណ្តាញតស៊ូមតិសហគមន៍ខ្មែរ តាមអាសយដ្ឋាននេះ។\n\nសូមបញ្ជាក់ដោយចុចប៊ូតុងខាងក្រោម។ "
        "ប្រសិនបើមិនមែនជាអ្នកទេ សូមកុំអើពើសារនេះ៖ គ្មានអ្វីនឹងត្រូវផ្ញើទេ។",
        "label": "បញ្ជាក់ការចុះឈ្មោះរបស់ខ្ញុំ",
    },
}


def member_keys(contact: Contact) -> list[str]:
    return contact_keys(contact)


async def on_subscription_requested(event: SubscriptionRequested, ctx: MessageContext[Any]) -> None:
    await request_subscription(ctx, event.data, event.event_id)


def pledge_subscription(data: PledgeSubmittedData) -> SubscriptionRequestedData:
    """The pledge form's "send me alerts" box, as a subscription its email address must confirm."""
    return SubscriptionRequestedData(
        subscription_id=f"sb_{data.pledge_id}",
        source="pledge-form",
        name=data.name,
        country=data.country,
        contact=Contact(email=data.contact.email, phone=data.contact.phone),
        preferences=Preferences(
            channels=list(data.channels),
            language=data.certificate_language,
            time_zone=DEFAULT_TIME_ZONE.get(data.country, "UTC"),
        ),
        consent=data.consent,
        requested_at=data.submitted_at,
    )


async def request_subscription(
    ctx: MessageContext[Any], data: SubscriptionRequestedData, cause: uuid.UUID
) -> None:
    store = ctx.deps
    document = {
        "_id": data.subscription_id,
        "state": "pending",
        "confirm_token": secrets.token_urlsafe(24),
        "contact_keys": member_keys(data.contact),
        "request": data.model_dump(mode="json"),
        "created_at": utcnow(),
    }
    stored = await seal_fields(store.vault, data.subscription_id, document, SUBSCRIPTION_FIELDS)
    if not await insert_once(store.subscriptions, stored):
        existing = await store.subscriptions.find_one({"_id": data.subscription_id})
        assert existing is not None
        document = existing  # its state, member and token are plain: no need to open it
    if document["state"] == "confirmed":
        return
    if data.confirmed:  # an import of people who confirmed elsewhere: their consent comes with it
        await apply_subscription(ctx, data, document, confirmed_at=data.consent.accepted_at, cause=cause)
        ctx.log.info("subscription applied", subscription_id=data.subscription_id, source=data.source)
        return
    if not data.contact.email:
        ctx.log.warning(
            "subscription without email cannot be confirmed", subscription_id=data.subscription_id
        )
        return
    text = CONFIRM_TEXT[data.preferences.language]
    notice = NoticeRequested(
        event_id=uuid.uuid5(NAMESPACE, f"confirm:{data.subscription_id}"),
        correlation_id=data.subscription_id,
        causation_id=cause,
        data=NoticeRequestedData(
            notice_id=f"confirm:{data.subscription_id}",
            member_id=data.subscription_id,
            name=data.name,
            language=data.preferences.language,
            country=data.country,
            contact=Contact(email=data.contact.email),
            channels=["email"],
            kind="confirm-subscription",
            subject=text["subject"],
            body=text["body"],
            link_path=f"/c/{document['confirm_token']}",
            link_label=text["label"],
        ),
    )
    try:
        await ctx.publish(notice)
    except UnroutableMessage:
        # Only before the dispatcher's first start (it declares its queue then). A pledge must not
        # wait for that: its subscription stays pending, marked, and is visible to operators.
        await store.subscriptions.update_one(
            {"_id": data.subscription_id}, {"$set": {"notice": "unroutable", "notice_at": utcnow()}}
        )
        if data.source != "pledge-form":
            raise
        ctx.log.warning(
            "confirmation not handed over: no dispatcher queue yet", subscription_id=data.subscription_id
        )
        return
    ctx.log.info(
        "subscription waits for confirmation", subscription_id=data.subscription_id, source=data.source
    )


async def on_subscription_confirmed(event: SubscriptionConfirmed, ctx: MessageContext[Any]) -> None:
    store, data = ctx.deps, event.data
    document = await opened(store.vault, await store.subscriptions.find_one({"_id": data.subscription_id}))
    if document is None or document["state"] == "confirmed":  # unknown, confirmed, or erased
        return
    request = SubscriptionRequestedData.model_validate(document["request"])
    member_id = await apply_subscription(ctx, request, document, confirmed_at=data.at, cause=event.event_id)
    ctx.log.info("subscription confirmed", subscription_id=data.subscription_id, member_id=member_id)


async def resolve(store: Store, keys: list[str], candidate: str) -> str:
    """The member holding any of these contact keys, or `candidate` (claiming the free keys)."""
    member_id = candidate
    claimed = []
    for key in keys:
        if await insert_once(store.member_keys, {"_id": key, "member_id": candidate, "at": utcnow()}):
            claimed.append(key)
            continue
        owner = await store.member_keys.find_one({"_id": key})
        if owner is not None and owner["member_id"] != candidate:
            member_id = str(owner["member_id"])
    if member_id != candidate and claimed:
        await store.member_keys.update_many(
            {"_id": {"$in": claimed}, "member_id": candidate}, {"$set": {"member_id": member_id}}
        )
    return member_id


async def resolve_by_email(store: Store, contact: Contact, candidate: str) -> tuple[str, dict[str, str]]:
    """The member holding the (confirmed) email, or `candidate`; the other contacts it could not
    take because another member holds them, by key."""
    keys = contact_keys(contact)
    email_key = next((key for key in keys if contact_key_kind(key) == "email"), None)
    member_id = candidate
    if email_key is not None:
        held = await claim(store, [email_key], candidate)
        member_id = held.get(email_key, candidate)
    others = [key for key in keys if key != email_key]
    return member_id, await claim(store, others, member_id)


def subscription_update(
    data: SubscriptionRequestedData, contact: Contact, now: datetime
) -> tuple[PersonalChange, Document]:
    """What confirming a subscription changes in its member: personal fields, and the plain update."""
    prefs = data.preferences
    plain: Document = {
        "$setOnInsert": {"created_at": now, "country": data.country},
        "$set": {
            "alerts_opt_in": True,
            "topics": list(prefs.topics),
            "channels": list(prefs.channels),
            "language": prefs.language,
            "time_zone": prefs.time_zone,
            "quiet_hours": prefs.quiet_hours.model_dump() if prefs.quiet_hours else None,
            **discreet_choice(prefs.discreet),
            "updated_at": now,
        },
        "$pull": {"unsubscribed": {"$in": ["all", *prefs.channels]}},
    }
    values: Personal = {}
    add: dict[str, list[Any]] = {}
    if contact.email:
        values["email"] = contact.email
        values["email_confirmed"] = contact.email
        add["emails"] = [contact.email]
    if contact.phone:
        values["phone"] = contact.phone
        add["phones"] = [contact.phone]
    on_insert = {"name": data.name, "unsubscribe_token": secrets.token_urlsafe(24)}
    return merged(values, add, on_insert=on_insert), plain


def consent_record(data: SubscriptionRequestedData, key: str, member_id: str, confirmed_at: Any) -> Document:
    prefs = data.preferences
    return {
        "_id": f"{key}:alerts",
        "member_id": member_id,
        "kind": "alerts",
        "granted": True,
        "topics": list(prefs.topics),
        "channels": list(prefs.channels),
        "text_version": data.consent.text_version,
        "locale": data.consent.locale,
        "source": data.source,
        "at": data.consent.accepted_at,
        "confirmed_at": confirmed_at,
        "subscription_id": data.subscription_id,
    }


async def apply_subscription(
    ctx: MessageContext[Any],
    data: SubscriptionRequestedData,
    document: Document,
    *,
    confirmed_at: Any,
    cause: uuid.UUID | None,
) -> str:
    store: Store = ctx.deps
    candidate = f"mb_{uuid.uuid5(NAMESPACE, 'member:' + data.subscription_id).hex}"
    held: dict[str, str] = {}
    if document.get("member_id"):
        member_id = str(document["member_id"])
    elif data.confirmed:  # an operator vouches for every contact of an import
        member_id = await resolve(store, member_keys(data.contact), candidate)
    else:
        member_id, held = await resolve_by_email(store, data.contact, candidate)
    contact = without(data.contact, held)
    personal, plain = subscription_update(data, contact, utcnow())
    await update_member(store, member_id, personal, plain, upsert=True)
    await insert_once(store.consents, consent_record(data, data.subscription_id, member_id, confirmed_at))
    for holder in sorted(set(held.values())):
        change = await changes.propose(
            store,
            source="subscription",
            ref=data.subscription_id,
            holder_id=holder,
            keys=[key for key, owner in held.items() if owner == holder],
            own_member_id=member_id,
        )
        await changes.notify(ctx, change, cause)
    confirmed = {"$set": {"state": "confirmed", "member_id": member_id, "confirmed_at": confirmed_at}}
    await write_sealed(  # the request is the member's now: sealed again under their key
        store.subscriptions,
        store.vault,
        member_id,
        data.subscription_id,
        SUBSCRIPTION_FIELDS,
        lambda personal, exists: personal,
        confirmed,
    )
    return member_id


async def apply_subscription_change(ctx: MessageContext[Any], change: Document, at: datetime) -> None:
    """The holder of a contact confirmed the subscription made with it was theirs: it applies to
    them, with the contacts it named, and the record that took its email joins theirs."""
    store: Store = ctx.deps
    document = await opened(store.vault, await store.subscriptions.find_one({"_id": change["ref"]}))
    if document is None:
        ctx.log.warning("subscription of a change is gone", change_id=change["_id"])
        return
    data = SubscriptionRequestedData.model_validate(document["request"])
    holder, own = str(change["holder_id"]), change.get("own_member_id")
    mine = set(await take_over_keys(store, contact_keys(data.contact), holder, own))
    email, phone = data.contact.email, data.contact.phone
    contact = Contact(
        email=email if email and contact_key("email", email) in mine else None,
        phone=phone if phone and contact_key("phone", phone) in mine else None,
    )
    personal, plain = subscription_update(data, contact, utcnow())
    await update_member(store, holder, personal, plain)
    await insert_once(store.consents, consent_record(data, change["_id"], holder, at))
    if own:
        await merge_member(store, str(own), holder)


async def on_preferences_changed(event: PreferencesChanged, ctx: MessageContext[Any]) -> None:
    store, data = ctx.deps, event.data
    member = await store.members.find_one({"_id": data.member_id})
    if member is None:
        ctx.log.warning("preferences for an unknown member", member_id=data.member_id)
        return
    before_stopped = set(member.get("unsubscribed") or [])
    stopped: set[str] = set(data.stopped_channels)
    if "all" in before_stopped and not data.resume_all:
        stopped.add("all")
    prefs = data.preferences
    await store.members.update_one(
        {"_id": data.member_id},
        {
            "$set": {
                "alerts_opt_in": data.alerts,
                "topics": list(prefs.topics),
                "channels": list(prefs.channels),
                "language": prefs.language,
                "time_zone": prefs.time_zone,
                "quiet_hours": prefs.quiet_hours.model_dump() if prefs.quiet_hours else None,
                **discreet_choice(prefs.discreet),
                "unsubscribed": sorted(stopped),
                "updated_at": utcnow(),
            }
        },
    )
    changes: list[tuple[str, bool]] = []
    if bool(member.get("alerts_opt_in")) != data.alerts:
        changes.append(("alerts", data.alerts))
    for scope in sorted(before_stopped ^ stopped):
        changes.append((scope, scope not in stopped))
    changes.append(("preferences", True))  # what they chose, for the record
    for kind, granted in changes:
        await insert_once(
            store.consents,
            {
                "_id": f"{event.event_id}:{kind}",
                "member_id": data.member_id,
                "kind": kind,
                "granted": granted,
                "preferences": prefs.model_dump(mode="json") if kind == "preferences" else None,
                "text_version": data.consent.text_version,
                "locale": data.consent.locale,
                "source": "preferences-page",
                "at": data.at,
            },
        )
    ctx.log.info("preferences changed", member_id=data.member_id, changes=[k for k, _ in changes])


async def on_links_reset_requested(event: LinksResetRequested, ctx: MessageContext[Any]) -> None:
    """The member ended all their old links: a new secret (sealed with them, its blind index
    derived), so every link made from the old one (shared/member_links.py) stops working."""
    store, data = ctx.deps, event.data

    def change(personal: Personal, exists: bool) -> Personal | None:
        return {**personal, "unsubscribe_token": secrets.token_urlsafe(24)} if exists else None

    if not await update_member(store, data.member_id, change):
        ctx.log.warning("links reset for an unknown member", member_id=data.member_id)
        return
    ctx.log.info("member links replaced", member_id=data.member_id)
