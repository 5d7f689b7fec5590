"""Operator routes: checking an alert before and while it goes out.

    GET  /alerts/{id}/preview         exactly what each channel carries, per language: the email
                                      (subject, HTML, text), the chat text, the sensitive chat
                                      variant, and the public page (dashboard.read)
    GET  /alerts/{id}/summary         who would receive it now: members per channel, how many are
                                      in quiet hours, how many those hold (dashboard.read)
    GET  /alerts/{id}/recipients.csv  one row per delivery: member id, channel, state, updated —
                                      never a contact detail (deliveries.read)
    POST /alerts/{id}/test-send       send it to myself on one channel (alerts.draft): by email to
                                      my account's address, on a phone channel to a number typed
                                      in (not kept); handed to the dispatcher as
                                      `alert.test_requested.v1`, which makes one delivery of
                                      purpose `alert_test` (never counted in the alert's totals)

The preview builds what a member receives with the functions the dispatcher and the channels
use (shared/channels/texts.py `alert_ref` and `chat_text`; the email channel's own `compose`,
found in the channel catalogue by its declared address kind: its adapter is imported for the
preview only), for a stand-in member (`PREVIEW_NAME`). The summary plans the fan-out with the dispatcher's rules
(shared/contracts/alert.py: topics, channel choice, quiet hours and the urgent override) over
the members as read through the console's read model (`AUDIENCE`): counts only.
"""

from __future__ import annotations

import io
import uuid
from datetime import datetime
from email.message import EmailMessage
from typing import Annotated, Any, Literal

import phonenumbers
from fastapi import APIRouter, Depends, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, ValidationError, field_validator

from services.console.auth import Caller, body_schema, console_of, hand_over, json_body, permit
from services.console.permissions import Permission
from services.console.read_models import ALERTS, AUDIENCE, CONFIRMED, DELIVERIES, AudienceMember, present
from services.console.routes.alerts import draft_input, public_url_of
from shared.channels.catalogue import ChannelSpec, catalogue
from shared.channels.texts import alert_ref, chat_text
from shared.contracts import utcnow
from shared.contracts.alert import (
    AlertPublishedData,
    AlertTestRequested,
    AlertTestRequestedData,
    alert_channel,
    follows_topics,
    quiet_hours_end,
)
from shared.contracts.delivery import DeliveryRequestedData, Recipient
from shared.contracts.pledge import PostalAddress, is_discreet
from shared.csv_safety import FormulaSafeWriter
from shared.personal_data import contact_key
from shared.read_models import opened

router = APIRouter(tags=["alerts"])

LANGUAGES = ("en", "km")
PREVIEW_NAME = {"en": "[member's name]", "km": "[ឈ្មោះសមាជិក]"}
PREVIEW_EMAIL = "member@example.org"
PREVIEW_PHONE = "+85512000000"
PREVIEW_ACTION = "/a/done/preview"


async def alert_as_published(request: Request, alert_id: str) -> AlertPublishedData | None:
    """The alert as the dispatcher would receive it: its latest published version, else the
    draft (or a publication the dispatcher has not kept yet) as publishing it would hand it
    over; None when there is no such alert."""
    console = console_of(request)
    kept = await ALERTS.find_one(console.db, {"_id": alert_id})
    if kept is not None:
        fields = {k: v for k, v in present(kept).items() if k in AlertPublishedData.model_fields}
        return AlertPublishedData.model_validate({"alert_id": alert_id, **fields})
    draft = await console.db.alert_drafts.find_one({"_id": alert_id})
    if draft is None:
        return None
    body = draft_input(draft)
    public_url = public_url_of(console.settings.public_site_url, body.number)
    return AlertPublishedData(
        alert_id=alert_id,
        public_url=public_url,
        published_at=draft.get("published_at") or utcnow(),
        **body.model_dump(),
    )


def alert_channels() -> dict[str, ChannelSpec]:
    """The installed channels that carry alerts (the catalogue, as the dispatcher reads it)."""
    return {name: declared for name, declared in catalogue().items() if "alert" in declared.purposes}


def stand_in(language: str, data: AlertPublishedData, channel: str, base: str) -> DeliveryRequestedData:
    """The delivery a member reading `language` would get on `channel`, their name a placeholder."""
    recipient = Recipient(
        member_id="mb_preview",
        name=PREVIEW_NAME[language],
        language=language,
        country="KH",
        email=PREVIEW_EMAIL,
        phone=PREVIEW_PHONE,
        psid="preview",
    )
    return DeliveryRequestedData(
        delivery_id="dl_preview",
        channel=channel,
        purpose="alert",
        source_id=f"{data.alert_id}#{data.sequence}",
        recipient=recipient,
        alert=alert_ref(data, language, PREVIEW_NAME[language], f"{base}{PREVIEW_ACTION}"),
        unsubscribe_url=f"{base}/u/preview",
        preferences_url=f"{base}/p/preview",
        requested_at=utcnow(),
    )


