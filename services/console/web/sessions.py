"""Sessions on the web: the calendar, the form (create, draft, change, reschedule), the session's
page (registrations without names or contacts, the ideas export, the Plan of Action, what each
registrant will receive and when), cancel and mark held.

    GET  /sessions                       calendar: upcoming by month, past apart; drafts for editors
    GET  /sessions/new                   the form                                   sessions.draft
    POST /sessions/new                   save as draft (sessions.draft) or publish (sessions.publish)
    GET  /sessions/drafts/{id}           a draft in the form                        sessions.draft
    POST /sessions/drafts/{id}           rewrite it, or publish it                  sessions.draft
    GET  /sessions/{id}                  the session's page                         dashboard.read
    GET  /sessions/{id}/counts           its registration counts as shown (JSON, for
                                         static/sessions.js to update the page)     dashboard.read
    GET  /sessions/{id}/edit             the form, filled                           sessions.publish
    POST /sessions/{id}/edit             change it (new times: rescheduled)         sessions.publish
    POST /sessions/{id}/reschedule       new times only                             sessions.publish
    POST /sessions/{id}/cancel           cancel (a ticked confirmation)             sessions.publish
    POST /sessions/{id}/complete         mark it held                               sessions.publish
    POST /sessions/{id}/plan             the Plan of Action (multipart, PDF)        sessions.publish
    GET  /sessions/{id}/registrations/{rid}/cancel   confirm cancelling it          sessions.publish
    POST /sessions/{id}/registrations/{rid}/cancel   cancel someone's registration  sessions.publish
                                                     (confirmed: `confirm=true`)

Everything is done by the operator API's functions (services/console/routes/sessions.py): the
same checks, events, audit events. The form is turned into the API's `SessionInput`; its
problems come back on their fields, in the page's language. Registrations show state, language
and channels, never names or contacts (reading them needs `members.read_personal` and is
audited); the ideas export is the API's CSV route.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, get_args
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from babel.numbers import format_decimal
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from starlette.datastructures import FormData, UploadFile

from services.console.auth import Caller, Principal, console_of, permit, require
from services.console.permissions import Permission, allows
from services.console.read_models import REGISTRATIONS, SessionKept, SessionListed
from services.console.routes.sessions import (
    Refused,
    SessionInput,
    cancel_registration,
    change,
    create,
    draft_of,
    kept,
    overview,
    plan_problems,
    publish,
    registration_counts,
    registrations,
    rewrite,
    send_plan,
)
from services.console.web.channels import channel_names
from services.console.web.rendering import language_of, render
from services.console.web.words import word
from shared.contracts import utcnow
from shared.contracts.languages import LANGUAGES, Lang
from shared.contracts.session import (
    TIME_ZONES,
    SessionKind,
    SessionMode,
    details_release_time,
    has_join_link,
    reminder_offsets,
)
from shared.http_limits import configured_limit
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

KINDS: tuple[str, ...] = get_args(SessionKind)
MODES: tuple[str, ...] = get_args(SessionMode)
REMINDER_PRESETS: tuple[int, ...] = (7 * 24 * 60, 3 * 24 * 60, 24 * 60, 3 * 60, 60, 15)
MOMENTS = ("starts_at", "ends_at", "join_link_release_at", "registration_opens_at", "registration_closes_at")
CHANGEABLE = (
    "texts", "starts_at", "ends_at", "mode", "place", "join_link", "join_link_release_at",
    "registration_opens_at", "registration_closes_at", "capacity", "reminder_minutes", "reminder_seconds",
)  # fmt: skip  # SessionChangeInput's fields: the kind of a published session stays
DONE = ("published", "drafted", "changed", "rescheduled", "cancelled", "completed", "plan", "registration")
Errors = dict[str, list[str]]


# ---- what each registrant will receive, and when (no I/O) -------------------------------------


@dataclass(frozen=True)
class Message:
    """One message of a session's schedule: at a time (`at`) or when something happens (`on`)."""

    kind: str
    at: datetime | None = None
    on: str | None = None
    seconds_before: int | None = None
    carries: tuple[str, ...] = ()
    to: str = "registered"  # registered | everyone | waitlisted
    passed: bool = False


