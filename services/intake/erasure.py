"""Export and erase: everything we hold about one person, and forgetting it.

    GET  /api/v1/operator/members/{member_id}/export   operators (Bearer): one JSON document
    POST /api/v1/operator/members/{member_id}/erase    operators (Bearer): ask for erasure
    GET  /p/{token}/export                             the member's own data, as a download
    GET  /p/{token}/erase, POST                        erase everything about me (the POST must
                                                       carry `confirm=yes`: a confirmation step)

Export reads the read models operators already see (pledge-intake's `members`, `pledges`,
`consents`, `inbound_messages`, `subscriptions`, `erasures`; certificate-renderer's
`certificates` (metadata and links, never the files); the dispatcher's `deliveries` (ids, channel,
purpose, states: never the sealed request); event-scheduler's `registrations` made with the
member's email or phone), read-only; pledge-intake's documents are opened with the site's vault
(their personal fields are stored sealed: services/pledge_intake/store.py), so the export shows
them as the member gave them, and one whose subject was erased is left out. Erasure is handed to pledge-intake as
`member.erasure_requested.v1` (shared/contracts/erasure.py), which erases and tells the others.
The answer says what happens: `requested`, `already-erased` or `unknown` (nothing to erase).
"""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import phonenumbers
from bson import ObjectId
from bson.binary import Binary
from email_validator import EmailNotValidError, validate_email
from fastapi import FastAPI, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment

from services.intake.auth import operator_denied
from services.intake.i18n import pick_language, ui
from services.intake.settings import IntakeSettings
from services.intake.web_security import CSRF_REQUIRED
from shared.contracts import Event, utcnow
from shared.contracts.erasure import (
    ContactErasureRequested,
    ContactErasureRequestedData,
    ErasureRequested,
    ErasureRequestedData,
    ErasureSource,
    contact_digest,
)
from shared.contracts.languages import Lang
from shared.messaging.gateway import Unavailable
from shared.personal_data import (
    CONTACT_KEY_VERSION,
    SEALED,
    PersonalDataUnreadable,
    Vault,
    blind_index,
    contact_key,
    normalise_contact,
    open_fields,
    unsubscribe_key,
)

State = Literal["known", "erased", "unknown"]

ERASE_TEXT: dict[str, dict[str, str]] = {
    "erase_title": {"en": "Erase everything about me", "km": "លុបអ្វីៗទាំងអស់អំពីខ្ញុំ"},
    "erase_ask": {
        "en": "We will delete everything we hold about you: your details, your pledge and "
        "certificate, your registrations, your replies and the messages waiting for you. Only a "
        "record that consent was once given stays, without your name or contacts. This cannot be "
        "undone.",
        "km": "យើងនឹងលុបអ្វីៗទាំងអស់ដែលយើងមានអំពីអ្នក៖ ព័ត៌មានរបស់អ្នក ការសន្យា និងវិញ្ញាបនបត្ររបស់អ្នក "
        "ការចុះឈ្មោះ ការឆ្លើយតប និងសារដែលកំពុងរង់ចាំអ្នក។ មានតែកំណត់ត្រាថាធ្លាប់បានយល់ព្រម "
        "ប៉ុណ្ណោះដែលនៅសល់ ដោយគ្មានឈ្មោះ ឬទំនាក់ទំនងរបស់អ្នក។ សកម្មភាពនេះមិនអាចត្រឡប់វិញបានទេ។",
    },
    "erase_confirm": {
        "en": "Yes, erase everything about me",
        "km": "បាទ/ចាស លុបអ្វីៗទាំងអស់អំពីខ្ញុំ",
    },
    "erase_button": {"en": "Erase", "km": "លុប"},
    "erase_needs_confirm": {
        "en": "Please tick the box to confirm.",
        "km": "សូមធីកប្រអប់ដើម្បីបញ្ជាក់។",
    },
    "erase_done": {
        "en": "Done: everything about you is being erased. You will receive nothing more from us.",
        "km": "រួចរាល់៖ អ្វីៗទាំងអស់អំពីអ្នកកំពុងត្រូវបានលុប។ អ្នកនឹងមិនទទួលអ្វីពីយើងទៀតទេ។",
    },
    "erase_unknown": {
        "en": "This link is not valid (or everything about you was already erased).",
        "km": "តំណនេះមិនត្រឹមត្រូវទេ (ឬអ្វីៗទាំងអស់អំពីអ្នកត្រូវបានលុបរួចហើយ)។",
    },
    "erase_retry": {
        "en": "We could not record this right now. Please try again in a minute.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀតក្នុងមួយនាទី។",
    },
    "erase_keep": {"en": "No, keep my data", "km": "ទេ រក្សាទិន្នន័យរបស់ខ្ញុំ"},
}

