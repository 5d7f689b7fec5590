"""Operator routes: subscriber import, a member's export and erasure, a contact's erasure.

    POST /subscribers               import subscribers (a list; each row accepted or refused)
                                    (members.import)
    GET  /members/{id}/export       everything held about one member, as JSON
                                    (members.read_personal; audited)
    POST /members/{id}/erase        erase everything held about one member (members.erase: admin)
    POST /erasures                  erase whoever holds an email or phone, and the session
                                    registrations made with it (members.erase: admin)
    GET  /members/lookup            the member holding an exact email or phone: channels,
                                    consents, subscriptions, recent deliveries
                                    (members.read_personal; audited); no list to browse

An imported row becomes `subscription.requested.v1` (its rules: shared/contracts/
subscription_input.py, as on the public subscribe page), which pledge-intake applies. The export
is shared/member_data.py's (a member's own download on the public site is the same), opened with
the console's vault. Erasure is handed to pledge-intake as `member.erasure_requested.v1`, or, for
a contact, to event-scheduler as `contact.erasure_requested.v1` (shared/contracts/erasure.py); the
answer says what happens: `requested`, `already-erased` or `unknown` (nothing to erase), as
pledge-intake's `erasures`, `members` and `member_keys` say (services/console/read_models.py).
Every event carries the operator as its `actor`; each call writes one audit event (ids and counts,
never a name or contact).

A lookup finds members only by an exact contact, through the contact's blind index in
pledge-intake's `member_keys` (`contact_key`, as intake and pledge-intake compute it): there is no
way to page through members (a list of people at risk is what must never leak). What it shows is
read from the member's export (shared/member_data.py), cut to what an operator works with.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError

from services.console.auth import Caller, Principal, body_schema, console_of, hand_over, json_body, permit
from services.console.permissions import Permission
from services.console.read_models import ERASURES, MEMBER_KEYS, MEMBERS
from shared.contracts import Event, utcnow
from shared.contracts.erasure import ContactErasureRequested, ContactErasureRequestedData, contact_digest
from shared.contracts.languages import Lang
from shared.contracts.pledge import Consent
from shared.contracts.pledge_input import FieldError
from shared.contracts.subscription_input import SubscribeInput, subscription_event, validate_subscription
from shared.http_limits import configured_limit
from shared.member_data import erasure_request, member_export
from shared.personal_data import blind_index, contact_key, normalise_contact

router = APIRouter(tags=["members"])

State = Literal["known", "erased", "unknown"]
ANSWER = {
    "erased": "{member_id} was already erased",
    "unknown": "{member_id} is not known (nothing to erase)",
    "known": "erasure of {member_id} requested",
}


class ImportedConsent(BaseModel):
    text_version: str = Field(max_length=200)
    locale: str = Field(max_length=10)
    accepted_at: str = Field(description="When the person agreed (ISO 8601 with time zone).")


class ImportRow(SubscribeInput):
    consent: bool = True
    consent_record: ImportedConsent | None = Field(
        default=None, description="Where and when the person agreed; required with `confirmed`."
    )
    confirmed: bool = Field(
        default=False,
        description="The person already confirmed elsewhere (e.g. a signed paper form); otherwise a "
        "confirmation email goes out.",
    )


class ImportBody(BaseModel):
    subscribers: list[ImportRow] = Field(max_length=5000)


class ContactToErase(BaseModel):
    """An email or a phone (either or both)."""

    email: str | None = Field(default=None, max_length=1000, examples=["someone@example.org"])
    phone: str | None = Field(default=None, max_length=100, description="E.164", examples=["+85512345678"])


@router.post(
    "/subscribers",
    dependencies=[permit(Permission.members_import)],
    openapi_extra={**body_schema(ImportBody), **configured_limit("subscriber_import_max_bytes")},
    summary="Import subscribers",
    description="Each row is accepted (handed to pledge-intake) or refused with its field errors; "
    "`retry`: the broker did not take it, send that row again.",
    responses={413: {"description": "Body too large"}},
)
async def import_subscribers(
    request: Request, who: Caller, body: Annotated[ImportBody, Depends(json_body(ImportBody))]
) -> JSONResponse:
    console = console_of(request)
    results: list[dict[str, Any]] = []
    for index, row in enumerate(body.subscribers):
        language: Lang = "km" if row.language == "km" else "en"
        choices, errors = validate_subscription(row, language, email_required=not row.confirmed)
        consent = None
        if row.consent_record is not None:
            try:
                consent = Consent.model_validate(row.consent_record.model_dump())
            except ValidationError:
                errors = [
                    *errors,
                    FieldError(field="consent_record", code="invalid", message="invalid consent record"),
                ]
        elif row.confirmed:
            errors = [
                *errors,
                FieldError(
                    field="consent_record",
                    code="required",
                    message="a confirmed import needs its consent record",
                ),
            ]
        if choices is None or errors:
            results.append({"row": index, "state": "refused", "errors": [e.model_dump() for e in errors]})
            continue
        consent = consent or Consent(
            text_version=console.settings.consent_text_version, locale=language, accepted_at=utcnow()
        )
        event = subscription_event(row, choices, "operator-import", consent, confirmed=row.confirmed)
        try:
            await hand_over(request, who, event)
        except HTTPException:  # the broker did not take it: this row may be sent again
            results.append({"row": index, "state": "retry", "errors": []})
            continue
        results.append({"row": index, "state": "accepted", "subscription_id": event.data.subscription_id})
    accepted = sum(1 for r in results if r["state"] == "accepted")
    retry = sum(1 for r in results if r["state"] == "retry")
    await console.audit.record(
        who.event(
            "subscribers.imported",
            "subscribers",
            rows=len(results),
            accepted=accepted,
            refused=len(results) - accepted - retry,
            retry=retry,
        )
    )
    return JSONResponse({"results": results, "accepted": accepted, "refused": len(results) - accepted})


@router.get(
    "/members/{member_id}/export",
    dependencies=[permit(Permission.members_read_personal)],
    summary="Everything held about one member, as JSON",
    responses={404: {"description": "Unknown"}},
)
async def export_member(request: Request, who: Caller, member_id: str) -> JSONResponse:
    console = console_of(request)
    member_id = member_id[:80]
    exported = await member_export(console.db, member_id, console.vault)
    await console.audit.record(who.event("member.exported", "member", member_id, found=exported is not None))
    if exported is None:
        return JSONResponse({"detail": ANSWER["unknown"].format(member_id=member_id)}, status_code=404)
    return JSONResponse(exported)


@router.post(
    "/members/{member_id}/erase",
    status_code=202,
    dependencies=[permit(Permission.members_erase)],
    summary="Erase everything held about one member",
    responses={
        202: {"description": "Erasure requested"},
        200: {"description": "Already erased: nothing to do"},
        404: {"description": "Not known: nothing to erase"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def erase_member(request: Request, who: Caller, member_id: str) -> JSONResponse:
    state, request_id, answer = await erase(request, who, member_id)
    if state == "already-erased":
        return JSONResponse({"state": state, "detail": answer})
    if state == "unknown":
        return JSONResponse({"state": state, "detail": answer}, status_code=404)
    return JSONResponse({"state": state, "request_id": request_id, "detail": answer}, status_code=202)


async def erase(
    request: Request, who: Principal, member_id: str
) -> tuple[Literal["requested", "already-erased", "unknown"], str | None, str]:
    """Hand a member's erasure over (audited): (what happened, the request id, the answer's text);
    503 when the broker did not take it."""
    db = console_of(request).db
    member_id = member_id[:80]
    state = await erasure_state(db, member_id)
    answer = ANSWER[state].format(member_id=member_id)
    if state == "erased":
        await audit_erasure(request, who, member_id, "already-erased")
        return "already-erased", None, answer
    if state == "unknown":
        await audit_erasure(request, who, member_id, "unknown")
        return "unknown", None, answer
    event = erasure_request(member_id, "operator-api")
    await hand_over(request, who, event)
    await audit_erasure(request, who, member_id, "requested", event.data.request_id)
    return "requested", event.data.request_id, answer


@router.post(
    "/erasures",
    status_code=202,
    dependencies=[permit(Permission.members_erase)],
    openapi_extra=body_schema(ContactToErase),
    summary="Erase everything held about an email or phone",
    description="For someone who may not be a member (e.g. only registered for a session): "
    'body `{"email": ..., "phone": ...}` (either or both; phone in E.164). Every member holding '
    "the contact is erased as by `/members/{id}/erase`, and the session registrations made with "
    "it are erased by the event-scheduler. Nothing is answered about the registrations (their "
    "erasure is asynchronous); the members found are named.",
    responses={
        202: {"description": "Erasure requested"},
        422: {"description": "No valid email or phone"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def erase_contact(
    request: Request, who: Caller, body: Annotated[ContactToErase, Depends(json_body(ContactToErase))]
) -> JSONResponse:
    console = console_of(request)
    contacts, errors = contacts_to_erase(body)
    if errors:
        return JSONResponse({"detail": errors}, status_code=422)
    index = console.vault.blind if console.vault is not None else blind_index()
    keys = [contact_key(kind, value, index) for kind, value in contacts]
    found = sorted({owner.member_id async for owner in MEMBER_KEYS.find(console.db, {"_id": {"$in": keys}})})
    members = [m for m in found if await erasure_state(console.db, m) == "known"]
    request_id = f"er_{uuid.uuid4().hex}"
    events: list[Event[Any]] = [erasure_request(member_id, "operator-api") for member_id in members]
    events.append(
        ContactErasureRequested(
            correlation_id=request_id,
            data=ContactErasureRequestedData(
                request_id=request_id,
                contact_digests=[contact_digest(k, normalise_contact(k, v), index) for k, v in contacts],
                source="operator-api",
                at=utcnow(),
            ),
        )
    )
    handed = 0
    try:
        for event in events:
            await hand_over(request, who, event)
            handed += 1
    finally:  # one audit event, also when the broker stopped taking them part-way (503)
        await console.audit.record(
            who.event(
                "contact.erasure_requested",
                "erasure",
                request_id,
                outcome="ok" if handed == len(events) else "failed",
                kinds=[kind for kind, _ in contacts],
                members=len(members),
                handed_over=handed,
            )
        )
    return JSONResponse(
        {
            "state": "requested",
            "request_id": request_id,
            "members": members,
            "detail": f"erasure requested: {len(members)} member(s) and the registrations made with it",
        },
        status_code=202,
    )


async def erasure_state(db: Any, member_id: str) -> State:
    if await ERASURES.exists(db, {"_id": member_id}):
        return "erased"
    if await MEMBERS.exists(db, {"_id": member_id}):
        return "known"
    return "unknown"


def contacts_to_erase(body: ContactToErase) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    """((kind, normalised value), ...) of an erasure-by-contact body, or the field errors. Any
    valid number is looked up (a landline too: this erases, it admits nobody)."""
    contacts: list[tuple[str, str]] = []
    errors: list[dict[str, str]] = []
    if body.email and body.email.strip():
        try:
            normalised = validate_email(body.email.strip()[:320], check_deliverability=False).normalized
            contacts.append(("email", normalise_contact("email", normalised)))
        except EmailNotValidError:
            errors.append({"field": "email", "code": "email_invalid", "message": "Not an email address."})
    if body.phone and body.phone.strip():
        try:
            number = phonenumbers.parse(body.phone.strip()[:32], None)
            if not phonenumbers.is_valid_number(number):
                raise phonenumbers.NumberParseException(0, "invalid")
            e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
            contacts.append(("phone", normalise_contact("phone", e164)))
        except phonenumbers.NumberParseException:
            errors.append(
                {"field": "phone", "code": "phone_invalid", "message": "Not a phone number in E.164 (+...)."}
            )
    if not contacts and not errors:
        errors.append({"field": "email", "code": "contact_required", "message": "Give an email or a phone."})
    return contacts, errors


async def audit_erasure(
    request: Request, who: Principal, member_id: str, state: str, request_id: str | None = None
) -> None:
    detail: dict[str, Any] = {"state": state} | ({"request_id": request_id} if request_id else {})
    await console_of(request).audit.record(who.event("member.erased", "member", member_id, **detail))


RECENT_DELIVERIES = 20


class ConsentRow(BaseModel):
    kind: str | None = None
    granted: bool | None = None
    source: str | None = None
    text_version: str | None = None
    at: datetime | None = None


class SubscriptionRow(BaseModel):
    subscription_id: str
    state: str | None = None
    source: str | None = None
    created_at: datetime | None = None
    confirmed_at: datetime | None = None


class DeliveryRow(BaseModel):
    delivery_id: str
    channel: str | None = None
    purpose: str | None = None
    source_id: str | None = None
    state: str | None = None
    reason: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None


class MemberCard(BaseModel):
    """One member as an operator works with them (the whole record is their export)."""

    member_id: str
    state: Literal["known", "erased"]
    name: str | None = None
    emails: list[str] = Field(default_factory=list)
    phones: list[str] = Field(default_factory=list)
    messenger_linked: bool = False
    country: str | None = None
    language: str | None = None
    channels: list[str] = Field(default_factory=list)
    alerts_opt_in: bool | None = None
    topics: list[str] = Field(default_factory=list)
    unsubscribed: list[str] = Field(default_factory=list, description="`all`, or channels they stopped.")
    last_inbound: dict[str, datetime] = Field(
        default_factory=dict, description="Per channel, when they last wrote to us."
    )
    consents: list[ConsentRow] = Field(default_factory=list)
    subscriptions: list[SubscriptionRow] = Field(default_factory=list)
    deliveries: list[DeliveryRow] = Field(
        default_factory=list, description=f"The newest {RECENT_DELIVERIES}, newest first."
    )
    replies: int = Field(default=0, description="Chat replies they sent us.")


class MemberLookup(BaseModel):
    members: list[MemberCard] = Field(description="Empty: nobody holds this contact.")


def card(exported: dict[str, Any]) -> MemberCard:
    """The member page's fields of a member's export."""
    member = exported.get("member") or {}
    emails = sorted({e for e in [member.get("email"), *(member.get("emails") or [])] if e})
    phones = sorted({p for p in [member.get("phone"), *(member.get("phones") or [])] if p})
    deliveries = list(reversed(exported.get("deliveries") or []))[:RECENT_DELIVERIES]
    return MemberCard(
        member_id=exported["member_id"],
        state="erased" if exported.get("erasure") else "known",
        name=member.get("name"),
        emails=emails,
        phones=phones,
        messenger_linked=bool(member.get("psid")),
        country=member.get("country"),
        language=member.get("language"),
        channels=member.get("channels") or [],
        alerts_opt_in=member.get("alerts_opt_in"),
        topics=member.get("topics") or [],
        unsubscribed=member.get("unsubscribed") or [],
        last_inbound=member.get("last_inbound") or {},
        consents=[ConsentRow.model_validate(c) for c in exported.get("consents") or []],
        subscriptions=[
            SubscriptionRow(
                subscription_id=s["_id"],
                state=s.get("state"),
                source=(s.get("request") or {}).get("source"),
                created_at=s.get("created_at"),
                confirmed_at=s.get("confirmed_at"),
            )
            for s in exported.get("subscriptions") or []
        ],
        deliveries=[
            DeliveryRow(delivery_id=d["_id"], **{k: v for k, v in d.items() if k != "_id"})
            for d in deliveries
        ],
        replies=len(exported.get("inbound_messages") or []),
    )


async def lookup(
    console: Any, who: Principal, contact: ContactToErase
) -> tuple[list[MemberCard], list[dict[str, str]]]:
    """The members holding exactly this email and/or phone (blind index), or the field errors; a
    lookup is audited (the kinds of contact asked and how many were found, never the contact)."""
    contacts, errors = contacts_to_erase(contact)
    if errors:
        return [], errors
    index = console.vault.blind if console.vault is not None else blind_index()
    keys = [contact_key(kind, value, index) for kind, value in contacts]
    found = sorted({owner.member_id async for owner in MEMBER_KEYS.find(console.db, {"_id": {"$in": keys}})})
    cards = []
    for member_id in found:
        exported = await member_export(console.db, member_id, console.vault)
        if exported is not None:
            cards.append(card(exported))
    await console.audit.record(
        who.event(
            "members.looked_up",
            "member",
            cards[0].member_id if len(cards) == 1 else None,
            kinds=[kind for kind, _ in contacts],
            found=len(cards),
        )
    )
    return cards, []


async def member_card(console: Any, who: Principal, member_id: str) -> MemberCard | None:
    """One member's card (the member page), audited as a read of their details; None if unknown."""
    member_id = member_id[:80]
    exported = await member_export(console.db, member_id, console.vault)
    await console.audit.record(who.event("member.viewed", "member", member_id, found=exported is not None))
    return None if exported is None else card(exported)


@router.get(
    "/members/lookup",
    response_model=MemberLookup,
    dependencies=[permit(Permission.members_read_personal)],
    summary="The member holding an exact email or phone",
    description="Exact match only (the contact's blind index): no list of members can be paged "
    "through. Unknown: `members` is empty. Each lookup is audited (the kinds of contact asked, and "
    "how many members were found; never the contact).",
    responses={422: {"description": "No valid email or phone"}},
)
async def lookup_member(
    request: Request,
    who: Caller,
    email: Annotated[str | None, Query(max_length=1000)] = None,
    phone: Annotated[str | None, Query(max_length=100, description="E.164")] = None,
) -> JSONResponse:
    cards, errors = await lookup(console_of(request), who, ContactToErase(email=email, phone=phone))
    if errors:
        return JSONResponse({"detail": errors}, status_code=422)
    return JSONResponse(MemberLookup(members=cards).model_dump(mode="json"))
