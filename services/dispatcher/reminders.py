"""Session messages in the dispatcher: each `reminder.due.v1` becomes one delivery to the
registrant, on the first of their channels that can carry it, written in their language with
the times in their own time zone (Babel, `en` / `km`).

- Registrants need not be members: the delivery's member id is the registration id and the
  registration's contact travels with the delivery (`contact_card`), so fallback to their next
  channel works as for members. If the contact belongs to a member, the member's stops (STOP,
  unsubscribe) are respected and their Messenger PSID and reply windows are used (the member's
  document is opened with the dispatcher's vault: its personal fields may be sealed; a member
  whose key was erased counts as none).
- Quiet hours (the member's, in the registrant's time zone) hold a message until they end —
  except a confirmation (the person has just registered), and anything that would then arrive
  less than `CLOSE_TO_SESSION` before the start: close to the session it goes at once.
- Priority 5: after alerts, before certificates.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime

from services.dispatcher import numbers
from services.dispatcher.alerts import quiet_until
from services.dispatcher.deliveries import (
    create_delivery,
    publish_request,
    recipient_of,
    schedule_wait_end,
    unsubscribe_url,
)
from services.dispatcher.read_models import MEMBER_KEYS, MEMBERS
from services.dispatcher.routing import next_channel, why_not
from shared.contracts import utcnow
from shared.contracts.delivery import ReminderRef
from shared.contracts.session import ReminderDue, ReminderDueData
from shared.messaging.consumer import MessageContext
from shared.personal_data import PersonalDataUnreadable, contact_key, open_fields
from shared.storage import Document

REMINDER_PRIORITY = 5
CLOSE_TO_SESSION = timedelta(hours=3)
PATTERN = {"en": "EEEE d MMMM y 'at' HH:mm zzzz", "km": "EEEE d MMMM y ម៉ោង HH:mm zzzz"}


def local_time(moment: datetime, time_zone: str, language: str) -> str:
    """`Saturday 5 December 2026 at 19:00 Indochina Time`, or the same in Khmer."""
    try:
        zone = ZoneInfo(time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    return str(format_datetime(moment, PATTERN.get(language, PATTERN["en"]), tzinfo=zone, locale=language))


def reminder_ref(data: ReminderDueData, base_url: str) -> ReminderRef:
    registrant, session = data.registrant, data.session
    language, zone = registrant.language, registrant.time_zone
    text = session.texts.get(language) or session.texts.get("en") or next(iter(session.texts.values()))
    plan = None
    if data.plan_of_action:
        plan = data.plan_of_action.get(language) or data.plan_of_action.get("en")
    return ReminderRef(
        kind=data.kind,
        session_id=session.session_id,
        title=text.title,
        description=text.description,
        when=local_time(session.starts_at, zone, language),
        until=local_time(session.ends_at, zone, language),
        previous_when=local_time(session.previous_starts_at, zone, language)
        if session.previous_starts_at
        else None,
        time_zone=zone,
        starts_at=session.starts_at,
        ends_at=session.ends_at,
        mode=session.mode,
        place=session.place,
        join_link=session.join_link,
        public_url=session.public_url,
        ics_url=f"{base_url.rstrip('/')}/sessions/{session.session_id}.ics",
        minutes_before=data.minutes_before,
        waitlisted=data.registration_state == "waitlisted",
        plan_of_action=plan,
        plan_pdf_file_id=data.plan_pdf_file_id,
        plan_pdf_bucket=data.plan_pdf_bucket,
        version=session.version,
        cancel_url=data.cancel_url
        if data.kind not in ("cancelled", "plan-of-action", "registration-cancelled")
        else None,
    )


async def member_of(deps: Any, data: ReminderDueData) -> Document | None:
    contact = data.registrant.contact
    for key in (
        contact_key("email", contact.email) if contact.email else None,
        contact_key("phone", contact.phone) if contact.phone else None,
    ):
        if key is None:
            continue
        owner = await MEMBER_KEYS.find_one(deps.db, {"_id": key})
        if owner is not None:
            member = await MEMBERS.find_one(deps.db, {"_id": owner.member_id})
            if member is None:
                return None
            try:
                return await open_fields(deps.vault, member.stored())
            except PersonalDataUnreadable:  # erased: their data is gone
                return None
    return None


def contact_card(data: ReminderDueData, member: Document | None) -> Document:
    """The registrant as the dispatcher's member-shaped record (what fallback needs)."""
    registrant = data.registrant
    member = member or {}
    return {
        "_id": data.registration_id,
        "name": registrant.name,
        "country": registrant.country,
        "language": registrant.language,
        "email": registrant.contact.email,
        "phone": registrant.contact.phone,
        "channels": list(registrant.channels),
        "psid": member.get("psid"),
        "last_inbound": member.get("last_inbound") or {},
        "unsubscribed": list(member.get("unsubscribed") or []),
        "quiet_hours": member.get("quiet_hours"),
        "time_zone": registrant.time_zone,
        "discreet": registrant.discreet if registrant.discreet is not None else member.get("discreet"),
    }


def hold_for_quiet_hours(data: ReminderDueData, card: Document, now: datetime) -> float:
    """Seconds to hold the message for the registrant's quiet hours (0 = send now)."""
    if data.kind in ("confirmation", "promoted", "registration-cancelled"):  # answers, or a seat
        return 0.0
    until = quiet_until(card, now)
    if until is None:
        return 0.0
    if data.kind != "plan-of-action" and data.session.starts_at - until < CLOSE_TO_SESSION:
        return 0.0  # close to the session: a reminder after it starts would be useless
    return max(0.0, (until - now).total_seconds())


async def on_reminder_due(event: ReminderDue, ctx: MessageContext[Any]) -> None:

    deps, data = ctx.deps, event.data
    member = await member_of(deps, data)
    card = contact_card(data, member)
    recipient = await numbers.checked(deps, recipient_of(card))
    stopped = card["unsubscribed"]
    base = {
        "purpose": "reminder",
        "source_id": data.reminder_id,
        "correlation_id": data.session.session_id,
        "priority": REMINDER_PRIORITY,
        "recipient": recipient,
        "reminder": reminder_ref(data, deps.public_base_url),
        "unsubscribe_url": unsubscribe_url(deps, member),
        "extra": {"contact_card": card, "session_id": data.session.session_id, "reminder_kind": data.kind},
        "wait_reason": "quiet-hours",
    }
    channel = next_channel(card["channels"], [], recipient, "reminder", deps.channels, stopped)
    if channel is None:  # recorded as skipped, with the reason, for operators
        first = card["channels"][0]
        reason = why_not(first, recipient, "reminder", deps.channels, stopped) or "no eligible channel"
        await create_delivery(deps, base, first, reason, None)
        ctx.log.warning("no channel for a session message", reminder_id=data.reminder_id, reason=reason)
        return
    wait = hold_for_quiet_hours(data, card, utcnow())
    doc = await create_delivery(deps, base, channel, None, None, wait)
    if doc["state"] == "pending":
        await publish_request(ctx.publisher, doc)
    elif doc["state"] == "waiting":
        await schedule_wait_end(ctx.publisher, deps, doc, wait)
    ctx.log.info("session message routed", reminder_id=data.reminder_id, kind=data.kind, channel=channel)