def schedule(session: SessionListed, has_link: bool, now: datetime) -> list[Message]:
    """What a registrant receives, in the event-scheduler's order and by its rules: the
    confirmation on registering; the join link (online, hybrid) at its release time; a reminder
    at each offset before the start (carrying the link or the place once released); a new time
    or the cancellation when they happen; the Plan of Action when sent. The waiting list gets
    the confirmation, changes and cancellation, and a message when a seat frees; anyone whose
    registration is cancelled (by them, or by an operator for them) is told."""
    release = details_release_time(session.starts_at, session.join_link_release_at)
    online = has_join_link(session.mode)

    def carried(due: datetime) -> tuple[str, ...]:
        """What a message due then carries: the link and the place only from their release."""
        if due < release:
            return ()
        return (
            *(("link",) if online and has_link else ()),
            *(("place",) if session.place and session.mode != "online" else ()),
        )

    messages = [Message("confirmation", on="registering", to="everyone")]
    if online:  # in person: no message of its own; the place rides on those due after the release
        messages.append(Message("join-link", at=release, carries=carried(release), passed=release <= now))
    for seconds in reminder_offsets(session.reminder_seconds, session.reminder_minutes):
        due = session.starts_at - timedelta(seconds=seconds)
        messages.append(
            Message("reminder", at=due, seconds_before=seconds, carries=carried(due), passed=due <= now)
        )
    messages.sort(key=lambda m: (m.at is not None, m.at or now))
    messages += [
        Message("promoted", on="seat", to="waitlisted"),
        Message("rescheduled", on="moved", to="everyone"),
        Message("cancelled", on="cancelled", to="everyone"),
        Message("plan-of-action", on="plan"),
        Message("registration-cancelled", on="withdrawn", to="everyone"),
    ]
    return messages


