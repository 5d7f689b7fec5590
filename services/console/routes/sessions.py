"""Operator routes: sessions, their registrations and ideas, the Plan of Action.

    POST  /sessions                                  create and publish it (202); `?draft=true`:
                                                     keep it as a draft instead (201)
    PUT   /sessions/{id}                             rewrite a draft
    POST  /sessions/{id}/publish                     publish a draft (safe to repeat)
    PATCH /sessions/{id}                             change it; new times = rescheduled
    POST  /sessions/{id}/cancel                      cancel it (registrants are told)
    POST  /sessions/{id}/complete                    mark it held
    POST  /sessions/{id}/plan-of-action              the Plan of Action, to every registrant
    GET   /sessions                                  sessions with registration counts; drafts
    GET   /sessions/{id}/registrations               registrations and their ideas (no contacts)
    POST  /sessions/{id}/registrations/{rid}/cancel  cancel someone's registration for them
    GET   /sessions/{id}/ideas.csv                   the ideas as a spreadsheet

Permissions: drafting `sessions.draft` (editors); publishing, changing, cancelling, completing,
the Plan of Action and cancelling a registration `sessions.publish`; the list `dashboard.read`
(counts, no personal data); registrations and ideas `members.read_personal`, each read audited
(`registrations.read`, `ideas.read`: the session and how many rows, nothing else).

Operators' changes are handed to the bus: `session.published.v1` (full state, versioned),
`registration.cancelled.v1`, `session.plan_published.v1` (its optional PDF stored first in the
GridFS bucket `session_files`, which the console writes and the event names: the channels read it). The
event-scheduler keeps `sessions` and `registrations`, read here as read models
(services/console/read_models.py; a registration's personal fields are sealed: opened with the
console's vault; one whose key was erased is left out, as gone).
Drafts are the operators' own working copies, kept in `session_drafts` until published.

What operators do is plain functions (`create`, `rewrite`, `publish`, `change`, `send_plan`,
`overview`, `registrations`, `cancel_registration`, `ideas_table`) that raise `Refused` (problems per field) or an
HTTPException: the JSON routes here and the pages (services/console/web/sessions.py) both call them.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from gridfs import AsyncGridFSBucket
from pydantic import AwareDatetime, BaseModel, Field, field_validator

from services.console.auth import (
    Caller,
    Principal,
    body_schema,
    console_of,
    hand_over,
    json_body,
    permit,
    require,
)
from services.console.permissions import Permission
from services.console.read_models import (
    REGISTRATION_ROWS,
    REGISTRATIONS,
    SESSIONS,
    SESSIONS_LISTED,
    SessionKept,
    present,
)
from shared.contracts import utcnow
from shared.contracts.session import (
    DEFAULT_REMINDER_MINUTES,
    PlanOfActionPublished,
    PlanOfActionPublishedData,
    RegistrationCancelled,
    RegistrationCancelledData,
    Session,
    SessionChange,
    SessionKind,
    SessionMode,
    SessionPublished,
    SessionPublishedData,
    SessionText,
    is_session_id,
    new_session_id,
)
from shared.csv_safety import FormulaSafeWriter
from shared.http_limits import configured_limit
from shared.read_models import opened

Problem = dict[str, str]
PDF_MAX_BYTES = 5_000_000
SESSION_FILES_BUCKET = "session_files"  # GridFS bucket of Plan of Action PDFs; events name it

AUDIT_ACTION: dict[str, str] = {
    "created": "session.published",
    "updated": "session.changed",
    "rescheduled": "session.changed",
    "cancelled": "session.cancelled",
    "completed": "session.completed",
}

router = APIRouter(tags=["sessions"])


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


class SessionAccepted(BaseModel):
    session_id: str = Field(examples=["ss_0f1e2d3c4b5a69788796"])
    public_url: str
    version: int


class SessionDrafted(BaseModel):
    session_id: str
    state: Literal["draft"] = "draft"


class SessionChanged(BaseModel):
    session_id: str
    change: SessionChange
    status: str
    version: int


class PlanAccepted(BaseModel):
    session_id: str
    state: Literal["sending"] = "sending"


# ---- the rules (no I/O) -------------------------------------------------------------------------


def problems_of(session: dict[str, Any]) -> list[Problem]:
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


def creation(
    body: SessionInput, session_id: str, public_url: str, now: datetime
) -> tuple[SessionPublishedData | None, list[Problem]]:
    """A new session, version 1, as it is published; or what is wrong with it."""
    fields = {**body.model_dump(), "session_id": session_id, "public_url": public_url}
    problems = problems_of(fields)
    if body.starts_at <= now:
        problems.append(
            {"field": "starts_at", "code": "past", "message": "the session must start in the future"}
        )
    if problems:
        return None, problems
    session = Session(**fields, status="scheduled", version=1)
    return SessionPublishedData(session=session, change="created", at=now), []


def revision(
    stored: SessionKept, updates: dict[str, Any], kind: SessionChange | None, now: datetime
) -> tuple[SessionPublishedData | None, list[Problem]]:
    """The stored session's next version with `updates` (new times: rescheduled) or as `kind`
    says (cancelled, completed); or what is wrong with it."""
    fields = {k: v for k, v in present(stored).items() if k in Session.model_fields}
    fields.update(updates)
    moved = fields["starts_at"] != stored.starts_at or fields["ends_at"] != stored.ends_at
    problems = problems_of(fields)
    if moved and fields["starts_at"] <= now:
        problems.append(
            {"field": "starts_at", "code": "past", "message": "the new start must be in the future"}
        )
    if problems:
        return None, problems
    change: SessionChange = kind or ("rescheduled" if moved else "updated")
    status = {"cancelled": "cancelled", "completed": "completed", "rescheduled": "rescheduled"}.get(
        change, fields.get("status", "scheduled")
    )
    fields.update(status=status, version=stored.version + 1)
    return SessionPublishedData(
        session=Session.model_validate(fields),
        change=change,
        previous_starts_at=stored.starts_at if moved else None,
        at=now,
    ), []


def plan_problems(texts: dict[str, str], pdf: bytes | None, pdf_field: str = "pdf_base64") -> list[Problem]:
    """What is wrong with a Plan of Action: both texts are needed; a PDF, if any, is one of at
    most 5 MB (`pdf_field` names the field that carried it)."""
    missing = {"en", "km"} - {k for k, v in texts.items() if v.strip()}
    if missing:
        return [
            {"field": f"texts.{m}", "code": "required", "message": f"{m} text is required"}
            for m in sorted(missing)
        ]
    if pdf is not None and (not pdf.startswith(b"%PDF-") or len(pdf) > PDF_MAX_BYTES):
        return [{"field": pdf_field, "code": "invalid", "message": "a PDF of at most 5 MB"}]
    return []


def plan_pdf(body: PlanInput) -> tuple[bytes | None, list[Problem]]:
    """The Plan of Action's PDF (None without one); or what is wrong with the plan."""
    pdf = None
    if body.pdf_base64:
        try:
            pdf = base64.b64decode(body.pdf_base64, validate=True)
        except (ValueError, binascii.Error):
            pdf = b""
    problems = plan_problems({str(k): v for k, v in body.texts.items()}, pdf)
    for problem in problems:
        if problem["field"] == "pdf_base64":
            problem["message"] = "a base64 PDF of at most 5 MB"
    return (None, problems) if problems else (pdf, [])


def jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {("session_id" if k == "_id" else k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


class Refused(Exception):
    """The operator's input is inconsistent; each problem names its field (`texts.km`,
    `starts_at`, …). The JSON routes answer 422 with them, the pages show them on their fields."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__(", ".join(p["field"] for p in problems))
        self.problems = problems


def refused(problems: list[Problem]) -> JSONResponse:
    return JSONResponse({"detail": problems}, status_code=422)


# ---- reading what the event-scheduler keeps ---------------------------------------------------


async def current(request: Request, session_id: str) -> SessionKept:
    """The session as the event-scheduler keeps it; 404 when there is none."""
    found = await kept(request, session_id)
    if found is None:
        raise HTTPException(404, "unknown session")
    return found


async def kept(request: Request, session_id: str) -> SessionKept | None:
    """The session as the event-scheduler keeps it, or None (not (yet) kept)."""
    if not is_session_id(session_id):
        return None
    return await SESSIONS.find_one(console_of(request).db, {"_id": session_id})


async def registrations_of(request: Request, session_id: str) -> list[dict[str, Any]]:
    """A session's registrations, oldest first, opened (an erased one is left out), without contacts."""
    console = console_of(request)
    stored = await REGISTRATION_ROWS.all(console.db, {"session_id": session_id}, sort=[("submitted_at", 1)])
    rows = []
    for reg in await asyncio.gather(*(opened(console.vault, found) for found in stored)):
        if reg is None:  # erased (its key is gone): as if it were deleted
            continue
        registrant = reg.registrant or {}
        rows.append(
            {
                "registration_id": reg.id,
                "name": registrant.get("name", ""),
                "language": registrant.get("language", ""),
                "country": registrant.get("country", ""),
                "channels": registrant.get("channels", []),
                "state": reg.state,
                "ideas": reg.ideas,
                "submitted_at": reg.submitted_at,
            }
        )
    return rows


async def registration_counts(db: Any, session_id: str | None = None) -> dict[str, dict[str, int]]:
    """Registrations per session and state (no personal data: states only)."""
    counts: dict[str, dict[str, int]] = {}
    async for reg in REGISTRATIONS.find(db, {} if session_id is None else {"session_id": session_id}):
        per_state = counts.setdefault(str(reg.session_id), {})
        per_state[reg.state] = per_state.get(reg.state, 0) + 1
    return counts


# ---- what operators do (the JSON routes below and the pages, services/console/web/sessions.py) --


async def create(
    request: Request, who: Principal, body: SessionInput, draft: bool
) -> SessionAccepted | SessionDrafted:
    """A new session, published at once or kept as a draft; `Refused` when it is inconsistent.
    Publishing needs `sessions.publish`: the caller checked it."""
    session_id = new_session_id()
    if not draft:
        return await publish_new(request, who, session_id, body)
    problems = problems_of(body.model_dump())
    if problems:
        raise Refused(problems)
    await save_draft(request, who, session_id, body, "session.drafted")
    return SessionDrafted(session_id=session_id)


async def publish_new(
    request: Request, who: Principal, session_id: str, body: SessionInput
) -> SessionAccepted:
    console = console_of(request)
    public_url = f"{console.settings.public_site_url.rstrip('/')}/sessions/{session_id}"
    data, problems = creation(body, session_id, public_url, utcnow())
    if data is None:
        raise Refused(problems)
    event = SessionPublished(
        correlation_id=session_id,
        data=data,
        event_id=uuid.uuid5(uuid.NAMESPACE_URL, f"samleng:{session_id}:created"),
    )
    await hand_over(request, who, event)
    await console.audit.record(
        who.event("session.published", "session", session_id, change="created", version=1)
    )
    return SessionAccepted(session_id=session_id, public_url=public_url, version=1)


async def save_draft(
    request: Request, who: Principal, session_id: str, body: SessionInput, action: str
) -> None:
    console = console_of(request)
    now = utcnow()
    await console.db.session_drafts.update_one(
        {"_id": session_id},
        {
            "$set": {"input": body.model_dump(), "updated_at": now},
            "$setOnInsert": {"state": "draft", "created_at": now},
        },
        upsert=True,
    )
    await console.audit.record(who.event(action, "session", session_id))


async def draft_of(request: Request, session_id: str) -> dict[str, Any]:
    """A draft as stored (`state` draft or published, `input` the SessionInput's fields); 404
    when there is none."""
    stored: dict[str, Any] | None = await console_of(request).db.session_drafts.find_one(
        {"_id": session_id[:40]}
    )
    if stored is None:
        raise HTTPException(404, "unknown draft")
    return stored


async def rewrite(request: Request, who: Principal, session_id: str, body: SessionInput) -> SessionDrafted:
    """The draft rewritten; 404 without one, 409 once published, `Refused` when inconsistent."""
    stored = await draft_of(request, session_id)
    if stored.get("state") != "draft":
        raise HTTPException(409, "already published: change it with PATCH")
    problems = problems_of(body.model_dump())
    if problems:
        raise Refused(problems)
    await save_draft(request, who, session_id, body, "session.draft_rewritten")
    return SessionDrafted(session_id=session_id)


async def publish(request: Request, who: Principal, session_id: str) -> SessionAccepted | None:
    """The draft published (None: it was already); 404 without one, `Refused` when it no
    longer holds (its start has passed meanwhile)."""
    stored = await draft_of(request, session_id)
    if stored.get("state") != "draft":
        return None
    accepted = await publish_new(request, who, session_id, SessionInput.model_validate(stored["input"]))
    await console_of(request).db.session_drafts.update_one(  # handed over: no longer editable
        {"_id": session_id, "state": "draft"}, {"$set": {"state": "published", "published_at": utcnow()}}
    )
    return accepted


async def change(
    request: Request,
    who: Principal,
    session_id: str,
    updates: dict[str, Any],
    kind: SessionChange | None = None,
) -> SessionChanged:
    """The session's next version with `updates` (new times: rescheduled), or cancelled or
    completed (`kind`); 404 unknown, 409 cancelled or completed already, `Refused` when inconsistent."""
    stored = await current(request, session_id)
    if stored.status in ("cancelled", "completed"):
        raise HTTPException(409, f"the session is {stored.status}")
    data, problems = revision(stored, updates, kind, utcnow())
    if data is None:
        raise Refused(problems)
    await hand_over(request, who, SessionPublished(correlation_id=session_id, data=data))
    session = data.session
    await console_of(request).audit.record(
        who.event(
            AUDIT_ACTION[data.change], "session", session_id, change=data.change, version=session.version
        )
    )
    return SessionChanged(
        session_id=session_id, change=data.change, status=session.status, version=session.version
    )


async def send_plan(
    request: Request, who: Principal, session_id: str, texts: dict[str, str], pdf: bytes | None
) -> None:
    """The Plan of Action (checked: `plan_problems`) to every registrant; its PDF stored first."""
    console = console_of(request)
    file_id = None
    if pdf is not None:
        bucket = AsyncGridFSBucket(console.db, bucket_name=SESSION_FILES_BUCKET)
        file_id = str(await bucket.upload_from_stream(f"plan-{session_id}.pdf", pdf))
    event = PlanOfActionPublished(
        correlation_id=session_id,
        data=PlanOfActionPublishedData(
            session_id=session_id,
            texts={"en": texts["en"], "km": texts["km"]},
            pdf_file_id=file_id,
            pdf_bucket=SESSION_FILES_BUCKET if file_id is not None else None,
            at=utcnow(),
        ),
    )
    await hand_over(request, who, event)
    await console.audit.record(
        who.event("session.plan_of_action", "session", session_id, pdf=file_id is not None)
    )


async def overview(request: Request) -> dict[str, list[dict[str, Any]]]:
    """Every session with its registration counts per state (no join links, nobody's data), and
    the drafts (without join links), as JSON-ready values."""
    db = console_of(request).db
    counts = await registration_counts(db)
    sessions = [
        {
            **jsonable({"session_id": session.id, **present(session)}),
            "registrations": counts.get(session.id, {}),
        }
        async for session in SESSIONS_LISTED.find(db, {}, sort=[("starts_at", 1)])
    ]
    drafts = []
    async for stored in db.session_drafts.find({"state": "draft"}).sort("created_at", 1):
        fields = {k: v for k, v in stored["input"].items() if k != "join_link"}
        drafts.append(
            jsonable(
                {"session_id": stored["_id"], "state": "draft", **fields, "updated_at": stored["updated_at"]}
            )
        )
    return {"sessions": sessions, "drafts": drafts}


async def registrations(request: Request, who: Principal, session_id: str) -> list[dict[str, Any]]:
    """The session's registrations (no contacts), the read audited with its count; 404 unknown."""
    await current(request, session_id)
    rows = await registrations_of(request, session_id)
    await console_of(request).audit.record(
        who.event("registrations.read", "session", session_id, session_id=session_id, count=len(rows))
    )
    return rows


async def cancel_registration(request: Request, who: Principal, session_id: str, registration_id: str) -> str:
    """Cancel someone's registration for them: `cancelling` (handed over), or `cancelled` when it
    was already; 404 unknown."""
    console = console_of(request)
    found = await REGISTRATIONS.find_one(console.db, {"_id": registration_id, "session_id": session_id})
    if found is None:
        raise HTTPException(404, "unknown registration")
    if found.state == "cancelled":
        return "cancelled"
    event = RegistrationCancelled(
        correlation_id=session_id,
        data=RegistrationCancelledData(registration_id=registration_id, session_id=session_id, at=utcnow()),
    )
    await hand_over(request, who, event)
    await console.audit.record(
        who.event("registration.cancelled", "registration", registration_id, session_id=session_id)
    )
    return "cancelling"


async def ideas_table(request: Request, who: Principal, session_id: str) -> str:
    """The ideas sent in advance as CSV text (formula-safe, with a BOM so spreadsheets read Khmer
    as UTF-8), the read audited with its count; 404 unknown."""
    await current(request, session_id)
    out = io.StringIO()
    writer = FormulaSafeWriter(out)
    writer.writerow(["submitted_at", "name", "language", "country", "state", "ideas"])
    written = 0
    for row in await registrations_of(request, session_id):
        if not row["ideas"].strip():
            continue
        at = row["submitted_at"].isoformat() if isinstance(row["submitted_at"], datetime) else ""
        writer.writerow([at, *(row[k] for k in ("name", "language", "country", "state", "ideas"))])
        written += 1
    await console_of(request).audit.record(
        who.event("ideas.read", "session", session_id, session_id=session_id, count=written)
    )
    return "\ufeff" + out.getvalue()


def ideas_response(session_id: str, table: str) -> Response:
    return Response(
        table,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="ideas-{session_id}.csv"'},
    )


# ---- the JSON routes ------------------------------------------------------------------------------


async def may_create(
    request: Request,
    who: Caller,
    draft: Annotated[
        bool, Query(description="Keep it as a draft (`sessions.draft`) instead of publishing it.")
    ] = False,
) -> bool:
    """Publishing needs `sessions.publish`; checked before the body is read."""
    if not draft:
        await require(Permission.sessions_publish)(request, who)
    return draft


@router.post(
    "/sessions",
    status_code=202,
    response_model=SessionAccepted,
    dependencies=[permit(Permission.sessions_draft)],
    openapi_extra=body_schema(SessionInput),
    responses={
        201: {"model": SessionDrafted, "description": "Kept as a draft (`?draft=true`)"},
        403: {"description": "Publishing needs `sessions.publish`"},
        422: {"description": "Invalid: each problem names its field"},
        503: {"description": "Not handed over; retry"},
    },
    summary="Create and publish a session, or keep it as a draft",
)
async def create_session(
    request: Request,
    who: Caller,
    draft: Annotated[bool, Depends(may_create)],
    body: Annotated[SessionInput, Depends(json_body(SessionInput))],
) -> JSONResponse:
    try:
        made = await create(request, who, body, draft)
    except Refused as invalid:
        return refused(invalid.problems)
    return JSONResponse(made.model_dump(), status_code=201 if draft else 202)


@router.put(
    "/sessions/{session_id}",
    response_model=SessionDrafted,
    dependencies=[permit(Permission.sessions_draft)],
    openapi_extra=body_schema(SessionInput),
    responses={404: {"description": "No such draft"}, 409: {"description": "Already published"}},
    summary="Rewrite a draft session",
)
async def rewrite_draft(
    request: Request,
    who: Caller,
    session_id: str,
    body: Annotated[SessionInput, Depends(json_body(SessionInput))],
) -> JSONResponse:
    try:
        drafted = await rewrite(request, who, session_id, body)
    except Refused as invalid:
        return refused(invalid.problems)
    return JSONResponse(drafted.model_dump())


@router.post(
    "/sessions/{session_id}/publish",
    status_code=202,
    response_model=SessionAccepted,
    dependencies=[permit(Permission.sessions_publish)],
    responses={
        200: {"description": "Published already"},
        404: {"description": "No such draft"},
        422: {"description": "Invalid (e.g. its start has passed meanwhile)"},
    },
    summary="Publish a draft session (safe to repeat)",
)
async def publish_draft(request: Request, who: Caller, session_id: str) -> JSONResponse:
    try:
        accepted = await publish(request, who, session_id)
    except Refused as invalid:
        return refused(invalid.problems)
    if accepted is None:
        return JSONResponse({"session_id": session_id, "state": "published"})
    return JSONResponse(accepted.model_dump(), status_code=202)


async def changed(
    request: Request,
    who: Principal,
    session_id: str,
    updates: dict[str, Any],
    kind: SessionChange | None = None,
) -> JSONResponse:
    try:
        done = await change(request, who, session_id, updates, kind)
    except Refused as invalid:
        return refused(invalid.problems)
    return JSONResponse(done.model_dump(), status_code=202)


CHANGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown session"},
    409: {"description": "The session is cancelled or completed"},
    503: {"description": "Not handed over; retry"},
}


@router.patch(
    "/sessions/{session_id}",
    status_code=202,
    response_model=SessionChanged,
    dependencies=[permit(Permission.sessions_publish)],
    openapi_extra=body_schema(SessionChangeInput),
    responses={**CHANGE_RESPONSES, 422: {"description": "Invalid: each problem names its field"}},
    summary="Change or reschedule a session",
)
async def patch_session(
    request: Request,
    who: Caller,
    session_id: str,
    body: Annotated[SessionChangeInput, Depends(json_body(SessionChangeInput))],
) -> JSONResponse:
    return await changed(request, who, session_id, body.model_dump(exclude_unset=True))


@router.post(
    "/sessions/{session_id}/cancel",
    status_code=202,
    response_model=SessionChanged,
    dependencies=[permit(Permission.sessions_publish)],
    responses=CHANGE_RESPONSES,
    summary="Cancel a session (registrants are told)",
)
async def cancel_session(request: Request, who: Caller, session_id: str) -> JSONResponse:
    return await changed(request, who, session_id, {}, "cancelled")


@router.post(
    "/sessions/{session_id}/complete",
    status_code=202,
    response_model=SessionChanged,
    dependencies=[permit(Permission.sessions_publish)],
    responses=CHANGE_RESPONSES,
    summary="Mark a session held",
)
async def complete_session(request: Request, who: Caller, session_id: str) -> JSONResponse:
    return await changed(request, who, session_id, {}, "completed")


@router.post(
    "/sessions/{session_id}/plan-of-action",
    status_code=202,
    response_model=PlanAccepted,
    dependencies=[permit(Permission.sessions_publish)],
    openapi_extra={**body_schema(PlanInput), **configured_limit("plan_of_action_max_bytes")},
    responses={
        404: {"description": "Unknown session"},
        413: {"description": "Body too large"},
        422: {"description": "Invalid: each problem names its field"},
        503: {"description": "Not handed over; retry"},
    },
    summary="Send the Plan of Action to every registrant",
)
async def plan_of_action(
    request: Request, who: Caller, session_id: str, body: Annotated[PlanInput, Depends(json_body(PlanInput))]
) -> JSONResponse:
    await current(request, session_id)
    pdf, problems = plan_pdf(body)
    if problems:
        return refused(problems)
    await send_plan(request, who, session_id, {str(k): v for k, v in body.texts.items()}, pdf)
    return JSONResponse(PlanAccepted(session_id=session_id).model_dump(), status_code=202)


@router.get(
    "/sessions",
    dependencies=[permit(Permission.dashboard_read)],
    summary="Sessions with registration counts (no join links, no personal data), and drafts",
)
async def list_sessions(request: Request) -> dict[str, list[dict[str, Any]]]:
    return await overview(request)


@router.get(
    "/sessions/{session_id}/registrations",
    dependencies=[permit(Permission.members_read_personal)],
    responses={404: {"description": "Unknown session"}},
    summary="Registrations and their ideas, without contact details (audited)",
)
async def list_registrations(request: Request, who: Caller, session_id: str) -> JSONResponse:
    return JSONResponse(jsonable({"registrations": await registrations(request, who, session_id)}))


@router.post(
    "/sessions/{session_id}/registrations/{registration_id}/cancel",
    status_code=202,
    dependencies=[permit(Permission.sessions_publish)],
    responses={
        200: {"description": "Cancelled already"},
        404: {"description": "Unknown session or registration"},
        503: {"description": "Not handed over; retry"},
    },
    summary="Cancel someone's registration for them, e.g. after a phone call",
)
async def cancel_for_registrant(
    request: Request, who: Caller, session_id: str, registration_id: Annotated[str, Path(max_length=80)]
) -> JSONResponse:
    state = await cancel_registration(request, who, session_id, registration_id)
    return JSONResponse(
        {"registration_id": registration_id, "state": state},
        status_code=202 if state == "cancelling" else 200,
    )


@router.get(
    "/sessions/{session_id}/ideas.csv",
    dependencies=[permit(Permission.members_read_personal)],
    responses={200: {"content": {"text/csv": {}}}, 404: {"description": "Unknown session"}},
    summary="Submitted ideas as CSV (audited)",
)
async def ideas_csv(request: Request, who: Caller, session_id: str) -> Response:
    return ideas_response(session_id, await ideas_table(request, who, session_id))
