"""Operator routes: subscriber import, a member's export and erasure, a contact's erasure.

    POST /subscribers               import subscribers (a list; each row accepted or refused)
                                    (members.import)
    GET  /members/{id}/export       everything held about one member, as JSON
                                    (members.read_personal; audited)
    POST /members/{id}/erase        erase everything held about one member (members.erase: admin)
    POST /erasures                  erase whoever holds an email or phone, and the session
                                    registrations made with it (members.erase: admin)

An imported row becomes `subscription.requested.v1` (its rules: shared/contracts/
subscription_input.py, as on the public subscribe page), which pledge-intake applies. The export
is shared/member_data.py's (a member's own download on the public site is the same), opened with
the console's vault. Erasure is handed to pledge-intake as `member.erasure_requested.v1`, or, for
a contact, to event-scheduler as `contact.erasure_requested.v1` (shared/contracts/erasure.py); the
answer says what happens: `requested`, `already-erased` or `unknown` (nothing to erase), as
pledge-intake's `erasures`, `members` and `member_keys` say (services/console/read_models.py).
Every event carries the operator as its `actor`; each call writes one audit event (ids and counts,
never a name or contact).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from fastapi import APIRouter, Depends, HTTPException, Request
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
    db = console_of(request).db
    member_id = member_id[:80]
    state = await erasure_state(db, member_id)
    answer = ANSWER[state].format(member_id=member_id)
    if state == "erased":
        await audit_erasure(request, who, member_id, "already-erased")
        return JSONResponse({"state": "already-erased", "detail": answer})
    if state == "unknown":
        await audit_erasure(request, who, member_id, "unknown")
        return JSONResponse({"state": "unknown", "detail": answer}, status_code=404)
    event = erasure_request(member_id, "operator-api")
    await hand_over(request, who, event)
    await audit_erasure(request, who, member_id, "requested", event.data.request_id)
    return JSONResponse(
        {"state": "requested", "request_id": event.data.request_id, "detail": answer}, status_code=202
    )


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