def duration(seconds: int, lang: Lang) -> str:
    """`seconds` as people say it: 7 days, 1 hour, 90 minutes, 20 seconds."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            n = seconds // size
            return word(f"sessions_{unit}", lang) if n == 1 else word(f"sessions_{unit}s", lang, n=n)
    return word("sessions_seconds", lang, n=seconds)


# ---- the calendar sections (no I/O) -----------------------------------------------------------


@dataclass
class Month:
    heading: str
    sessions: list[dict[str, Any]]


def sections(
    sessions: list[dict[str, Any]], now: datetime, lang: Lang, zone: str
) -> tuple[list[Month], list[dict[str, Any]]]:
    """Sessions still to come (or under way), soonest first, by month in the console's time zone;
    past ones (ended, or marked held) apart, most recent first."""
    upcoming: list[dict[str, Any]] = []
    past: list[dict[str, Any]] = []
    for session in sessions:
        ends = datetime.fromisoformat(session["ends_at"])
        (upcoming if ends > now and session.get("status") != "completed" else past).append(session)
    upcoming.sort(key=lambda s: s["starts_at"])
    past.sort(key=lambda s: s["starts_at"], reverse=True)
    months: list[Month] = []
    for session in upcoming:
        starts = datetime.fromisoformat(session["starts_at"])
        heading = str(format_datetime(starts, "LLLL y", tzinfo=ZoneInfo(zone), locale=lang))
        if not months or months[-1].heading != heading:
            months.append(Month(heading, []))
        months[-1].sessions.append(session)
    return months, past


# ---- the form <-> the API's SessionInput -------------------------------------------------------


def local_text(moment: datetime | None, zone: str) -> str:
    """A time as the form shows it (`datetime-local`), in `zone`; seconds only when it has some."""
    if moment is None:
        return ""
    local = moment.astimezone(ZoneInfo(zone))
    return local.strftime("%Y-%m-%dT%H:%M:%S" if local.second else "%Y-%m-%dT%H:%M")


def numbers_text(values: list[int] | None) -> str:
    return ", ".join(str(v) for v in values or [])


def form_of(fields: Mapping[str, Any], zone: str) -> dict[str, Any]:
    """The form's values of a session or draft (the SessionInput's fields)."""
    texts = fields.get("texts") or {}
    values: dict[str, Any] = {
        "kind": fields.get("kind", ""),
        "mode": fields.get("mode", ""),
        "time_zone": zone,
    }
    for lang in LANGUAGES:
        text = texts.get(lang) or {}
        values[f"texts.{lang}.title"] = text.get("title", "")
        values[f"texts.{lang}.description"] = text.get("description", "")
    for name in MOMENTS:
        values[name] = local_text(fields.get(name), zone)
    values["place"] = fields.get("place") or ""
    values["join_link"] = fields.get("join_link") or ""
    values["capacity"] = "" if fields.get("capacity") is None else str(fields["capacity"])
    minutes = list(fields.get("reminder_minutes") or [])
    values["reminder_minutes"] = [str(m) for m in minutes if m in REMINDER_PRESETS]
    values["reminder_minutes_other"] = numbers_text([m for m in minutes if m not in REMINDER_PRESETS])
    values["reminder_seconds"] = numbers_text(fields.get("reminder_seconds"))
    return values


def blank_form(zone: str) -> dict[str, Any]:
    return form_of({"kind": "hearing", "mode": "online", "reminder_minutes": [10080, 1440, 60]}, zone)


def submitted(form: FormData) -> dict[str, Any]:
    """The form as sent, to show it again (the reminder boxes as a list)."""
    values: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    values["reminder_minutes"] = [v for v in form.getlist("reminder_minutes") if isinstance(v, str)]
    return values


def _numbers(text: str) -> list[int] | None:
    try:
        return [int(part) for part in text.replace(" ", "").split(",") if part]
    except ValueError:
        return None


def moments(
    values: Mapping[str, Any], names: tuple[str, ...], lang: Lang, stored: SessionKept | None = None
) -> tuple[dict[str, datetime | None], Errors]:
    """The times of the form (`names`), in its time zone, and what could not be read (in
    `lang`). A time the form shows as it was (`stored`) keeps its stored value: saving the form
    unchanged moves nothing."""
    errors: Errors = {}
    zone_name = str(values.get("time_zone") or "")
    try:
        zone = ZoneInfo(zone_name)
    except (ZoneInfoNotFoundError, ValueError):
        return {}, {"time_zone": [word("sessions_error_time_zone", lang)]}
    found: dict[str, datetime | None] = {}
    for name in names:
        text = str(values.get(name) or "").strip()
        before = getattr(stored, name, None) if stored is not None else None
        if before is not None and text == local_text(before, zone_name):
            found[name] = before
        elif not text:
            found[name] = None
            if name in ("starts_at", "ends_at"):
                errors[name] = [word("sessions_error_required", lang)]
        else:
            try:
                moment = datetime.fromisoformat(text.replace(" ", "T"))
            except ValueError:
                errors[name] = [word("sessions_error_datetime", lang)]
                continue
            found[name] = moment if moment.tzinfo else moment.replace(tzinfo=zone)
    return found, errors


def parsed(
    values: Mapping[str, Any], lang: Lang, stored: SessionKept | None = None
) -> tuple[dict[str, Any], Errors]:
    """The SessionInput's fields of the form, and what could not be read (in `lang`)."""
    times, errors = moments(values, MOMENTS, lang, stored)

    def fail(field: str, key: str) -> None:
        errors.setdefault(field, []).append(word(key, lang))

    data: dict[str, Any] = {
        "kind": values.get("kind", ""),
        "mode": values.get("mode", ""),
        "place": str(values.get("place") or "").strip(),
        "join_link": str(values.get("join_link") or "").strip() or None,
        "texts": {
            lang_: {
                "title": str(values.get(f"texts.{lang_}.title") or "").strip(),
                "description": str(values.get(f"texts.{lang_}.description") or "").strip(),
            }
            for lang_ in LANGUAGES
        },
        **times,
    }
    for lang_ in LANGUAGES:
        if not data["texts"][lang_]["title"]:
            fail(f"texts.{lang_}.title", "sessions_error_text_missing")
    capacity = str(values.get("capacity") or "").strip()
    if capacity:
        if capacity.isdigit():
            data["capacity"] = int(capacity)
        else:
            fail("capacity", "sessions_error_number")
    minutes = [int(v) for v in values.get("reminder_minutes") or [] if str(v).isdigit()]
    other = _numbers(str(values.get("reminder_minutes_other") or ""))
    if other is None:
        fail("reminder_minutes_other", "sessions_error_numbers")
    data["reminder_minutes"] = sorted({*minutes, *(other or [])}, reverse=True)
    seconds = _numbers(str(values.get("reminder_seconds") or ""))
    if seconds is None:
        fail("reminder_seconds", "sessions_error_numbers")
    data["reminder_seconds"] = seconds or None
    return data, errors