def email_parts(channel: str, delivery: DeliveryRequestedData) -> dict[str, str] | None:
    """Subject, HTML and text of the email channel's own message for `delivery`."""
    from services.channels import adapter as adapter_of  # its provider libraries: for the preview only
    from shared.channels.adapter import OutboundMessage

    adapter = adapter_of(channel)
    compose = getattr(adapter, "compose", None)
    if compose is None:
        return None
    message = compose(adapter(adapter.settings_class()), OutboundMessage(delivery))
    assert isinstance(message, EmailMessage)
    html = message.get_body(("html",))
    text = message.get_body(("plain",))
    return {
        "subject": str(message["Subject"]),
        "html": html.get_content() if html is not None else "",
        "text": text.get_content() if text is not None else "",
    }


@router.get(
    "/alerts/{alert_id}/preview",
    dependencies=[permit(Permission.dashboard_read)],
    summary="What each channel will carry, per language (and the sensitive chat variant)",
    responses={404: {"description": "No such alert or draft"}},
)
async def preview(request: Request, alert_id: str) -> JSONResponse:
    data = await alert_as_published(request, alert_id)
    if data is None:
        return JSONResponse({"detail": "unknown alert"}, status_code=404)
    return JSONResponse(jsonable_encoder(previewed(data, console_of(request).settings.public_site_url)))


def previewed(data: AlertPublishedData, public_site_url: str) -> dict[str, Any]:
    base = public_site_url.rstrip("/")
    channels = alert_channels()
    languages: dict[str, Any] = {}
    for language in LANGUAGES:
        email: dict[str, str] | None = None
        chat: dict[str, str] = {}
        for name, declared in channels.items():
            delivery = stand_in(language, data, name, base)
            if declared.address_kind == "email":
                email = email_parts(name, delivery)
            elif (text := chat_text(delivery)) is not None:
                chat[name] = text
        as_sensitive = data.model_copy(update={"sensitive": True})
        sensitive = chat_text(stand_in(language, as_sensitive, "chat", base))
        languages[language] = {
            "email": email,
            "chat": chat,
            "sensitive_chat": sensitive,
            "public_page": f"{data.public_url}?lang={language}",
        }
    return {
        "alert_id": data.alert_id,
        "number": data.number,
        "urgent": data.urgent,
        "sensitive": data.sensitive,
        "public_url": data.public_url,
        "stand_in": {"name": PREVIEW_NAME, "action_url": f"{base}{PREVIEW_ACTION}"},
        "languages": languages,
    }


@router.get(
    "/alerts/{alert_id}/summary",
    dependencies=[permit(Permission.dashboard_read)],
    summary="Who would receive the alert now: members per channel, in quiet hours, held",
    description="The dispatcher's fan-out rules over today's members: opted in to alerts, not "
    "stopped, following one of its topics; the first of their channels that can carry it to "
    "them; a non-urgent alert waits out their quiet hours (`held`), an urgent one does not.",
    responses={404: {"description": "No such alert or draft"}},
)
async def summary(request: Request, alert_id: str) -> JSONResponse:
    data = await alert_as_published(request, alert_id)
    if data is None:
        return JSONResponse({"detail": "unknown alert"}, status_code=404)
    console = console_of(request)
    counted = await audience(console.db, console.vault, data, alert_channels(), utcnow())
    return JSONResponse(jsonable_encoder({"alert_id": alert_id, "urgent": data.urgent, **counted}))


async def audience(
    db: Any, vault: Any, data: AlertPublishedData, channels: dict[str, ChannelSpec], now: datetime
) -> dict[str, Any]:
    by_channel: dict[str, dict[str, int]] = {}
    by_language: dict[str, int] = {}
    unreachable = 0
    topics = list(data.topics)
    # chat only to confirmed numbers (services/dispatcher/numbers.py): their blind indexes, at once
    confirmed = {number.id async for number in CONFIRMED.find(db, {})}
    async for found in AUDIENCE.find(db, {"alerts_opt_in": True, "unsubscribed": {"$ne": "all"}}):
        if not follows_topics(found.topics, topics):
            continue
        member = await opened(vault, found)
        if member is None:  # erased meanwhile
            continue
        recipient = recipient_of(member, confirmed)
        channel = (
            alert_channel(
                member.channels or [], recipient, channels, member.unsubscribed or [], member.email_confirmed
            )
            if recipient is not None
            else None
        )
        if channel is None:
            unreachable += 1
            continue
        row = by_channel.setdefault(channel, {"members": 0, "in_quiet_hours": 0, "held": 0})
        row["members"] += 1
        language = member.language or "en"
        by_language[language] = by_language.get(language, 0) + 1
        if quiet_hours_end(member.quiet_hours, member.time_zone, now) is not None:
            row["in_quiet_hours"] += 1
            row["held"] += 0 if data.urgent else 1
    return {
        "members": sum(row["members"] for row in by_channel.values()),
        "in_quiet_hours": sum(row["in_quiet_hours"] for row in by_channel.values()),
        "held": sum(row["held"] for row in by_channel.values()),
        "unreachable": unreachable,
        "by_channel": dict(sorted(by_channel.items())),
        "by_language": dict(sorted(by_language.items())),
        "at": now,
    }