DELIVERY_FIELDS = ("_id", "channel", "purpose", "source_id", "state", "reason", "created_at", "updated_at")
REGISTRATION_INTERNAL = ("consent", "event_id", "cancel_url", "contact_digests")
CERTIFICATE_FIELDS = (
    *("number", "state", "name", "language", "signed_on", "issued_at", "verify_url"),
    *("replaced_by", "replaces", "pledge_id"),
)


def plain(value: Any) -> Any:
    """A stored value as JSON can carry it (encrypted values as base64, marked)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, ObjectId):
        return str(value)
    if isinstance(value, Binary | bytes):
        return {"encrypted": base64.b64encode(bytes(value)).decode()}
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


async def opened(vault: Vault | None, doc: dict[str, Any] | None) -> dict[str, Any] | None:
    """A document of pledge-intake's with its sealed personal fields in place (plain ones pass
    through); None when absent or unreadable (its subject was erased)."""
    if doc is None:
        return None
    try:
        return await open_fields(vault, doc)
    except PersonalDataUnreadable:
        return None


async def opened_all(vault: Vault | None, docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`opened` for many, the unreadable left out."""
    found = [await opened(vault, doc) for doc in docs]
    return [doc for doc in found if doc is not None]


INTERNAL_MEMBER_FIELDS = ("unsubscribe_token", "unsubscribe_key", "personal_rev")