PROBLEM_WORDS = {
    "before-start": "sessions_error_before-start",
    "after-start": "sessions_error_after-start",
    "before-opening": "sessions_error_before-opening",
    "past": "sessions_error_past",
    "invalid": "sessions_error_reminders",
}


def problem_errors(problems: list[dict[str, str]], lang: Lang) -> Errors:
    """The API's problems (`{"field", "code", "message"}`) on the form's fields, in `lang`."""
    errors: Errors = {}
    for problem in problems:
        field, code = problem["field"], problem.get("code", "")
        if field in ("texts.en", "texts.km"):
            field, key = f"{field}.title", "sessions_error_text_missing"
        elif field == "place":
            key = "sessions_error_place"
        else:
            key = PROBLEM_WORDS.get(code, "")
        errors.setdefault(field, []).append(word(key, lang) if key else problem["message"])
    return errors


def validation_errors(invalid: ValidationError, lang: Lang) -> Errors:
    """The model's errors on the form's fields, in `lang` where we know them."""
    errors: Errors = {}
    for error in invalid.errors(include_input=False, include_url=False):
        loc = [str(part) for part in error["loc"] if not isinstance(part, int)]
        field = ".".join(loc) or "form"
        kind = error["type"]
        if field == "join_link":
            message = word("sessions_error_link", lang) if kind == "value_error" else error["msg"]
        elif kind == "string_too_long":
            message = word("sessions_error_too_long", lang, max=error.get("ctx", {}).get("max_length", ""))
        elif field == "capacity":
            message = word("sessions_error_capacity", lang)
        elif kind in ("literal_error", "enum"):
            message = word("sessions_error_choice", lang)
        elif kind == "missing":
            message = word("sessions_error_required", lang)
        elif field.startswith("reminder_"):
            message = word("sessions_error_reminders", lang)
        else:
            message = error["msg"]
        errors.setdefault(field, []).append(message)
    return errors


FORM_ORDER = (
    "kind", "texts.en.title", "texts.en.description", "texts.km.title", "texts.km.description", "time_zone",
    *MOMENTS[:2], "mode", "place", "join_link", *MOMENTS[2:], "capacity", "reminder_minutes",
    "reminder_minutes_other", "reminder_seconds",
)  # fmt: skip


def in_form_order(errors: Errors) -> Errors:
    """The errors in the order of their fields on the form (the summary reads top to bottom)."""
    rank = {name: i for i, name in enumerate(FORM_ORDER)}
    return dict(sorted(errors.items(), key=lambda item: rank.get(item[0], len(rank))))


def session_input(
    values: Mapping[str, Any], lang: Lang, stored: SessionKept | None = None
) -> tuple[SessionInput | None, Errors]:
    data, errors = parsed(values, lang, stored)
    try:
        body = SessionInput.model_validate(data)
    except ValidationError as invalid:
        for field, messages in validation_errors(invalid, lang).items():
            if field not in errors and not (field in MOMENTS and data.get(field) is None):
                errors[field] = messages
        return None, in_form_order(errors)
    return (body, {}) if not errors else (None, in_form_order(errors))


