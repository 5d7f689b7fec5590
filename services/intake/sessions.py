"""Sessions on the public site and the operators' session API.

    POST  /api/v1/operator/sessions                    create a session (202)
    PATCH /api/v1/operator/sessions/{id}                change it; new times = rescheduled
    POST  /api/v1/operator/sessions/{id}/cancel         cancel it (registrants are told)
    POST  /api/v1/operator/sessions/{id}/complete       mark it held
    POST  /api/v1/operator/sessions/{id}/plan-of-action the Plan of Action, to every registrant
    GET   /api/v1/operator/sessions                     all sessions with registration counts
    GET   /api/v1/operator/sessions/{id}/registrations  registrations and their ideas (JSON)
    GET   /api/v1/operator/sessions/{id}/ideas.csv      the ideas as a spreadsheet
    GET   /sessions                                     public calendar (EN/KM, viewer's time zone)
    GET   /sessions/{id}                                one session, with the registration form
    POST  /sessions/{id}/register                       register (form); also
    POST  /api/v1/sessions/{id}/registrations           (JSON; partners send X-Samleng-Key)
    GET   /sessions/{id}.ics, /sessions.ics             iCalendar: one session, all sessions

Intake stays a gateway: operators' changes are `session.published.v1` (full state, versioned),
registrations `registration.submitted.v1`, the Plan of Action `session.plan_published.v1` (its
optional PDF is stored here first, in the GridFS bucket `session_files`, which intake owns). The
event-scheduler keeps `sessions` and `registrations`, read here (a registration's personal
fields sealed under its id: opened with the site's vault, `StatusReader.vault`; one whose key
was erased is left out, as gone). A registration's id derives
from the session and the person's email or phone, so registering twice is one registration.
The join link is never shown on the public site: registrants receive it at its release time; the
place (in person, hybrid) appears on the public pages and feeds only from that time on.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import io
import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from fastapi import Depends, FastAPI, Header, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from gridfs import AsyncGridFSBucket
from jinja2 import Environment
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from services.intake.auth import operator_denied
from services.intake.i18n import pick_language, ui
from services.intake.partners import partner_key
from services.intake.settings import IntakeSettings
from services.intake.subscriptions import TEXT as SUBSCRIBE_TEXT
from services.intake.subscriptions import TIME_ZONES, _Problems
from services.intake.web_security import CSRF_REQUIRED
from shared.calendar import calendar, session_event
from shared.contracts import utcnow
from shared.contracts.languages import Lang, countries
from shared.contracts.pledge import Consent, Contact
from shared.contracts.pledge_input import FieldError, clean_name, clean_phone
from shared.contracts.session import (
    DEFAULT_REMINDER_MINUTES,
    SESSION_FILES_BUCKET,
    PlanOfActionPublished,
    PlanOfActionPublishedData,
    Registrant,
    RegistrationCancelled,
    RegistrationCancelledData,
    RegistrationSubmitted,
    RegistrationSubmittedData,
    Session,
    SessionKind,
    SessionMode,
    SessionPublished,
    SessionPublishedData,
    SessionText,
    details_release_time,
)
from shared.csv_safety import FormulaSafeWriter
from shared.http_limits import body_limit
from shared.messaging.gateway import Unavailable
from shared.personal_data import PersonalDataUnreadable, open_fields

REGISTRATION_CHANNELS = ("email", "signal", "whatsapp", "messenger")
PATTERN = {"en": "EEEE d MMMM y, HH:mm", "km": "EEEE d MMMM y ម៉ោង HH:mm"}
TEXT: dict[str, dict[str, str]] = {
    "calendar_title": {"en": "Sessions and hearings", "km": "វគ្គ និងសវនាការ"},
    "calendar_intro": {
        "en": "Save the dates. Register to receive the join link and reminders.",
        "km": "សូមកត់ចំណាំកាលបរិច្ឆេទ។ ចុះឈ្មោះដើម្បីទទួលតំណចូលរួម និងការរំលឹក។",
    },
    "times_in": {"en": "Times are shown in", "km": "ម៉ោងបង្ហាញតាម"},
    "show": {"en": "Show", "km": "បង្ហាញ"},
    "no_sessions": {"en": "No sessions are planned yet.", "km": "មិនទាន់មានវគ្គគ្រោងទុកនៅឡើយទេ។"},
    "upcoming_sessions": {"en": "Coming up", "km": "វគ្គខាងមុខ"},
    "past_sessions": {"en": "Past sessions", "km": "វគ្គកន្លងមក"},
    "kind_hearing": {"en": "Hearing", "km": "សវនាការ"},
    "kind_un-review": {"en": "UN review", "km": "ការពិនិត្យរបស់អង្គការសហប្រជាជាតិ"},
    "kind_planning": {"en": "Planning session", "km": "វគ្គរៀបចំផែនការ"},
    "kind_forum": {"en": "Forum", "km": "វេទិកា"},
    "mode_online": {"en": "Online", "km": "តាមអនឡាញ"},
    "mode_in-person": {"en": "In person", "km": "ដោយផ្ទាល់"},
    "mode_hybrid": {"en": "Online and in person", "km": "តាមអនឡាញ និងដោយផ្ទាល់"},
    "status_cancelled": {"en": "Cancelled", "km": "បានលុបចោល"},
    "status_rescheduled": {"en": "New time", "km": "ពេលវេលាថ្មី"},
    "status_completed": {"en": "Held", "km": "បានប្រារព្ធ"},
    "add_calendar": {"en": "Add to my calendar (.ics)", "km": "បញ្ចូលទៅប្រតិទិនរបស់ខ្ញុំ (.ics)"},
    "all_calendar": {"en": "Subscribe to the whole calendar (.ics)", "km": "ជាវប្រតិទិនទាំងមូល (.ics)"},
    "register_title": {"en": "Register", "km": "ចុះឈ្មោះ"},
    "register_button": {"en": "Register", "km": "ចុះឈ្មោះ"},
    "ideas": {
        "en": "Ideas or suggestions you would like to send in advance (optional)",
        "km": "គំនិត ឬសំណូមពរដែលអ្នកចង់ផ្ញើជាមុន (ស្រេចចិត្ត)",
    },
    "reach_you": {"en": "How to send you the join link and reminders", "km": "របៀបផ្ញើតំណចូលរួម និងការរំលឹកមកអ្នក"},
    "messenger_hint": {
        "en": "Messenger works only if you have already written to our page.",
        "km": "Messenger ដំណើរការបាន លុះត្រាតែអ្នកបានសរសេរទៅទំព័ររបស់យើងរួចហើយ។",
    },
    "registered": {
        "en": "You are registered. We will send you a confirmation, the join link and reminders.",
        "km": "អ្នកបានចុះឈ្មោះហើយ។ យើងនឹងផ្ញើការបញ្ជាក់ តំណចូលរួម និងការរំលឹកមកអ្នក។",
    },
    "closed": {"en": "Registration is closed.", "km": "ការចុះឈ្មោះបានបិទ។"},
    "not_open": {"en": "Registration opens on {when}.", "km": "ការចុះឈ្មោះបើកនៅ {when}។"},
    "full": {
        "en": "The session is full: new registrations go on the waiting list.",
        "km": "វគ្គនេះពេញហើយ៖ ការចុះឈ្មោះថ្មីនឹងស្ថិតក្នុងបញ្ជីរង់ចាំ។",
    },
    "unknown_session": {"en": "We do not know this session.", "km": "យើងមិនស្គាល់វគ្គនេះទេ។"},
    "cancel_title": {"en": "Cancel my registration", "km": "លុបចោលការចុះឈ្មោះរបស់ខ្ញុំ"},
    "cancel_ask": {
        "en": "Do you want to cancel your registration? You will get no more messages about this session, and your seat goes to the next person on the waiting list.",
        "km": "តើអ្នកចង់លុបចោលការចុះឈ្មោះរបស់អ្នកទេ? អ្នកនឹងមិនទទួលបានសារអំពីវគ្គនេះទៀតទេ ហើយកន្លែងរបស់អ្នកនឹងទៅអ្នកបន្ទាប់ក្នុងបញ្ជីរង់ចាំ។",
    },
    "cancel_button": {"en": "Yes, cancel my registration", "km": "បាទ/ចាស លុបចោលការចុះឈ្មោះរបស់ខ្ញុំ"},
    "cancel_done": {
        "en": "Your registration is cancelled. You can register again on the session's page.",
        "km": "ការចុះឈ្មោះរបស់អ្នកត្រូវបានលុបចោល។ អ្នកអាចចុះឈ្មោះម្តងទៀតនៅលើទំព័ររបស់វគ្គ។",
    },
    "cancel_unknown": {"en": "This link is not valid.", "km": "តំណនេះមិនត្រឹមត្រូវទេ។"},
    "cancel_retry": {
        "en": "We could not record this right now. Please try again.",
        "km": "យើងមិនអាចកត់ត្រាបានទេឥឡូវនេះ។ សូមព្យាយាមម្តងទៀត។",
    },
    "email_or_phone": {"en": "Email", "km": "អ៊ីមែល"},
}
ERRORS_HERE: dict[str, dict[str, str]] = {
    "contact_required": {
        "en": "Give an email address or a mobile number.",
        "km": "សូមផ្តល់អាសយដ្ឋានអ៊ីមែល ឬលេខទូរស័ព្ទ។",
    },
    "email_needed": {
        "en": "Email was chosen: give your email address.",
        "km": "អ្នកបានជ្រើសអ៊ីមែល៖ សូមផ្តល់អាសយដ្ឋានអ៊ីមែល។",
    },
    "registration_closed": {"en": "Registration is closed.", "km": "ការចុះឈ្មោះបានបិទ។"},
    "ideas_too_long": {
        "en": "Please keep ideas under 5,000 characters.",
        "km": "សូមសរសេរគំនិតតិចជាង 5000 តួអក្សរ។",
    },
}


def web_link(value: str | None) -> str | None:
    """Join links are opened by registrants: only http(s), never `javascript:` and the like."""
    if value is not None and not value.startswith(("https://", "http://")):
        raise ValueError("must be an http(s) link")
    return value


class SessionInput(BaseModel):
    """A session as an operator writes it (times with their time zone; stored in UTC)."""

    kind: SessionKind
    texts: dict[Literal["en", "km"], SessionText] = Field(description="Both English and Khmer are required.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    mode: SessionMode
    place: str = Field(default="", max_length=1000)
    join_link: str | None = Field(default=None, max_length=2000, examples=["https://zoom.us/j/123?pwd=..."])
    join_link_release_at: AwareDatetime | None = Field(
        default=None, description="Unset: 24 h before the start."
    )
    registration_opens_at: AwareDatetime | None = None
    registration_closes_at: AwareDatetime | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    reminder_minutes: list[int] = Field(
        default_factory=lambda: list(DEFAULT_REMINDER_MINUTES),
        max_length=10,
        description="Reminders before the start, in minutes (default 7 days, 1 day, 1 hour).",
    )
    reminder_seconds: list[int] | None = Field(
        default=None,
        max_length=10,
        description="Sub-minute schedules (rehearsals, tests): replaces the minutes.",
    )

    @field_validator("join_link")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        return web_link(value)


class SessionChangeInput(BaseModel):
    """Only the fields that change. New `starts_at`/`ends_at` reschedule the session."""

    texts: dict[Literal["en", "km"], SessionText] | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    mode: SessionMode | None = None
    place: str | None = Field(default=None, max_length=1000)
    join_link: str | None = Field(default=None, max_length=2000)
    join_link_release_at: AwareDatetime | None = None
    registration_opens_at: AwareDatetime | None = None
    registration_closes_at: AwareDatetime | None = None
    capacity: int | None = Field(default=None, ge=1, le=100_000)
    reminder_minutes: list[int] | None = Field(default=None, max_length=10)
    reminder_seconds: list[int] | None = Field(default=None, max_length=10)

    @field_validator("join_link")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        return web_link(value)


class PlanInput(BaseModel):
    texts: dict[Literal["en", "km"], str] = Field(description="The Plan of Action in English and Khmer.")
    pdf_base64: str | None = Field(
        default=None,
        max_length=7_000_000,
        description="Optional PDF of the plan (base64, at most 5 MB): attached to emails, linked elsewhere.",
    )


class RegistrationInput(BaseModel):
    name: str = Field(default="", max_length=10_000)
    country: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)
    channels: list[str] = Field(default_factory=list, max_length=10, description="In order of preference.")
    language: str = Field(default="en", max_length=10)
    time_zone: str = Field(default="UTC", max_length=100)
    ideas: str = Field(default="", max_length=20_000)
    consent: bool = False


def problems_of(session: dict[str, Any]) -> list[dict[str, str]]:
    """What makes a session (as it would be stored) inconsistent; empty when it is fine."""
    found = []

    def add(field: str, code: str, message: str) -> None:
        found.append({"field": field, "code": code, "message": message})

    missing = {"en", "km"} - set(session["texts"])
    for language in sorted(missing):
        add(f"texts.{language}", "required", f"{language} text is required")
    starts, ends = session["starts_at"], session["ends_at"]
    if ends <= starts:
        add("ends_at", "before-start", "the session must end after it starts")
    if session["mode"] in ("in-person", "hybrid") and not session.get("place"):
        add("place", "required", "an in-person or hybrid session needs a place")
    release = session.get("join_link_release_at")
    if release is not None and release > starts:
        add("join_link_release_at", "after-start", "release the join link before the session starts")
    closes = session.get("registration_closes_at")
    opens = session.get("registration_opens_at")
    if opens is not None and closes is not None and closes <= opens:
        add("registration_closes_at", "before-opening", "registration must close after it opens")
    minutes = session.get("reminder_minutes") or []
    if any(m < 1 or m > 60 * 24 * 60 for m in minutes) or len(set(minutes)) != len(minutes):
        add("reminder_minutes", "invalid", "reminders are distinct minutes between 1 and 86400 (60 days)")
    seconds = session.get("reminder_seconds") or []
    if any(x < 1 or x > 60 * 24 * 3600 for x in seconds) or len(set(seconds)) != len(seconds):
        add("reminder_seconds", "invalid", "reminders are distinct seconds between 1 and 60 days")
    return found


def registration_id(secret: bytes, session_id: str, contact: Contact) -> str:
    """An HMAC under INTAKE_SECRET_KEY (not a `member_keys` lookup: the plain contact never reaches
    the database through it, and changing its input would change existing registrations' ids)."""
    key = f"email:{contact.email.casefold()}" if contact.email else f"phone:{contact.phone}"
    digest = hmac.new(secret, f"registration:{session_id}:{key}".encode(), hashlib.sha256).hexdigest()
    return f"rg_{digest[:24]}"


def cancel_token(secret: bytes, registration: str) -> str:
    """The registrant's own link to cancel: the registration id and its signature."""
    signature = hmac.new(secret, f"cancel:{registration}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{registration}.{signature}"


def registration_of_cancel_token(secret: bytes, token: str) -> str | None:
    registration, _, _ = token.partition(".")
    if len(token) > 80 or not registration.startswith("rg_"):
        return None
    return registration if hmac.compare_digest(cancel_token(secret, registration), token) else None


def viewer_zone(request: Request, tz: str | None) -> str:
    for candidate in (tz, request.cookies.get("samleng_tz")):
        if candidate:
            try:
                ZoneInfo(candidate)
                return candidate
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return "Asia/Phnom_Penh"


def shown(moment: datetime, zone: str, language: str) -> str:
    return str(format_datetime(moment, PATTERN[language], tzinfo=ZoneInfo(zone), locale=language))


PAST_DAYS = 365
PAST_SHOWN = 12


class CalendarMonth(NamedTuple):
    heading: str  # "March 2027", "មីនា 2027": the month in the viewer's zone and language
    sessions: list[dict[str, Any]]


def calendar_sections(
    docs: list[dict[str, Any]], now: datetime, language: str, zone: str
) -> tuple[list[CalendarMonth], list[dict[str, Any]]]:
    """The calendar as the network's own "save the dates" page reads: sessions still to come (or
    under way), soonest first, grouped by month; past ones apart, most recent first (at most
    PAST_SHOWN). A session marked held is past even if it was due to end later."""
    upcoming: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    for doc in docs:
        (upcoming if doc["ends_at"] > now and doc.get("status") != "completed" else past).append(doc)
    upcoming.sort(key=lambda d: d["starts_at"])
    past.sort(key=lambda d: d["starts_at"], reverse=True)
    months: list[CalendarMonth] = []
    for doc in upcoming:
        heading = str(format_datetime(doc["starts_at"], "LLLL y", tzinfo=ZoneInfo(zone), locale=language))
        if not months or months[-1].heading != heading:
            months.append(CalendarMonth(heading, []))
        months[-1].sessions.append(doc)
    return months, past[:PAST_SHOWN]


def released_place(session: dict[str, Any], now: datetime | None = None) -> str:
    """The venue as the public site shows it: nothing before the join link's release time (the
    place reaches registrants in their messages, like the link)."""
    starts_at = _aware(session["starts_at"])
    release = session.get("join_link_release_at")
    released = details_release_time(starts_at, _aware(release) if release else None)
    return str(session.get("place") or "") if (now or utcnow()) >= released else ""


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Mongo may hand back naive UTC


def add_session_routes(app: FastAPI, settings: IntakeSettings, templates: Environment, secret: bytes) -> None:
    def db() -> Any:
        return app.state.status.database()

    def base() -> str:
        return settings.public_base_url.rstrip("/")

    async def publish(event: Any) -> JSONResponse | None:
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return JSONResponse(
                {"detail": "not handed over; retry"}, status_code=503, headers={"Retry-After": "30"}
            )
        return None

    async def current(session_id: str) -> dict[str, Any] | None:
        if not session_id.startswith("ss_") or len(session_id) > 40:
            return None
        doc: dict[str, Any] | None = await db().sessions.find_one({"_id": session_id})
        return doc

    # ---- operators -------------------------------------------------------------------------

    @app.post(
        "/api/v1/operator/sessions",
        status_code=202,
        summary="Create a session (operators)",
        responses={401: {"description": "Operator token missing or wrong"}, 422: {"description": "Invalid"}},
    )
    async def create_session(
        body: SessionInput, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        session_id = f"ss_{uuid.uuid4().hex[:20]}"
        fields = {
            **body.model_dump(),
            "session_id": session_id,
            "public_url": f"{base()}/sessions/{session_id}",
        }
        problems = problems_of(fields)
        if body.starts_at <= utcnow():
            problems.append(
                {"field": "starts_at", "code": "past", "message": "the session must start in the future"}
            )
        if problems:
            return JSONResponse({"detail": problems}, status_code=422)
        session = Session(**fields, status="scheduled", version=1)
        event = SessionPublished(
            correlation_id=session_id,
            data=SessionPublishedData(session=session, change="created", at=utcnow()),
        )
        failed = await publish(event)
        if failed is not None:
            return failed
        return JSONResponse(
            {"session_id": session_id, "public_url": session.public_url, "version": 1}, status_code=202
        )

    async def change(
        session_id: str, authorization: str | None, updates: dict[str, Any], kind: str | None = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        stored = await current(session_id)
        if stored is None:
            return JSONResponse({"detail": "unknown session"}, status_code=404)
        if stored.get("status") in ("cancelled", "completed"):
            return JSONResponse({"detail": f"the session is {stored['status']}"}, status_code=409)
        fields = {k: stored[k] for k in Session.model_fields if k in stored}
        fields.update(updates)
        moved = fields["starts_at"] != stored["starts_at"] or fields["ends_at"] != stored["ends_at"]
        problems = problems_of(fields)
        if moved and fields["starts_at"] <= utcnow():
            problems.append(
                {"field": "starts_at", "code": "past", "message": "the new start must be in the future"}
            )
        if problems:
            return JSONResponse({"detail": problems}, status_code=422)
        change_kind = kind or ("rescheduled" if moved else "updated")
        status = {"cancelled": "cancelled", "completed": "completed", "rescheduled": "rescheduled"}.get(
            change_kind, fields.get("status", "scheduled")
        )
        fields.update(status=status, version=int(stored.get("version", 1)) + 1)
        session = Session.model_validate(fields)
        event = SessionPublished(
            correlation_id=session_id,
            data=SessionPublishedData(
                session=session,
                change=change_kind,
                previous_starts_at=stored["starts_at"] if moved else None,
                at=utcnow(),
            ),
        )
        failed = await publish(event)
        if failed is not None:
            return failed
        return JSONResponse(
            {"session_id": session_id, "change": change_kind, "status": status, "version": session.version},
            status_code=202,
        )

    @app.patch(
        "/api/v1/operator/sessions/{session_id}",
        status_code=202,
        summary="Change or reschedule a session (operators)",
    )
    async def patch_session(
        session_id: str, body: SessionChangeInput, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await change(session_id, authorization, body.model_dump(exclude_unset=True))

    @app.post(
        "/api/v1/operator/sessions/{session_id}/cancel",
        status_code=202,
        summary="Cancel a session (operators)",
    )
    async def cancel_session(
        session_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await change(session_id, authorization, {}, "cancelled")

    @app.post(
        "/api/v1/operator/sessions/{session_id}/complete",
        status_code=202,
        summary="Mark a session held (operators)",
    )
    async def complete_session(
        session_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        return await change(session_id, authorization, {}, "completed")

    @app.post(
        "/api/v1/operator/sessions/{session_id}/plan-of-action",
        status_code=202,
        summary="Send the Plan of Action to every registrant (operators)",
        openapi_extra=body_limit(settings.plan_of_action_max_bytes),
    )
    async def plan_of_action(
        session_id: str, body: PlanInput, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        if await current(session_id) is None:
            return JSONResponse({"detail": "unknown session"}, status_code=404)
        missing = {"en", "km"} - {k for k, v in body.texts.items() if v.strip()}
        if missing:
            detail = [
                {"field": f"texts.{m}", "code": "required", "message": f"{m} text is required"}
                for m in sorted(missing)
            ]
            return JSONResponse({"detail": detail}, status_code=422)
        file_id = None
        if body.pdf_base64:
            try:
                pdf = base64.b64decode(body.pdf_base64, validate=True)
            except (ValueError, binascii.Error):
                pdf = b""
            if not pdf.startswith(b"%PDF-") or len(pdf) > 5_000_000:
                problem = {
                    "field": "pdf_base64",
                    "code": "invalid",
                    "message": "a base64 PDF of at most 5 MB",
                }
                return JSONResponse({"detail": [problem]}, status_code=422)
            bucket = AsyncGridFSBucket(db(), bucket_name=SESSION_FILES_BUCKET)
            file_id = str(await bucket.upload_from_stream(f"plan-{session_id}.pdf", pdf))
        event = PlanOfActionPublished(
            correlation_id=session_id,
            data=PlanOfActionPublishedData(
                session_id=session_id, texts=dict(body.texts), pdf_file_id=file_id, at=utcnow()
            ),
        )
        failed = await publish(event)
        return failed or JSONResponse({"session_id": session_id, "state": "sending"}, status_code=202)

    @app.get("/api/v1/operator/sessions", summary="Sessions with registration counts (operators)")
    async def list_sessions(authorization: Annotated[str | None, Header()] = None) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        items = []
        async for doc in db().sessions.find({}, {"join_link": 0}).sort("starts_at", 1):
            counts: dict[str, int] = {}
            async for reg in db().registrations.find({"session_id": doc["_id"]}, {"state": 1}):
                counts[reg.get("state", "registered")] = counts.get(reg.get("state", "registered"), 0) + 1
            items.append({**_jsonable(doc), "registrations": counts})
        return JSONResponse({"sessions": items})

    async def registrations_of(session_id: str) -> list[dict[str, Any]]:
        rows = []
        vault = await app.state.status.vault()

        async def opened(stored: dict[str, Any]) -> dict[str, Any] | None:
            try:
                return await open_fields(vault, stored)
            except PersonalDataUnreadable:  # erased (its key is gone): as if it were deleted
                return None

        stored = (
            await db().registrations.find({"session_id": session_id}).sort("submitted_at", 1).to_list(None)
        )
        for reg in await asyncio.gather(*(opened(doc) for doc in stored)):
            if reg is None:
                continue
            registrant = reg.get("registrant") or {}
            rows.append(
                {
                    "registration_id": reg["_id"],
                    "name": registrant.get("name", ""),
                    "language": registrant.get("language", ""),
                    "country": registrant.get("country", ""),
                    "channels": registrant.get("channels", []),
                    "state": reg.get("state", "registered"),
                    "ideas": reg.get("ideas", ""),
                    "submitted_at": reg.get("submitted_at"),
                }
            )
        return rows

    @app.get(
        "/api/v1/operator/sessions/{session_id}/registrations",
        summary="Registrations and their ideas, without contact details (operators)",
    )
    async def list_registrations(
        session_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        if await current(session_id) is None:
            return JSONResponse({"detail": "unknown session"}, status_code=404)
        return JSONResponse(_jsonable({"registrations": await registrations_of(session_id)}))

    @app.post(
        "/api/v1/operator/sessions/{session_id}/registrations/{registration_id}/cancel",
        status_code=202,
        summary="Cancel someone's registration for them, e.g. after a phone call (operators)",
        responses={404: {"description": "Unknown session or registration"}},
    )
    async def cancel_for_registrant(
        session_id: str, registration_id: str, authorization: Annotated[str | None, Header()] = None
    ) -> JSONResponse:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        found = await db().registrations.find_one({"_id": registration_id, "session_id": session_id})
        if found is None:
            return JSONResponse({"detail": "unknown registration"}, status_code=404)
        if found.get("state") == "cancelled":
            return JSONResponse({"registration_id": registration_id, "state": "cancelled"})
        event = RegistrationCancelled(
            correlation_id=session_id,
            data=RegistrationCancelledData(
                registration_id=registration_id, session_id=session_id, at=utcnow()
            ),
        )
        failed = await publish(event)
        return failed or JSONResponse(
            {"registration_id": registration_id, "state": "cancelling"}, status_code=202
        )

    @app.get("/api/v1/operator/sessions/{session_id}/ideas.csv", summary="Submitted ideas as CSV (operators)")
    async def ideas_csv(session_id: str, authorization: Annotated[str | None, Header()] = None) -> Response:
        denied = operator_denied(settings, authorization)
        if denied is not None:
            return denied
        if await current(session_id) is None:
            return JSONResponse({"detail": "unknown session"}, status_code=404)
        out = io.StringIO()
        writer = FormulaSafeWriter(out)
        writer.writerow(["submitted_at", "name", "language", "country", "state", "ideas"])
        for row in await registrations_of(session_id):
            if not row["ideas"].strip():
                continue
            at = row["submitted_at"].isoformat() if isinstance(row["submitted_at"], datetime) else ""
            writer.writerow([at, *(row[k] for k in ("name", "language", "country", "state", "ideas"))])
        return Response(
            "\ufeff" + out.getvalue(),  # BOM: spreadsheets then read Khmer as UTF-8
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="ideas-{session_id}.csv"'},
        )

    # ---- public ----------------------------------------------------------------------------

    def t_for(language: Lang) -> Any:
        def t(key: str, **values: Any) -> str:
            table = TEXT if key in TEXT else SUBSCRIBE_TEXT if key in SUBSCRIBE_TEXT else None
            text = table[key][language] if table else ui(key, language)
            return text.format(**values) if values else text

        return t

    def language_of(request: Request, lang: str | None) -> Lang:
        return pick_language(
            lang, request.cookies.get("samleng_lang"), request.headers.get("accept-language")
        )

    def view(doc: dict[str, Any], language: str, zone: str) -> dict[str, Any]:
        texts = doc["texts"].get(language) or doc["texts"]["en"]
        return {
            "id": doc["_id"],
            "title": texts["title"],
            "description": texts.get("description", ""),
            "kind": doc["kind"],
            "mode": doc["mode"],
            "place": released_place(doc),
            "status": doc.get("status", "scheduled"),
            "starts": shown(doc["starts_at"], zone, language),
            "ends": shown(doc["ends_at"], zone, language),
            "starts_iso": doc["starts_at"].astimezone(UTC).isoformat(),
        }

    def registration_state(doc: dict[str, Any], zone: str, language: str) -> tuple[str, str | None]:
        now = utcnow()
        if doc.get("status") in ("cancelled", "completed") or now >= doc["starts_at"]:
            return "closed", None
        closes = doc.get("registration_closes_at")
        if closes is not None and now >= closes:
            return "closed", None
        opens = doc.get("registration_opens_at")
        if opens is not None and now < opens:
            return "not_open", shown(opens, zone, language)
        return "open", None

    def page(name: str, language: Lang, zone: str, status: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(name).render(
            lang=language,
            other_lang="km" if language == "en" else "en",
            t=t_for(language),
            zone=zone,
            time_zones=TIME_ZONES,
            countries=countries(language),
            channels=REGISTRATION_CHANNELS,
            **context,
        )
        response = HTMLResponse(html, status_code=status)
        response.set_cookie("samleng_tz", zone, max_age=365 * 86400, samesite="lax")
        return response

    @app.get("/sessions", response_class=HTMLResponse, include_in_schema=False)
    async def calendar_page(request: Request, lang: str | None = None, tz: str | None = None) -> HTMLResponse:
        language, zone = language_of(request, lang), viewer_zone(request, tz)
        now = utcnow()
        since = now - timedelta(days=PAST_DAYS)
        docs = await db().sessions.find({"ends_at": {"$gte": since}}, {"join_link": 0}).to_list(None)
        months, past = calendar_sections(docs, now, language, zone)
        return page(
            "sessions.html",
            language,
            zone,
            months=[CalendarMonth(m.heading, [view(d, language, zone) for d in m.sessions]) for m in months],
            past=[view(d, language, zone) for d in past],
        )

    @app.get("/sessions.ics", include_in_schema=False)
    async def calendar_feed(lang: str | None = None) -> Response:
        language = lang if lang in ("en", "km") else "en"
        events = [
            session_event({**doc, "place": released_place(doc)}, language)
            async for doc in db().sessions.find({}, {"join_link": 0})
        ]
        name = TEXT["calendar_title"][language]
        return Response(calendar(events, name), media_type="text/calendar; charset=utf-8")

    @app.get("/sessions/{session_id}.ics", include_in_schema=False)
    async def session_ics(session_id: str, lang: str | None = None) -> Response:
        doc = await current(session_id)
        if doc is None:
            return Response("unknown session", status_code=404)
        language = lang if lang in ("en", "km") else "en"
        event = session_event({**doc, "place": released_place(doc)}, language)
        body = calendar([event], doc["texts"][language]["title"])
        return Response(
            body,
            media_type="text/calendar; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{session_id}.ics"'},
        )

    async def session_page(
        request: Request, session_id: str, lang: str | None, tz: str | None, status: int = 200, **context: Any
    ) -> HTMLResponse:
        language, zone = language_of(request, lang), viewer_zone(request, tz)
        doc = await current(session_id)
        if doc is None:
            return page("session.html", language, zone, 404, session=None)
        state, opens = registration_state(doc, zone, language)
        full = False
        if doc.get("capacity"):
            taken = await db().registrations.count_documents(
                {"session_id": session_id, "state": "registered"}
            )
            full = taken >= int(doc["capacity"])
        defaults = {"language": language, "time_zone": zone, "channels": ["email"]}
        context.setdefault("values", defaults)
        context.setdefault("errors", {})
        context.setdefault("error_list", [])
        return page(
            "session.html", language, zone, status, session=view(doc, language, zone), registration=state,
            opens=opens, full=full, **context,
        )  # fmt: skip

    async def cancel_page(request: Request, token: str, lang: str | None, confirm: bool) -> HTMLResponse:
        language, zone = language_of(request, lang), viewer_zone(request, None)
        registration = registration_of_cancel_token(secret, token)
        found = await db().registrations.find_one({"_id": registration}) if registration else None
        doc = await current(found["session_id"]) if found else None
        if found is None or doc is None:
            return page("session_cancel.html", language, zone, 404, state="unknown", token=None, session=None)
        session = view(doc, language, zone)
        if found["state"] == "cancelled":
            return page("session_cancel.html", language, zone, state="cancelled", token=None, session=session)
        if not confirm:
            return page("session_cancel.html", language, zone, state="ask", token=token, session=session)
        event = RegistrationCancelled(
            correlation_id=found["session_id"],
            data=RegistrationCancelledData(
                registration_id=found["_id"], session_id=found["session_id"], at=utcnow()
            ),
        )
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return page(
                "session_cancel.html", language, zone, 503, state="retry", token=token, session=session
            )
        return page("session_cancel.html", language, zone, state="cancelled", token=None, session=session)

    @app.get("/sessions/cancel/{token}", response_class=HTMLResponse, include_in_schema=False)
    async def cancel_ask(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        return await cancel_page(request, token, lang, confirm=False)

    @app.post(
        "/sessions/cancel/{token}",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED],
    )
    async def cancel_registration(request: Request, token: str, lang: str | None = None) -> HTMLResponse:
        return await cancel_page(request, token, lang, confirm=True)

    @app.get("/sessions/{session_id}", response_class=HTMLResponse, include_in_schema=False)
    async def one_session(
        request: Request, session_id: str, lang: str | None = None, tz: str | None = None
    ) -> HTMLResponse:
        return await session_page(request, session_id, lang, tz)

    def validate(raw: RegistrationInput, language: Lang) -> tuple[Registrant | None, list[FieldError]]:
        errors = _Problems(language)
        name = clean_name(raw.name, errors)
        country = raw.country.strip().upper()
        if not country or len(country) != 2 or country not in {c for c, _ in countries(language)}:
            errors.add("country", "country_required")
            country = ""
        email = phone = None
        if raw.email and raw.email.strip():
            from email_validator import EmailNotValidError, validate_email

            try:
                email = validate_email(raw.email.strip(), check_deliverability=False).normalized
            except EmailNotValidError:
                errors.add("email", "email_invalid")
        if raw.phone and raw.phone.strip():
            phone = clean_phone(raw.phone.strip(), country, errors, language)
        channels: list[str] = []
        for channel in raw.channels:
            if channel and channel not in REGISTRATION_CHANNELS:
                errors.add("channels", "channel_not_offered")
            elif channel and channel not in channels:
                channels.append(channel)
        if not channels:
            errors.add("channels", "channels_required")
        if "email" in channels and not email and not any(e.field == "email" for e in errors.items):
            errors.items.append(
                FieldError(field="email", code="email_needed", message=ERRORS_HERE["email_needed"][language])
            )
        if (
            {"signal", "whatsapp"} & set(channels)
            and not phone
            and not any(e.field == "phone" for e in errors.items)
        ):
            errors.add("phone", "phone_required")
        if not email and not phone and not errors.items:
            errors.items.append(
                FieldError(
                    field="email", code="contact_required", message=ERRORS_HERE["contact_required"][language]
                )
            )
        if raw.language not in ("en", "km"):
            errors.add("language", "language_invalid")
        try:
            ZoneInfo(raw.time_zone)
        except (ZoneInfoNotFoundError, ValueError):
            errors.add("time_zone", "time_zone_invalid")
        if len(raw.ideas) > 5000:
            errors.items.append(
                FieldError(
                    field="ideas", code="ideas_too_long", message=ERRORS_HERE["ideas_too_long"][language]
                )
            )
        if not raw.consent:
            errors.add("consent", "consent_required")
        if errors.items:
            return None, errors.items
        return (
            Registrant(
                name=name,
                language=raw.language,
                country=country,
                time_zone=raw.time_zone,
                contact=Contact(email=email, phone=phone),
                channels=channels,
            ),
            [],
        )

    async def register(
        session_id: str, raw: RegistrationInput, language: Lang
    ) -> tuple[int, dict[str, Any], list[FieldError]]:
        doc = await current(session_id)
        if doc is None:
            return 404, {"detail": "unknown session"}, []
        registrant, errors = validate(raw, language)
        state, _ = registration_state(doc, "UTC", language)
        if state != "open":
            errors = [
                *errors,
                FieldError(
                    field="session",
                    code="registration_closed",
                    message=ERRORS_HERE["registration_closed"][language],
                ),
            ]
        if registrant is None or errors:
            return 422, {}, errors
        rid = registration_id(secret, session_id, registrant.contact)
        event = RegistrationSubmitted(
            correlation_id=session_id,
            data=RegistrationSubmittedData(
                registration_id=rid,
                session_id=session_id,
                registrant=registrant,
                ideas=raw.ideas.strip(),
                consent=Consent(
                    text_version=settings.consent_text_version, locale=language, accepted_at=utcnow()
                ),
                submitted_at=utcnow(),
                cancel_url=f"{base()}/sessions/cancel/{cancel_token(secret, rid)}",
            ),
            event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"samleng:{rid}:{raw.ideas.strip()}"),
        )
        try:
            await app.state.gateway.publish(event)
        except Unavailable:
            return 503, {"detail": "not handed over; retry"}, []
        return (
            202,
            {
                "registration_id": rid,
                "session_id": session_id,
                "ics_url": f"{base()}/sessions/{session_id}.ics",
            },
            [],
        )

    @app.post(
        "/sessions/{session_id}/register",
        response_class=HTMLResponse,
        include_in_schema=False,
        dependencies=[CSRF_REQUIRED],
    )
    async def register_form(
        request: Request, session_id: str, lang: str | None = None, tz: str | None = None
    ) -> HTMLResponse:
        language = language_of(request, lang)
        form = await request.form()
        raw = RegistrationInput(
            name=str(form.get("name", ""))[:10_000],
            country=str(form.get("country", ""))[:100],
            email=str(form.get("email", ""))[:1000] or None,
            phone=str(form.get("phone", ""))[:1000] or None,
            channels=[
                str(form.get(f"channel_{rank}", ""))[:40] for rank in (1, 2, 3) if form.get(f"channel_{rank}")
            ],
            language=str(form.get("language", language))[:10],
            time_zone=str(form.get("time_zone", "UTC"))[:100],
            ideas=str(form.get("ideas", ""))[:20_000],
            consent=form.get("consent") == "yes",
        )
        status, body, errors = await register(session_id, raw, language)
        values = {**raw.model_dump(), "consent": "yes" if raw.consent else ""}
        if status == 202:
            return await session_page(request, session_id, lang, tz, done=body, values=values)
        grouped: dict[str, list[str]] = {}
        for error in errors:
            grouped.setdefault(error.field, []).append(error.message)
        return await session_page(
            request, session_id, lang, tz, status, values=values, errors=grouped, error_list=errors,
            retry=status == 503,
        )  # fmt: skip

    @app.post(
        "/api/v1/sessions/{session_id}/registrations",
        status_code=202,
        summary="Register for a session",
        responses={
            401: {"description": "Unknown or revoked partner key (X-Samleng-Key)"},
            403: {"description": "The partner key does not allow the request's Origin"},
            404: {"description": "Unknown session"},
            422: {"description": "Invalid field(s) or closed"},
            429: {"description": "Too many registrations with this partner key"},
        },
        dependencies=[Depends(partner_key)],  # a partner key, when sent: checked and counted first
    )
    async def register_api(
        request: Request, session_id: str, body: RegistrationInput, lang: str | None = None
    ) -> JSONResponse:
        language = pick_language(lang, None, request.headers.get("accept-language"))
        status, answer, errors = await register(session_id, body, language)
        if errors:
            return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=status)
        return JSONResponse(answer, status_code=status)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {("session_id" if k == "_id" else k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
