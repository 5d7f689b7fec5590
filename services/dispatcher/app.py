"""alert-dispatcher: decides who gets what on which channel, and falls back when a channel fails.

Consumes `certificate.issued.v1` and every channel's `delivery.status.v1.*`; publishes
`delivery.requested.v1.<channel>.<band>` (the band follows the request's priority; see
shared/contracts/delivery.py). Owns `deliveries` (one document per delivery, deterministic
id under the primary key); reads pledge-intake's `members` (with each member's unsubscribe token),
`member_keys`, `pledges` and `erasures` through its read models (read_models.py).

- certificate.issued -> one delivery per channel the signer chose; a chosen channel that cannot
  serve them (by its declaration, shared/channels/catalogue.py: no address, country not served;
  or not installed, unsubscribed) is recorded as `skipped` with the reason and handled like a
  failure. On a channel that carries no files the certificate goes with a personal download link
  (downloads.py).
- a delivery that fails permanently or dead-letters -> the member's next eligible channel not yet
  tried for this message; the decision (or "none left") is stored on the failed delivery first,
  so a redelivered status event repeats the same decision instead of trying a third channel.
- state changes come only from the channels' status events (the channel owns its send log).
- reply.answer_requested.v1 (the console) -> one `reply` delivery on the channel the person wrote
  on, never falling back (replies.py).
- a chosen channel that needs an address the member can still give by opting in (declared as
  `address_wait_seconds`, e.g. Messenger's PSID) gets a `waiting` delivery: it is sent
  when `contact.linked.v1` brings the address, or skipped and fallen back from when the wait ends
  (timer queues `samleng.alert-dispatcher.wait.<tier>` bring `delivery.wait_expired.v1`).
- a delivery `sent` on a channel that declares delivery receipts (`receipt_wait_seconds`), or
  `unknown` after reconciliation gave up (reason `outcome-unresolved`), waits for `delivered` on
  the same timers (`receipt_until`); still unconfirmed then, it records `no-receipt-in-time` and
  falls back once, keeping its state, so a late receipt makes it `delivered` and sends nothing.

At start it declares every installed channel's queues (one per priority band), so requests wait
for a channel that is not running yet instead of being unroutable. All it knows of the channels
is their declarations (the catalogue): it imports no adapter, so none of a provider's libraries
(tests/unit/test_dispatcher_modules.py).

Modules: this one holds the router, the handlers of deliveries' own events and start-up;
deliveries.py builds, creates, publishes, times, releases and falls back deliveries; alerts.py,
reminders.py and replies.py route their messages through it; none of them imports this module
(tests/unit/test_dispatcher_modules.py).

Personal data (services/dispatcher/personal.py): with SAMLENG_MASTER_KEY set, each delivery's
request is stored and published with the recipient's name, addresses and personal texts
encrypted for the member, and a session message's contact card is stored encrypted.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict
from pymongo import ASCENDING

from services.dispatcher import alerts as alerts_module
from services.dispatcher import discreet, numbers
from services.dispatcher import erasure as erasure_module
from services.dispatcher import reminders as reminders_module
from services.dispatcher import replies as replies_module
from services.dispatcher.deliveries import (
    ADDRESS_FIELD,
    BY_CORRELATION,
    BY_MEMBER,
    WAIT_TIERS_MS,
    Deps,
    address_waits,
    await_receipt,
    create_delivery,
    end_receipt_wait,
    ensure_delivery_indexes,
    fall_back,
    preferences_url,
    publish_request,
    receipt_waits,
    recipient_of,
    release,
    release_if_confirmed,
    release_waiting,
    schedule_wait_end,
    unsubscribe_url,
    waits_for_address,
)
from services.dispatcher.numbers import AWAITING_NUMBERS, CONFIRMED_NUMBERS
from services.dispatcher.personal import contact_card
from services.dispatcher.read_models import MEMBERS, PLEDGES
from services.dispatcher.routing import (
    next_channel,
    plan_certificate,
    receipt_wait,
    supersedes,
)
from shared.channels.catalogue import ChannelSpec, catalogue
from shared.channels.queues import channel_router
from shared.contracts import utcnow
from shared.contracts.alert import ActionReported, AlertPublished, AlertTestRequested
from shared.contracts.certificate import CertificateIssued
from shared.contracts.delivery import (
    FINAL_FAILURES,
    CertificateRef,
    DeliveryRequested,
    DeliveryStatus,
    NoticeRef,
    Recipient,
)
from shared.contracts.erasure import MemberErased, RegistrationErased
from shared.contracts.inbound import (
    ContactLinked,
    DeliveryWaitExpired,
    InboundMessage,
)
from shared.contracts.member import NoticeRequested
from shared.contracts.pledge import is_discreet
from shared.contracts.reply import ReplyAnswerRequested
from shared.contracts.session import ReminderDue
from shared.message_details import MESSAGE_DETAILS
from shared.messaging.consumer import MessageContext
from shared.messaging.errors import PermanentError, RetryableError
from shared.messaging.publisher import Publisher
from shared.messaging.topology import delay_label as _label
from shared.personal_data import configured_contact_index
from shared.service import Resources, Router
from shared.settings import ServiceSettings
from shared.storage import Document, durable

router = Router("alert-dispatcher", description="Routes every outbound message to channels, with fallback.")
router.publishing(DeliveryRequested)

CERTIFICATE_PRIORITY = 3
NOTICE_PRIORITY = 8  # a person waits for it (e.g. to confirm a subscription)


class DispatcherSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DISPATCHER_", env_file=".env", extra="ignore")
    service_name: ClassVar[str] = "alert-dispatcher"
    public_base_url: str = "http://127.0.0.1:8000"
    preferences_link_days: int = Field(
        default=30,
        ge=1,
        description="How long the personal page link in a message works (days); unsubscribe links "
        "never expire.",
    )
    confirm_numbers: bool = Field(
        default=True,
        description="Send chat messages only to numbers whose owners wrote to us from them (numbers.py).",
    )
    number_wait_hours: float = Field(
        default=168,
        ge=0,
        description="How long a certificate chosen for Signal or WhatsApp waits for its number to be "
        "confirmed before it falls back to the member's next channel (hours).",
    )
    detail_link_hours: float = Field(
        default=72,
        gt=0,
        description="How long the link in a discreet message (at-risk mode) shows its details, and a "
        "certificate's download link on a channel that carries no files works (hours); each works once.",
    )


@router.handles(CertificateIssued)
async def on_certificate_issued(event: CertificateIssued, ctx: MessageContext[Deps]) -> None:
    deps, data = ctx.deps, event.data
    member = await deps.member(data.member_id)
    if member is None:
        if await erasure_module.erased(deps.db, data.member_id):
            ctx.log.info("certificate of an erased member: nothing to send", member_id=data.member_id)
            return
        raise RetryableError("member not recorded yet", reason="member-unknown")
    recipient = await numbers.checked(deps, recipient_of(member))
    certificate = CertificateRef(
        certificate_number=data.certificate_number,
        bucket=data.bucket,
        pdf_file_id=data.pdf_file_id,
        png_file_id=data.png_file_id,
        print_pdf_file_id=data.print_pdf_file_id,
        verify_url=data.verify_url,
        replaces=data.replaces,
    )
    base = {
        "purpose": "certificate",
        "source_id": data.certificate_number,
        "correlation_id": data.pledge_id,
        "priority": CERTIFICATE_PRIORITY,
        "recipient": recipient,
        "certificate": certificate,
        "unsubscribe_url": unsubscribe_url(deps, member),
        "preferences_url": preferences_url(deps, member),
    }
    unsubscribed = member.get("unsubscribed") or []
    for decision in plan_certificate(data.channels, recipient, deps.channels, unsubscribed):
        wait = waits_for_address(deps, decision.channel, decision.skipped_reason)
        doc = await create_delivery(deps, base, decision.channel, decision.skipped_reason, None, wait)
        if doc["state"] == "pending":
            await publish_request(ctx.publisher, doc)
        elif doc["state"] == "waiting":
            await schedule_wait_end(ctx.publisher, deps, doc, wait)
            if doc.get("reason") == numbers.WAIT_REASON:
                await release_if_confirmed(ctx, doc)  # confirmed while it was being made
        elif doc["state"] == "skipped":
            await fall_back(ctx, doc, member)
    ctx.log.info("certificate routed", pledge_id=data.pledge_id, number=data.certificate_number)


@router.handles(ContactLinked)
async def on_contact_linked(event: ContactLinked, ctx: MessageContext[Deps]) -> None:
    """Send the deliveries that were waiting for this address."""
    deps, data = ctx.deps, event.data
    query: Document = {"correlation_id": data.pledge_id, "channel": data.channel, "state": "waiting"}
    waiting = await deps.deliveries.find(query, hint=BY_CORRELATION).to_list(None)
    if not waiting:  # other purposes: find the member through the pledge
        pledge = await PLEDGES.find_one(deps.db, {"_id": data.pledge_id})
        if pledge and pledge.member_id:
            query = {"member_id": pledge.member_id, "channel": data.channel, "state": "waiting"}
            waiting = await deps.deliveries.find(query, hint=BY_MEMBER).to_list(None)
    # Linking is the person writing to us on that channel: it opens the platform's reply window.
    await release_waiting(
        ctx, waiting, data.channel, data.linked_at, {ADDRESS_FIELD[data.address_kind]: data.address}
    )


@router.handles(DeliveryWaitExpired)
async def on_wait_expired(event: DeliveryWaitExpired, ctx: MessageContext[Deps]) -> None:
    deps = ctx.deps
    doc = await deps.deliveries.find_one({"_id": event.data.delivery_id})
    if doc is not None and doc.get("receipt_until") and doc["state"] != "waiting":
        await end_receipt_wait(ctx, doc)
        return
    if doc is None or doc["state"] != "waiting":
        return
    remaining = (doc["wait_until"] - utcnow()).total_seconds() if doc.get("wait_until") else 0.0
    if remaining > 0.05:
        await schedule_wait_end(ctx.publisher, deps, doc, remaining)
        return
    if doc.get("reason") == "quiet-hours":
        await release(ctx, doc, "quiet-hours-over")
        return
    declared = deps.channels.get(doc["channel"])
    reason = f"no-{declared.address_kind if declared else 'address'}-in-time"
    if doc.get("reason") == numbers.WAIT_REASON:
        reason = "number-not-confirmed-in-time"
    entry = {"state": "skipped", "attempt": 1, "reason": reason, "at": utcnow()}
    changed = await deps.deliveries.update_one(
        {"_id": doc["_id"], "state": "waiting"},
        {"$set": {"state": "skipped", "reason": reason, "updated_at": utcnow()}, "$push": {"history": entry}},
    )
    if changed.modified_count:
        member = await deps.member(doc["member_id"]) or await contact_card(deps.vault, doc)
        if member is not None:
            await fall_back(ctx, {**doc, "state": "skipped", "reason": reason}, member)
        ctx.log.info("opt-in wait ended", delivery_id=doc["_id"], reason=reason)


@router.handles(DeliveryStatus, binding=f"{DeliveryStatus.event_type()}.*")
async def on_delivery_status(event: DeliveryStatus, ctx: MessageContext[Deps]) -> None:
    deps, status = ctx.deps, event.data
    moved = False
    for _ in range(5):  # optimistic concurrency: the update only applies to the state we read
        doc = await deps.deliveries.find_one({"_id": status.delivery_id})
        if doc is None:
            raise PermanentError(f"no delivery {status.delivery_id}", reason="unknown-delivery")
        if not supersedes(doc["state"], int(doc["attempt"]), status.state, status.attempt):
            break
        entry = {"state": status.state, "attempt": status.attempt, "reason": status.reason, "at": status.at}
        changes: Document = {
            "state": status.state,
            "attempt": status.attempt,
            "reason": status.reason,
            "updated_at": utcnow(),
        }
        if status.provider_message_id:
            changes["provider_message_id"] = status.provider_message_id
        wait = receipt_wait(
            status.state, status.reason, deps.receipt_waits.get(status.channel), "fallback" in doc
        )
        if wait:
            changes["receipt_until"] = status.at + timedelta(seconds=wait)
        result = await deps.deliveries.update_one(
            {"_id": doc["_id"], "state": doc["state"], "attempt": doc["attempt"]},
            {"$set": changes, "$push": {"history": entry}},
        )
        if result.modified_count:
            doc, moved = {**doc, **changes}, True
            break
    else:
        raise RetryableError("delivery kept changing under us", reason="contention")
    if doc["state"] in FINAL_FAILURES:
        member = await deps.member(doc["member_id"]) or await contact_card(deps.vault, doc)
        if member is not None:
            await fall_back(ctx, doc, member)
        return
    if moved or ctx.redelivered or ctx.attempt > 1:  # a retry may find it moved, its timer not started
        await await_receipt(ctx, doc, status)


async def declare_channel_queues(
    publisher: Publisher, settings: ServiceSettings, channels: Mapping[str, ChannelSpec]
) -> None:
    for declared in channels.values():
        for group in channel_router(declared).consumer_groups(settings):
            await publisher.declare(group)


async def bootstrap(resources: Resources) -> Deps:
    assert resources.db is not None
    settings = resources.settings
    assert isinstance(settings, DispatcherSettings)
    deliveries = durable(resources.db.deliveries)
    await ensure_delivery_indexes(deliveries)
    alerts = durable(resources.db.alerts)
    await alerts.create_index([("number", ASCENDING)])
    action_reports = durable(resources.db.action_reports)
    await action_reports.create_index([("alert_id", ASCENDING)])
    official_actions = durable(resources.db.official_actions)
    await official_actions.create_index([("alert_id", ASCENDING), ("official", ASCENDING)])
    channels = catalogue()
    await declare_channel_queues(resources.publisher, settings, channels)
    group = router.consumer_group(settings)
    wait_queues = {tier: f"{group.queue}.wait.{_label(tier)}" for tier in WAIT_TIERS_MS}
    for tier, name in wait_queues.items():
        await resources.publisher.declare_delay_queue(name, group.queue, tier)
    configured_contact_index()  # member_keys lookups (contact_key): resolved, or refused, at start
    details = durable(resources.db[MESSAGE_DETAILS])
    await discreet.ensure_indexes(details)
    awaiting_numbers = durable(resources.db[AWAITING_NUMBERS])
    await numbers.ensure_indexes(awaiting_numbers)
    return Deps(
        vault=resources.vault,
        deliveries=deliveries,
        db=resources.db,
        channels=channels,
        public_base_url=settings.public_base_url,
        preferences_link_days=settings.preferences_link_days,
        details=details,
        detail_link_hours=settings.detail_link_hours,
        confirm_numbers=settings.confirm_numbers,
        confirmed_numbers=durable(resources.db[CONFIRMED_NUMBERS]),
        awaiting_numbers=awaiting_numbers,
        number_wait_seconds=settings.number_wait_hours * 3600,
        alerts=alerts,
        alert_versions=durable(resources.db.alert_versions),
        action_reports=action_reports,
        official_actions=official_actions,
        waits=address_waits(channels),
        receipt_waits=receipt_waits(channels),
        wait_queues=wait_queues,
    )


@router.handles(NoticeRequested)
async def on_notice_requested(event: NoticeRequested, ctx: MessageContext[Deps]) -> None:
    """A service message for one person (who may not be a member yet, e.g. a subscription waiting
    for its confirmation): on the first of its channels that can carry a notice to them."""
    deps, data = ctx.deps, event.data
    known = await MEMBERS.find_one(deps.db, {"_id": data.member_id})
    recipient = Recipient(
        member_id=data.member_id,
        name=data.name,
        language=data.language,
        country=data.country,
        email=data.contact.email,
        phone=data.contact.phone,
        psid=data.psid,
        discreet=is_discreet(known.discreet if known else None, data.country),
    )
    recipient = await numbers.checked(deps, recipient)
    base = {
        "purpose": "notice",
        "source_id": data.notice_id,
        "correlation_id": event.correlation_id,
        "priority": NOTICE_PRIORITY,
        "recipient": recipient,
        "notice": NoticeRef(
            kind=data.kind,
            subject=data.subject,
            body=data.body,
            link_url=deps.public_base_url.rstrip("/") + data.link_path,
            link_label=data.link_label,
        ),
    }
    channel = next_channel(list(data.channels), [], recipient, "notice", deps.channels, [])
    if channel is None:
        ctx.log.warning("no channel can carry this notice", notice_id=data.notice_id, kind=data.kind)
        return
    doc = await create_delivery(deps, base, channel, None, None)
    if doc["state"] == "pending":
        await publish_request(ctx.publisher, doc)
    ctx.log.info("notice routed", notice_id=data.notice_id, kind=data.kind, channel=channel)


router.handles(AlertPublished)(alerts_module.on_alert_published)
router.handles(AlertTestRequested)(alerts_module.on_alert_test_requested)
router.handles(ReminderDue)(reminders_module.on_reminder_due)
router.handles(ActionReported)(alerts_module.on_action_reported)
router.handles(InboundMessage)(alerts_module.on_inbound_message)
router.handles(MemberErased)(erasure_module.on_member_erased)
router.handles(RegistrationErased)(erasure_module.on_registration_erased)
router.handles(ReplyAnswerRequested)(replies_module.on_reply_answer_requested)