# ---- pages ---------------------------------------------------------------------------------------


def zone_of(request: Request) -> str:
    return str(console_of(request).settings.time_zone)


def form_page(
    request: Request,
    who: Principal,
    values: Mapping[str, Any],
    errors: Errors,
    action: str,
    purpose: str,
    status: int = 200,
    **context: Any,
) -> Response:
    lang = language_of(request)
    return render(
        request,
        "sessions/form.html",
        who=who,
        status=status,
        values=values,
        errors=errors,
        action=action,
        purpose=purpose,
        kinds=[(k, word(f"sessions_kind_{k}", lang)) for k in KINDS],
        modes=[(m, word(f"sessions_mode_{m}", lang)) for m in MODES],
        time_zones=[(z, z) for z in sorted({*TIME_ZONES, str(values.get("time_zone") or "UTC")})],
        presets=[(str(m), duration(m * 60, lang)) for m in REMINDER_PRESETS],
        **context,
    )


@router.get("/sessions", dependencies=[permit(Permission.dashboard_read)])
async def calendar(request: Request, who: Caller) -> Response:
    lang, zone = language_of(request), zone_of(request)
    found = await overview(request)
    months, past = sections(found["sessions"], utcnow(), lang, zone)
    drafts = found["drafts"] if allows(who.operator.role, Permission.sessions_draft) else []
    return render(
        request,
        "sessions/calendar.html",
        who=who,
        months=months,
        past=past,
        drafts=drafts,
        moment=datetime.fromisoformat,
    )


@router.get("/sessions/new", dependencies=[permit(Permission.sessions_draft)])
async def new_form(request: Request, who: Caller) -> Response:
    return form_page(request, who, blank_form(zone_of(request)), {}, "/sessions/new", "new")


async def may_publish(request: Request, who: Principal, form: FormData) -> bool:
    """Whether the form asks to publish (then the role must have `sessions.publish`: 403 page)."""
    if form.get("action") != "publish":
        return False
    await require(Permission.sessions_publish)(request, who)
    return True


@router.post("/sessions/new", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_draft)])
async def create_from_form(request: Request, who: Caller) -> Response:
    form = await request.form()
    publishing = await may_publish(request, who, form)
    values, lang = submitted(form), language_of(request)
    body, errors = session_input(values, lang)
    status = 422
    if body is not None:
        try:
            made = await create(request, who, body, draft=not publishing)
        except Refused as invalid:
            errors = in_form_order(problem_errors(invalid.problems, lang))
        except HTTPException as failed:
            status, errors = not_done(failed, None, lang)
        else:
            if publishing:
                return RedirectResponse(f"/sessions/{made.session_id}?done=published", status_code=303)
            return RedirectResponse(f"/sessions/drafts/{made.session_id}?done=drafted", status_code=303)
    return form_page(request, who, values, errors, "/sessions/new", "new", status=status)


@router.get("/sessions/drafts/{session_id}", dependencies=[permit(Permission.sessions_draft)])
async def draft_form(request: Request, who: Caller, session_id: str, done: str | None = None) -> Response:
    stored = await draft_of(request, session_id)
    if stored.get("state") != "draft":
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    values = form_of(stored["input"], zone_of(request))
    return form_page(
        request,
        who,
        values,
        {},
        f"/sessions/drafts/{session_id}",
        "draft",
        done=done if done in DONE else None,
    )


