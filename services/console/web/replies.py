"""The replies inbox on the web: chat replies newest first (not handled ones by default), one
reply with its answers and the answer form, marking handled.

    GET  /replies                   the inbox; ?show=open|handled|all, ?member=, ?before=   members.read_personal
                                    (&before_id=: the page after that reply, see below)
    GET  /replies/{id}              one reply: sender, text, answers given, the window     members.read_personal
    POST /replies/{id}/answer       `text`: answer on the same channel                     replies.answer
    POST /replies/{id}/handled      mark handled (`next`: where to go back)                replies.answer
    POST /replies/{id}/unhandled    mark not handled again                                 replies.answer

Everything is done by the operator API's functions (services/console/routes/replies.py): the same
window rule (409: the form comes back with why), the same idempotent answer (a double click is one
answer), the same audit events. A POST answers 303 to the reply's page or the inbox.

The inbox is paged with a cursor: the next page holds the replies after the last one shown in the
inbox's order (received_at, id), so replies of the same instant never fall between two pages.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import ValidationError

from services.console.auth import Caller, Principal, console_of, permit
from services.console.permissions import Permission
from services.console.routes.replies import (
    AnswerBody,
    NotAnswerable,
    Reply,
    answer,
    mark,
    older_than,
    replies,
)
from services.console.web.channels import channel_names
from services.console.web.rendering import language_of, render
from services.console.web.words import WORDS, word
from shared.contracts import utcnow
from shared.web_security import CSRF_REQUIRED

router = APIRouter()

PAGE = 50
SHOW = {"open": False, "handled": True, "all": None}


def remaining(closes_at: datetime | None, now: datetime) -> dict[str, int] | None:
    """How long an answer is still possible: whole hours, or minutes in the last hour."""
    if closes_at is None:
        return None
    seconds = max(0, int((closes_at - now).total_seconds()))
    return {"hours": seconds // 3600, "minutes": max(1, seconds // 60)}


def answer_errors(request: Request, invalid: ValidationError) -> dict[str, list[str]]:
    """The answer's field error in the page's language."""
    lang = language_of(request)
    too_long = any(e["type"] == "string_too_long" for e in invalid.errors())
    return {"text": [word("replies_answer_too_long" if too_long else "replies_answer_required", lang)]}


def state_labels(request: Request) -> dict[str, str]:
    """Delivery states in the page's language."""
    lang = language_of(request)
    prefix = "replies_state_"
    return {key.removeprefix(prefix): word(key, lang) for key in WORDS if key.startswith(prefix)}


async def operator_names(request: Request) -> dict[str, str]:
    return {o.id: o.display_name for o in await console_of(request).operators.all()}


async def one_reply(request: Request, who: Principal, reply_id: str) -> Reply:
    console = console_of(request)
    found, _ = await replies(console, {"_id": reply_id[:80]}, None, 1)
    await console.audit.record(who.event("replies.read", "replies", count=len(found)))
    if not found:
        raise HTTPException(404)
    return found[0]


async def reply_page(
    request: Request,
    who: Principal,
    reply: Reply,
    status: int = 200,
    errors: dict[str, list[str]] | None = None,
    text: str = "",
    refused: str | None = None,
    unsent: bool = False,
) -> HTMLResponse:
    outcome = request.query_params.get("done")
    return render(
        request,
        "replies/reply.html",
        who=who,
        channel_name=channel_names(request),
        status=status,
        reply=reply,
        names=await operator_names(request),
        states=state_labels(request),
        left=remaining(reply.window.closes_at if reply.window else None, utcnow()),
        errors=errors or {},
        text=text,
        refused=refused,
        unsent=unsent,
        done=outcome if outcome in ("answered", "already", "handled", "unhandled") else None,
    )


@router.get("/replies", dependencies=[permit(Permission.members_read_personal)])
async def inbox(request: Request, who: Caller) -> HTMLResponse:
    console = console_of(request)
    show = request.query_params.get("show", "open")
    show = show if show in SHOW else "open"
    query: dict[str, Any] = {}
    member = request.query_params.get("member", "")[:80]
    if member:
        query["member_id"] = member
    before = request.query_params.get("before", "")
    before_id = request.query_params.get("before_id", "")[:80] or None
    if before:
        try:
            query.update(older_than(datetime.fromisoformat(before), before_id))
        except ValueError:
            raise HTTPException(404) from None
    found, cursor = await replies(console, query, SHOW[show], PAGE)
    await console.audit.record(who.event("replies.read", "replies", count=len(found)))
    return render(
        request,
        "replies/list.html",
        who=who,
        channel_name=channel_names(request),
        replies=found,
        show=show,
        member=member,
        next_before=cursor.received_at.isoformat() if cursor else None,
        next_before_id=cursor.reply_id if cursor else None,
        names=await operator_names(request),
        states=state_labels(request),
        now=utcnow(),
        remaining=remaining,
    )


@router.get("/replies/{reply_id}", dependencies=[permit(Permission.members_read_personal)])
async def reply_view(request: Request, who: Caller, reply_id: str) -> HTMLResponse:
    return await reply_page(request, who, await one_reply(request, who, reply_id))


@router.post(
    "/replies/{reply_id}/answer",
    response_model=None,
    dependencies=[CSRF_REQUIRED, permit(Permission.replies_answer)],
)
async def answer_form(request: Request, who: Caller, reply_id: str) -> HTMLResponse | RedirectResponse:
    form = await request.form()
    text = form.get("text")
    text = text if isinstance(text, str) else ""
    try:
        body = AnswerBody(text=text)
    except ValidationError as invalid:
        reply = await one_reply(request, who, reply_id)
        return await reply_page(request, who, reply, 422, answer_errors(request, invalid), text)
    try:
        answered = await answer(request, who, reply_id, body.text)
    except NotAnswerable as refused:
        reply = await one_reply(request, who, reply_id)
        return await reply_page(request, who, reply, 409, {}, text, refused.reason)
    except HTTPException as away:
        if away.status_code != 503:
            raise
        reply = await one_reply(request, who, reply_id)  # the broker did not take it: keep the text
        return await reply_page(request, who, reply, 503, {}, text, unsent=True)
    done = "answered" if answered.state == "requested" else "already"
    return RedirectResponse(f"/replies/{answered.reply_id}?done={done}", status_code=303)


def back_to(reply_id: str, asked: object, done: str) -> str:
    """Where a mark sends the operator back: the inbox (its view) or the reply's page."""
    if isinstance(asked, str) and asked.startswith("/replies?") and "//" not in asked:
        return asked
    return f"/replies/{reply_id}?done={done}"


@router.post("/replies/{reply_id}/handled", dependencies=[CSRF_REQUIRED, permit(Permission.replies_answer)])
async def handled(request: Request, who: Caller, reply_id: str) -> RedirectResponse:
    form = await request.form()
    state = await mark(console_of(request), who, reply_id, True)
    return RedirectResponse(back_to(state.reply_id, form.get("next"), "handled"), status_code=303)


@router.post("/replies/{reply_id}/unhandled", dependencies=[CSRF_REQUIRED, permit(Permission.replies_answer)])
async def unhandled(request: Request, who: Caller, reply_id: str) -> RedirectResponse:
    form = await request.form()
    state = await mark(console_of(request), who, reply_id, False)
    return RedirectResponse(back_to(state.reply_id, form.get("next"), "unhandled"), status_code=303)