async def member_by_token(
    db: Any, vault: Vault | None, token: str, projection: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The member whose personal link carries `token`: by its blind index (the token is sealed
    with their details), or as stored before, plain; opened; None if unknown or erased."""
    query: dict[str, Any] = {"unsubscribe_token": token}
    if vault is not None:
        query = {"$or": [{"unsubscribe_key": unsubscribe_key(vault, token)}, query]}
    return await opened(vault, await db.members.find_one(query, projection))


async def erasure_state(db: Any, member_id: str) -> State:
    if await db.erasures.find_one({"_id": member_id}, {"_id": 1}) is not None:
        return "erased"
    if await db.members.find_one({"_id": member_id}, {"_id": 1}) is not None:
        return "known"
    return "unknown"


async def member_export(db: Any, member_id: str, vault: Vault | None = None) -> dict[str, Any] | None:
    """Everything held about one member across the read models; None if we never knew them."""
    found = await db.members.find_one({"_id": member_id})
    erasure = await db.erasures.find_one({"_id": member_id})
    if found is None and erasure is None:
        return None
    member = await opened(vault, found) or {}
    ids = [member_id, *[str(m["_id"]) async for m in db.members.find({"merged_into": member_id}, {"_id": 1})]]
    emails = sorted({e for e in [member.get("email"), *(member.get("emails") or [])] if e})
    phones = sorted({p for p in [member.get("phone"), *(member.get("phones") or [])] if p})
    keys = [str(k["_id"]) async for k in db.member_keys.find({"member_id": {"$in": ids}}, {"_id": 1})]
    index = vault.blind if vault is not None else blind_index()
    digests = sorted(
        {key.split(":", 1)[1] for key in keys if key.startswith(f"{CONTACT_KEY_VERSION}:")}
        | {contact_digest("email", normalise_contact("email", e), index) for e in emails}
        | {contact_digest("phone", normalise_contact("phone", p), index) for p in phones}
    )
    contacts: list[dict[str, Any]] = [
        {"contact_digests": {"$in": digests}},  # sealed registrations keep their contact's digests
        {"registrant.contact.email": {"$in": emails + [e.casefold() for e in emails]}},  # and plain,
        {"registrant.contact.phone": {"$in": phones}},  # as stored before
    ]
    requested: list[dict[str, Any]] = [
        {"contact_keys": {"$in": keys}},  # pending ones made with their contacts (sealed requests)
        {"request.contact.email": {"$in": emails}},  # and stored plain, before
        {"request.contact.phone": {"$in": phones}},
    ]
    mine = {"member_id": {"$in": ids}}
    deliveries = db.deliveries.find(mine, dict.fromkeys(DELIVERY_FIELDS, 1)).sort("created_at", 1)
    certificates = db.certificates.find(mine, {"_id": 0, SEALED: 1, **dict.fromkeys(CERTIFICATE_FIELDS, 1)})
    subscriptions = db.subscriptions.find(
        {"$or": [mine, *requested]}, {"confirm_token": 0, "personal_rev": 0}
    )
    document = {
        "member_id": member_id,
        "exported_at": utcnow(),
        "erasure": erasure,
        "member": {k: v for k, v in member.items() if k not in INTERNAL_MEMBER_FIELDS} or None,
        "merged_records": ids[1:],
        "pledges": await db.pledges.find(mine).to_list(None),
        "consents": await db.consents.find(mine).sort("at", 1).to_list(None),
        "certificates": [
            {k: v for k, v in c.items() if k in CERTIFICATE_FIELDS}
            for c in await opened_all(vault, await certificates.to_list(None))
        ],
        "deliveries": await deliveries.to_list(None),
        "registrations": [
            {k: v for k, v in registration.items() if k not in REGISTRATION_INTERNAL}
            for registration in await opened_all(
                vault, await db.registrations.find({"$or": contacts}).to_list(None)
            )
        ]
        if digests
        else [],
        "inbound_messages": await opened_all(vault, await db.inbound_messages.find(mine).to_list(None)),
        "subscriptions": await opened_all(vault, await subscriptions.to_list(None)),
    }
    exported: dict[str, Any] = plain(document)
    return exported


async def contacts_to_erase(request: Request) -> tuple[list[tuple[str, str]], list[dict[str, str]]]:
    """((kind, normalised value), ...) of an erasure-by-contact body, or the field errors."""
    try:
        body = await request.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return [], [{"field": "body", "code": "json_object_required", "message": "Send a JSON object."}]
    contacts: list[tuple[str, str]] = []
    errors: list[dict[str, str]] = []
    email, phone = body.get("email"), body.get("phone")
    if isinstance(email, str) and email.strip():
        try:
            normalised = validate_email(email.strip()[:320], check_deliverability=False).normalized
            contacts.append(("email", normalise_contact("email", normalised)))
        except EmailNotValidError:
            errors.append({"field": "email", "code": "email_invalid", "message": "Not an email address."})
    if isinstance(phone, str) and phone.strip():
        try:
            number = phonenumbers.parse(phone.strip()[:32], None)
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


def erasure_request(member_id: str, source: ErasureSource) -> ErasureRequested:
    request_id = f"er_{uuid.uuid4().hex}"
    return ErasureRequested(
        correlation_id=member_id,
        data=ErasureRequestedData(request_id=request_id, member_id=member_id, source=source, at=utcnow()),
    )


ANSWER = {
    "erased": "{member_id} was already erased",
    "unknown": "{member_id} is not known (nothing to erase)",
    "known": "erasure of {member_id} requested",
}


def add_erasure_routes(app: FastAPI, settings: IntakeSettings, templates: Environment) -> None:
    def db() -> Any:
        return app.state.status.database()

    async def hand_over(event: Event[Any]) -> bool:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return False
        return True

    @app.get(
        "/api/v1/operator/members/{member_id}/export",
        summary="Everything held about one member, as JSON (operators)",
        responses={401: {"description": "Operator token missing or wrong"}, 404: {"description": "Unknown"}},
    )
    async def operator_export(
        member_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        exported = await member_export(db(), member_id[:80], await app.state.status.vault())
        if exported is None:
            return JSONResponse({"detail": ANSWER["unknown"].format(member_id=member_id[:80])}, 404)
        return JSONResponse(exported)

    @app.post(
        "/api/v1/operator/members/{member_id}/erase",
        summary="Erase everything held about one member (operators)",
        responses={
            202: {"description": "Erasure requested"},
            200: {"description": "Already erased: nothing to do"},
            401: {"description": "Operator token missing or wrong"},
            404: {"description": "Not known: nothing to erase"},
            503: {"description": "Retry later"},
        },
    )
    async def operator_erase(
        member_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        member_id = member_id[:80]
        state = await erasure_state(db(), member_id)
        answer = ANSWER[state].format(member_id=member_id)
        if state == "erased":
            return JSONResponse({"state": "already-erased", "detail": answer})
        if state == "unknown":
            return JSONResponse({"state": "unknown", "detail": answer}, status_code=404)
        event = erasure_request(member_id, "operator-api")
        if not await hand_over(event):
            return JSONResponse(
                {"detail": "not handed over; retry"}, status_code=503, headers={"Retry-After": "30"}
            )
        return JSONResponse(
            {"state": "requested", "request_id": event.data.request_id, "detail": answer}, status_code=202
        )

    @app.post(
        "/api/v1/operator/erasures",
        summary="Erase everything held about an email or phone (operators)",
        description="For someone who may not be a member (e.g. only registered for a session): "
        'body `{"email": ..., "phone": ...}` (either or both; phone in E.164). Every member holding '
        "the contact is erased as by `/members/{id}/erase`, and the session registrations made with "
        "it are erased by the event-scheduler. Nothing is answered about the registrations (their "
        "erasure is asynchronous); the members found are named.",
        responses={
            202: {"description": "Erasure requested"},
            401: {"description": "Operator token missing or wrong"},
            422: {"description": "No valid email or phone"},
            503: {"description": "Retry later"},
        },
    )
    async def operator_erase_contact(
        request: Request, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)  # before the body is read: nothing echoed
        if denied is not None:
            return denied
        contacts, errors = await contacts_to_erase(request)
        if errors:
            return JSONResponse({"detail": errors}, status_code=422)
        vault = await app.state.status.vault()
        index = vault.blind if vault is not None else blind_index()
        keys = [contact_key(kind, value, index) for kind, value in contacts]
        found = sorted({str(k["member_id"]) async for k in db().member_keys.find({"_id": {"$in": keys}})})
        members = [m for m in found if await erasure_state(db(), m) == "known"]
        request_id = f"er_{uuid.uuid4().hex}"
        events: list[Any] = [erasure_request(member_id, "operator-api") for member_id in members]
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
        for event in events:
            if not await hand_over(event):
                return JSONResponse(
                    {"detail": "not handed over; retry"}, status_code=503, headers={"Retry-After": "30"}
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

    # ---- the member's own page ---------------------------------------------------------------

    async def member_of(token: str) -> dict[str, Any] | None:
        if not 16 <= len(token) <= 64:
            return None
        return await member_by_token(db(), await app.state.status.vault(), token, {"_id": 1, "language": 1})

    def page(language: Lang, state: str, token: str | None, status: int = 200) -> HTMLResponse:
        def t(key: str) -> str:
            return ERASE_TEXT[key][language] if key in ERASE_TEXT else ui(key, language)

        html = templates.get_template("erase.html").render(
            lang=language, other_lang="km" if language == "en" else "en", t=t, state=state, token=token
        )
        headers = {"X-Robots-Tag": "noindex", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
        return HTMLResponse(html, status_code=status, headers=headers)

    def language_of(request: Request, lang: str | None, member: dict[str, Any] | None) -> Lang:
        return pick_language(
            lang or (member or {}).get("language"),
            request.cookies.get("samleng_lang"),
            request.headers.get("accept-language"),
        )

    @app.get("/p/{token}/export", include_in_schema=False)
    async def own_export(token: str) -> Response:
        member = await member_of(token)
        vault = await app.state.status.vault()
        exported = await member_export(db(), str(member["_id"]), vault) if member is not None else None
        if exported is None:
            return JSONResponse({"detail": "unknown link"}, status_code=404)
        return Response(
            json.dumps(exported, ensure_ascii=False, indent=2),
            media_type="application/json",
            headers={
                "Content-Disposition": 'attachment; filename="samleng-my-data.json"',
                "Cache-Control": "no-store",
                "X-Robots-Tag": "noindex",
                "Referrer-Policy": "no-referrer",
            },
        )

    @app.get("/p/{token}/erase", response_class=HTMLResponse, include_in_schema=False)
    async def erase_page(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        member = await member_of(token)
        language = language_of(request, lang, member)
        if member is None:
            return page(language, "unknown", None, 404)
        return page(language, "ask", token)

    @app.post(
        "/p/{token}/erase", response_class=HTMLResponse, include_in_schema=False, dependencies=[CSRF_REQUIRED]
    )
    async def erase_own(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        member = await member_of(token)
        language = language_of(request, lang, member)
        if member is None:
            return page(language, "unknown", None, 404)
        form = await request.form()
        if form.get("confirm") != "yes":
            return page(language, "needs-confirm", token, 422)
        if not await hand_over(erasure_request(str(member["_id"]), "member-page")):
            return page(language, "retry", token, 503)
        return page(language, "done", None)