@router.post("/sessions/drafts/{session_id}", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_draft)])
async def save_draft_form(request: Request, who: Caller, session_id: str) -> Response:
    form = await request.form()
    publishing = await may_publish(request, who, form)
    values, lang = submitted(form), language_of(request)
    action = f"/sessions/drafts/{session_id}"
    body, errors = session_input(values, lang)
    status = 422
    if body is not None:
        try:
            await rewrite(request, who, session_id, body)
            if publishing:
                await publish(request, who, session_id)
        except Refused as invalid:
            errors = in_form_order(problem_errors(invalid.problems, lang))
        except HTTPException as failed:
            if failed.status_code == 409:  # published meanwhile (by someone else): its page
                return RedirectResponse(f"/sessions/{session_id}", status_code=303)
            status, errors = not_done(failed, None, lang)
        else:
            done = f"/sessions/{session_id}?done=published" if publishing else f"{action}?done=drafted"
            return RedirectResponse(done, status_code=303)
    return form_page(request, who, values, errors, action, "draft", status=status)


COUNTED = ("registered", "waitlisted", "cancelled")
"""The registration states the session's page counts."""


def counts_shown(session: SessionKept, counts: Mapping[str, int], lang: Lang) -> dict[str, str]:
    """The page's counts as it shows them (numbers in `lang`), and the seats left ("seats")."""
    shown = {state: format_decimal(counts.get(state, 0), locale=lang) for state in COUNTED}
    if session.capacity is None:
        shown["seats"] = word("sessions_unlimited", lang)
    else:
        left = max(session.capacity - counts.get("registered", 0), 0)
        shown["seats"] = word(
            "sessions_seats_left",
            lang,
            left=format_decimal(left, locale=lang),
            capacity=format_decimal(session.capacity, locale=lang),
        )
    return shown


async def session_page(
    request: Request,
    who: Principal,
    session: SessionKept,
    status: int = 200,
    errors: Errors | None = None,
    values: Mapping[str, Any] | None = None,
    done: str | None = None,
    plan: Mapping[str, str] | None = None,
) -> Response:
    lang, zone = language_of(request), zone_of(request)
    console = console_of(request)
    counts = (await registration_counts(console.db, session.id)).get(session.id, {})
    rows = None
    if allows(who.operator.role, Permission.members_read_personal):
        rows = [  # no names, countries or ideas on the page: states, languages, channels
            {
                "registration_id": row["registration_id"],
                "state": row["state"],
                "language": row["language"],
                "channels": row["channels"],
                "submitted_at": row["submitted_at"],
                "has_ideas": bool(str(row["ideas"]).strip()),
            }
            for row in await registrations(request, who, session.id)
        ]
    plans = [
        event
        async for event in console.db.audit_events.find(
            {"action": "session.plan_of_action", "object_id": session.id}
        ).sort("at", 1)
    ]
    active = session.status in ("scheduled", "rescheduled")
    reschedule = values or {
        "starts_at": local_text(session.starts_at, zone),
        "ends_at": local_text(session.ends_at, zone),
        "time_zone": zone,
    }
    return render(
        request,
        "sessions/session.html",
        who=who,
        channel_name=channel_names(request),
        status=status,
        session=session,
        title=(session.texts.get(lang) or session.texts["en"])["title"],
        counted=COUNTED,
        shown_counts=counts_shown(session, counts, lang),
        rows=rows,
        plans=plans,
        active=active,
        messages=schedule(session, bool(session.join_link), utcnow()),
        release=details_release_time(session.starts_at, session.join_link_release_at),
        duration=lambda seconds: duration(seconds, lang),
        errors=errors or {},
        values=reschedule,
        time_zones=[(z, z) for z in sorted({*TIME_ZONES, str(reschedule.get("time_zone") or zone)})],
        done=done if done in DONE else None,
        plan=plan or {},
    )


async def the_session(request: Request, session_id: str) -> SessionKept:
    found = await kept(request, session_id)
    if found is None:
        raise HTTPException(404, "unknown session")
    return found


@router.get("/sessions/{session_id}", dependencies=[permit(Permission.dashboard_read)])
async def session_view(request: Request, who: Caller, session_id: str, done: str | None = None) -> Response:
    found = await kept(request, session_id)
    if found is not None:
        return await session_page(request, who, found, done=done)
    published = await console_of(request).db.audit_events.find_one(
        {"action": "session.published", "object_id": session_id[:40]}
    )
    if published is None:
        raise HTTPException(404, "unknown session")
    # handed over, not yet kept by the event-scheduler: say so, and look again (sessions.js)
    return render(request, "sessions/pending.html", who=who, session_id=session_id)


