"""Sessions on the public site (operators schedule them in the console, services/console/routes/
sessions.py).

    GET   /sessions                                     public calendar (EN/KM, viewer's time zone)
    GET   /sessions/{id}                                one session, with the registration form
    POST  /sessions/{id}/register                       register (form); also
    POST  /api/v1/sessions/{id}/registrations           (JSON; partners send X-Samleng-Key)
    GET   /sessions/{id}.ics, /sessions.ics             iCalendar: one session, all sessions
    GET   /sessions/cancel/{token}                      a registrant cancels (asks first; POST does it);
                                                        the link stops working once the session has
                                                        ended or was called off (`session_over`, 410)

Intake stays a gateway: registrations are `registration.submitted.v1`, cancellations
`registration.cancelled.v1`. The event-scheduler keeps `sessions` and `registrations`; intake
reads them through read_models.py: `PublicSession` (a session without its join link; the page
helpers take it as a dict, `model_dump()`, the Session contract's fields) and a registration's
plain id, session and state. A registration's id derives
from the session and the person's email or phone, so registering twice is one registration.
The join link is never shown on the public site: registrants receive it at its release time; the
place (in person, hybrid) appears on the public pages and feeds only from that time on.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from jinja2 import Environment
from pydantic import BaseModel, Field

from services.intake.i18n import pick_language, ui
from services.intake.limits import keyed_submission_limit, link_limit, submission_limit
from services.intake.partners import partner_key
from services.intake.read_models import REGISTRATIONS, SESSIONS
from services.intake.settings import IntakeSettings
from services.intake.subscriptions import DISCREET_CHOICES, _Problems
from services.intake.subscriptions import TEXT as SUBSCRIBE_TEXT
from shared.calendar import calendar, session_event
from shared.channels.catalogue import carrying, spec
from shared.contracts import utcnow
from shared.contracts.languages import Lang, countries
from shared.contracts.pledge import DISCREET_DESCRIPTION, Consent, Contact, is_discreet
from shared.contracts.pledge_input import (
    FieldError,
    clean_name,
    clean_phone,
    labels,
    offered_channels,
    refused_channels,
    require_contacts,
)
from shared.contracts.session import (
    TIME_ZONES,
    Registrant,
    RegistrationCancelled,
    RegistrationCancelledData,
    RegistrationSubmitted,
    RegistrationSubmittedData,
    details_release_time,
    is_session_id,
)
from shared.http_errors import NOT_JSON_TEXT, refusals
from shared.messaging.gateway import Unavailable
from shared.web_security import CSRF_REQUIRED

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
    "opt_in_hint": {
        "en": "{channels} works only if you have already written to our page.",
        "km": "{channels} ដំណើរការបាន លុះត្រាតែអ្នកបានសរសេរទៅទំព័ររបស់យើងរួចហើយ។",
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
    "expired_cancel": {
        "en": "This session is over or was called off, so this link no longer works.",
        "km": "វគ្គនេះបានបញ្ចប់ ឬត្រូវបានលុបចោលហើយ ដូច្នេះតំណនេះលែងដំណើរការទៀតហើយ។",
    },
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
    "registration_closed": {"en": "Registration is closed.", "km": "ការចុះឈ្មោះបានបិទ។"},
    "ideas_too_long": {
        "en": "Please keep ideas under 5,000 characters.",
        "km": "សូមសរសេរគំនិតតិចជាង 5000 តួអក្សរ។",
    },
}


class RegistrationInput(BaseModel):
    name: str = Field(default="", max_length=10_000)
    country: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)
    channels: list[str] = Field(default_factory=list, max_length=10, description="In order of preference.")
    language: str = Field(default="en", max_length=10)
    time_zone: str = Field(default="UTC", max_length=100)
    ideas: str = Field(default="", max_length=20_000)
    discreet: bool | None = Field(default=None, strict=True, description=DISCREET_DESCRIPTION)
    consent: bool = False


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


def session_over(session: dict[str, Any], now: datetime) -> bool:
    """Whether a registrant's cancel link has stopped working: the session ended, or operators
    called it off or marked it held."""
    return session.get("status") in ("cancelled", "completed") or now >= _aware(session["ends_at"])


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # Mongo may hand back naive UTC


def add_session_routes(app: FastAPI, settings: IntakeSettings, templates: Environment, secret: bytes) -> None:
    def db() -> Any:
        return app.state.status.database()

    def base() -> str:
        return settings.public_base_url.rstrip("/")

    async def current(session_id: str) -> dict[str, Any] | None:
        if not is_session_id(session_id):
            return None
        found = await SESSIONS.find_one(db(), {"_id": session_id})
        return found.model_dump() if found is not None else None

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
            "id": doc["session_id"],
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
            channels=carrying("reminder"),  # the channels that carry reminders, by their declarations
            opt_in_channels=labels(
                [c for c in carrying("reminder") if spec(c).address_kind == "psid"], language
            ),
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
        docs = [found.model_dump() async for found in SESSIONS.find(db(), {"ends_at": {"$gte": since}})]
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
        docs = [found.model_dump() async for found in SESSIONS.find(db(), {})]
        events = [session_event({**doc, "place": released_place(doc)}, language) for doc in docs]
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
            taken = await REGISTRATIONS.count(db(), {"session_id": session_id, "state": "registered"})
            full = taken >= int(doc["capacity"])
        defaults = {"language": language, "time_zone": zone, "channels": list(carrying("reminder")[:1])}
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
        found = await REGISTRATIONS.find_one(db(), {"_id": registration}) if registration else None
        doc = await current(found.session_id) if found is not None else None
        if found is None or doc is None:
            return page("session_cancel.html", language, zone, 404, state="unknown", token=None, session=None)
        if session_over(doc, utcnow()):  # the link ends with its session: nothing about it shown
            return page("session_cancel.html", language, zone, 410, state="expired", token=None, session=None)
        session = view(doc, language, zone)
        if found.state == "cancelled":
            return page("session_cancel.html", language, zone, state="cancelled", token=None, session=session)
        if not confirm:
            return page("session_cancel.html", language, zone, state="ask", token=token, session=session)
        event = RegistrationCancelled(
            correlation_id=found.session_id,
            data=RegistrationCancelledData(
                registration_id=found.id, session_id=found.session_id, at=utcnow()
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
        dependencies=[CSRF_REQUIRED, Depends(link_limit)],
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
        channels = offered_channels([c for c in raw.channels if c], "reminder", errors, "channel_not_offered")
        if not channels and not any(e.field == "channels" for e in errors.items):
            errors.add("channels", "channels_required")
        refused = refused_channels(channels, "reminder", country, is_discreet(raw.discreet, country), errors)
        usable = [c for c in channels if c not in refused]
        require_contacts(usable, {"email": bool(email), "phone": bool(phone)}, errors)
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
                discreet=raw.discreet,
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
        dependencies=[CSRF_REQUIRED, Depends(submission_limit)],
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
            discreet=DISCREET_CHOICES.get(str(form.get("discreet", "auto"))),
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
            **refusals({400: NOT_JSON_TEXT}),
            401: {"description": "Unknown or revoked partner key (X-Samleng-Key)"},
            403: {"description": "The partner key does not allow the request's Origin"},
            404: {"description": "Unknown session"},
            422: {"description": "Invalid field(s) or closed"},
            429: {"description": "Too many registrations from this address, or with this partner key"},
        },
        # a partner key, when sent: checked and counted first; without one, the address's limit
        dependencies=[Depends(partner_key), Depends(keyed_submission_limit)],
    )
    async def register_api(
        request: Request, session_id: str, body: RegistrationInput, lang: str | None = None
    ) -> JSONResponse:
        language = pick_language(lang, None, request.headers.get("accept-language"))
        status, answer, errors = await register(session_id, body, language)
        if errors:
            return JSONResponse({"detail": [e.model_dump() for e in errors]}, status_code=status)
        return JSONResponse(answer, status_code=status)