def recipient_of(member: AudienceMember, confirmed: set[str]) -> Recipient | None:
    """The member as a delivery's recipient, as the dispatcher builds it (None: not a valid one);
    `confirmed`: the blind indexes of the numbers whose owners confirmed them."""
    emails, phones = member.emails or [], member.phones or []
    phone = member.phone or (phones[-1] if phones else None)
    try:
        return Recipient(
            member_id=member.id,
            name=member.name or "",
            language=member.language or "en",
            country=member.country or "",
            email=member.email or (emails[-1] if emails else None),
            phone=phone,
            postal_address=PostalAddress(**member.postal_address) if member.postal_address else None,
            psid=member.psid,
            phone_confirmed=phone is not None and contact_key("phone", phone) in confirmed,
            discreet=is_discreet(member.discreet, member.country),
        )
    except ValidationError:
        return None


@router.get(
    "/alerts/{alert_id}/recipients.csv",
    dependencies=[permit(Permission.deliveries_read)],
    summary="The alert's deliveries, one row each: member id, channel, state — no contact details",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}, 404: {"description": "No such alert or draft"}},
)
async def recipients_csv(request: Request, alert_id: str) -> Response:
    db = console_of(request).db
    if await alert_as_published(request, alert_id) is None:
        return JSONResponse({"detail": "unknown alert"}, status_code=404)
    out = io.StringIO()
    writer = FormulaSafeWriter(out)
    writer.writerow(["version", "member_id", "channel", "state", "reason", "attempt", "updated_at"])
    query = {"purpose": "alert", "correlation_id": alert_id}
    async for delivery in DELIVERIES.find(db, query, sort=[("_id", 1)]):
        writer.writerow(
            [
                (delivery.source_id or "").rpartition("#")[2],
                delivery.member_id,
                delivery.channel,
                delivery.state,
                delivery.reason or "",
                delivery.attempt,
                delivery.updated_at.isoformat() if delivery.updated_at else "",
            ]
        )
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="recipients-{alert_id}.csv"'},
    )


class SendToMyself(BaseModel):
    """Send the alert to myself, as a member would receive it."""

    channel: str = Field(examples=["email"], description="A channel that carries alerts.")
    to: str | None = Field(
        default=None,
        max_length=32,
        description="For a phone channel: the number to send to, international format (+855…); "
        "used for this test only, never kept. Email goes to the operator's own account address.",
    )
    language: Literal["en", "km"] = "en"

    @field_validator("to")
    @classmethod
    def international_number(cls, to: str | None) -> str | None:
        if to is None or not to.strip():
            return None
        try:
            number = phonenumbers.parse(to.strip(), None)
        except phonenumbers.NumberParseException:
            raise ValueError("a phone number in international format, e.g. +855 12 345 678") from None
        if not phonenumbers.is_valid_number(number):
            raise ValueError("a phone number in international format, e.g. +855 12 345 678")
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def send_problem(field: str, code: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": [{"field": field, "code": code, "message": message}]}, status_code=422)


@router.post(
    "/alerts/{alert_id}/test-send",
    status_code=202,
    dependencies=[permit(Permission.alerts_draft)],
    openapi_extra=body_schema(SendToMyself),
    summary="Send the alert (or draft) to myself on one channel",
    responses={
        404: {"description": "No such alert or draft"},
        422: {"description": "No such channel, a channel that cannot be tested, or no number"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def send_to_myself(
    request: Request,
    who: Caller,
    alert_id: str,
    body: Annotated[SendToMyself, Depends(json_body(SendToMyself))],
) -> JSONResponse:
    data = await alert_as_published(request, alert_id)
    if data is None:
        return JSONResponse({"detail": "unknown alert"}, status_code=404)
    declared = alert_channels().get(body.channel)
    if declared is None:
        return send_problem("channel", "unknown", "no installed channel of this name carries alerts")
    email = phone = None
    if declared.address_kind == "email":
        email = who.operator.email
    elif declared.address_kind == "phone":
        if body.to is None:
            return send_problem("to", "required", "the number to send the test to")
        phone = body.to
    else:  # an address only the platform gives (e.g. a page-scoped id), or a postal one
        return send_problem("channel", "untestable", "this channel cannot be tested from here")
    test_id = f"at_{uuid.uuid4().hex[:20]}"
    event = AlertTestRequested(
        correlation_id=alert_id,
        data=AlertTestRequestedData(
            test_id=test_id,
            operator_id=who.operator.id,
            alert=data,
            channel=body.channel,
            language=body.language,
            name=who.operator.display_name,
            email=email,
            phone=phone,
            requested_at=utcnow(),
        ),
    )
    await hand_over(request, who, event)
    await console_of(request).audit.record(
        who.event("alert.test_sent", "alert", alert_id, channel=body.channel, language=body.language)
    )
    return JSONResponse({"test_id": test_id, "channel": body.channel, "state": "requested"}, status_code=202)