@router.get("/sessions/{session_id}/counts", dependencies=[permit(Permission.dashboard_read)])
async def session_counts(request: Request, who: Caller, session_id: str) -> JSONResponse:
    """The counts as the page shows them, for static/sessions.js (states only: no personal data)."""
    session = await the_session(request, session_id)
    counts = (await registration_counts(console_of(request).db, session.id)).get(session.id, {})
    shown = counts_shown(session, counts, language_of(request))
    return JSONResponse(shown, headers={"Cache-Control": "no-store"})


@router.get("/sessions/{session_id}/edit", dependencies=[permit(Permission.sessions_publish)])
async def edit_form(request: Request, who: Caller, session_id: str) -> Response:
    session = await the_session(request, session_id)
    if session.status not in ("scheduled", "rescheduled"):
        return RedirectResponse(f"/sessions/{session_id}", status_code=303)
    values = form_of(session.model_dump(), zone_of(request))
    return form_page(request, who, values, {}, f"/sessions/{session_id}/edit", "edit", session=session)


def closed(session: SessionKept, lang: Lang) -> Errors:
    status = word(f"sessions_status_{session.status}", lang).lower()
    return {"form": [word("sessions_error_closed", lang, status=status)]}


def not_done(failed: HTTPException, session: SessionKept | None, lang: Lang) -> tuple[int, Errors]:
    """A refusal a form shows on itself, still filled: the bus did not confirm (503: nothing was
    handed over, retry), or the session is cancelled or completed meanwhile (409). Others rise."""
    if failed.status_code == 503:
        return 503, {"form": [word("unavailable", lang)]}
    if failed.status_code == 409 and session is not None:
        return 409, closed(session, lang)
    raise failed


def notice(change: str) -> str:
    return "rescheduled" if change == "rescheduled" else change if change in DONE else "changed"


async def applied(
    request: Request, who: Caller, session_id: str, session: SessionKept, updates: dict[str, Any], lang: Lang
) -> Response | tuple[int, Errors]:
    """The change made (a redirect to the session's page, saying what was done), or the status
    and errors its form shows."""
    try:
        done = await change(request, who, session_id, updates)
    except Refused as invalid:
        return 422, in_form_order(problem_errors(invalid.problems, lang))
    except HTTPException as failed:
        return not_done(failed, session, lang)
    return RedirectResponse(f"/sessions/{session_id}?done={notice(done.change)}", status_code=303)


@router.post("/sessions/{session_id}/edit", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)])
async def edit(request: Request, who: Caller, session_id: str) -> Response:
    session = await the_session(request, session_id)
    form = await request.form()
    values, lang = submitted(form), language_of(request)
    action = f"/sessions/{session_id}/edit"
    body, errors = session_input({**values, "kind": session.kind}, lang, session)
    status = 422
    if body is not None:
        updates = {k: v for k, v in body.model_dump().items() if k in CHANGEABLE}
        outcome = await applied(request, who, session_id, session, updates, lang)
        if isinstance(outcome, Response):
            return outcome
        status, errors = outcome
    return form_page(request, who, values, errors, action, "edit", status=status, session=session)


@router.post(
    "/sessions/{session_id}/reschedule", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)]
)
async def reschedule(request: Request, who: Caller, session_id: str) -> Response:
    session = await the_session(request, session_id)
    form = await request.form()
    values, lang = submitted(form), language_of(request)
    times, errors = moments(values, ("starts_at", "ends_at"), lang, session)
    status = 422
    if not errors:
        outcome = await applied(request, who, session_id, session, times, lang)
        if isinstance(outcome, Response):
            return outcome
        status, errors = outcome
    return await session_page(request, who, session, status=status, errors=errors, values=values)


@router.post(
    "/sessions/{session_id}/cancel", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)]
)
async def cancel(request: Request, who: Caller, session_id: str) -> Response:
    return await ending(request, who, session_id, "cancelled")


@router.post(
    "/sessions/{session_id}/complete", dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)]
)
async def complete(request: Request, who: Caller, session_id: str) -> Response:
    return await ending(request, who, session_id, "completed")


async def ending(request: Request, who: Principal, session_id: str, kind: str) -> Response:
    session = await the_session(request, session_id)
    form = await request.form()
    lang = language_of(request)
    if kind == "cancelled" and form.get("confirm") != "true":
        errors = {"confirm": [word("sessions_error_confirm", lang)]}
        return await session_page(request, who, session, status=422, errors=errors)
    try:
        await change(request, who, session_id, {}, "cancelled" if kind == "cancelled" else "completed")
    except HTTPException as failed:
        status, errors = not_done(failed, session, lang)
        return await session_page(request, who, session, status=status, errors=errors)
    return RedirectResponse(f"/sessions/{session_id}?done={kind}", status_code=303)


@router.post(
    "/sessions/{session_id}/plan",
    dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)],
    openapi_extra=configured_limit("plan_of_action_max_bytes"),
)
async def plan(request: Request, who: Caller, session_id: str) -> Response:
    session = await the_session(request, session_id)
    form = await request.form()
    lang = language_of(request)
    texts: dict[str, str] = {lang_: str(form.get(f"texts.{lang_}") or "").strip() for lang_ in LANGUAGES}
    upload = form.get("pdf")
    pdf = None
    if isinstance(upload, UploadFile) and (upload.filename or upload.size):
        pdf = await upload.read()
    problems = plan_problems(texts, pdf, pdf_field="pdf")
    errors: Errors = {}
    status = 422
    for problem in problems:
        key = "sessions_error_pdf" if problem["field"] == "pdf" else "sessions_error_plan_text"
        errors.setdefault(problem["field"], []).append(word(key, lang))
    if not problems:
        try:
            await send_plan(request, who, session_id, texts, pdf)
        except HTTPException as failed:
            status, errors = not_done(failed, None, lang)
        else:
            return RedirectResponse(f"/sessions/{session_id}?done=plan", status_code=303)
    values = {f"texts.{k}": v for k, v in texts.items()}
    return await session_page(request, who, session, status=status, errors=errors, plan=values)


@router.get(
    "/sessions/{session_id}/registrations/{registration_id}/cancel",
    dependencies=[permit(Permission.sessions_publish)],
)
async def confirm_cancel_someone(
    request: Request,
    who: Caller,
    session_id: str,
    registration_id: str,
    n: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
) -> Response:
    """The confirmation a cancellation needs (the person is told): a page, no JavaScript."""
    session = await the_session(request, session_id)
    found = await REGISTRATIONS.find_one(
        console_of(request).db, {"_id": registration_id[:80], "session_id": session.id}
    )
    if found is None:
        raise HTTPException(404, "unknown registration")
    if found.state == "cancelled" or session.status not in ("scheduled", "rescheduled"):
        return RedirectResponse(f"/sessions/{quote(session.id, safe='')}", status_code=303)
    lang = language_of(request)
    return render(
        request,
        "sessions/cancel_registration.html",
        who=who,
        session=session,
        title=(session.texts.get(lang) or session.texts["en"])["title"],
        registration_id=registration_id[:80],
        n=n,
    )


@router.post(
    "/sessions/{session_id}/registrations/{registration_id}/cancel",
    dependencies=[CSRF_REQUIRED, permit(Permission.sessions_publish)],
)
async def cancel_someone(request: Request, who: Caller, session_id: str, registration_id: str) -> Response:
    await the_session(request, session_id)
    if (await request.form()).get("confirm") != "true":  # not confirmed: the page that asks
        return RedirectResponse(request.url.path, status_code=303)
    await cancel_registration(request, who, session_id, registration_id[:80])
    return RedirectResponse(f"/sessions/{session_id}?done=registration", status_code=303)
