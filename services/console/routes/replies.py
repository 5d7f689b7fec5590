"""Operator routes: the chat replies people sent us, answering them, and marking them handled.

    GET  /replies                      chat replies, STOP and DONE included, newest first, with
                                       their sender and text, whether handled, the answers given
                                       and until when one may be given (members.read_personal;
                                       audited)
    POST /replies/{id}/answer          answer on the same channel, to the same sender
                                       (replies.answer; audited)
    POST /replies/{id}/handled         mark handled (replies.answer; audited)
    POST /replies/{id}/unhandled       mark not handled again (replies.answer; audited)

Replies are pledge-intake's `inbound_messages` (read models, services/console/read_models.py),
their sender and text sealed and opened with the console's vault; a reply whose subject was erased
is left out. What operators did with a reply is the console's own `reply_states` (one document per
reply: handled or not, by whom, and the answers given, each answer's text sealed for the person
the reply is about), kept RETENTION_CHAT_REPLY_DAYS after its last change, as the replies are
after their receipt (shared/retention.py).

An answer is handed to the dispatcher as `reply.answer_requested.v1` (shared/contracts/reply.py),
which makes one `reply` delivery of it, shown in the deliveries list like any other. Before that,
the channel must carry answers (its declaration lists `reply` in `purposes`) and its window must be
open: `reply_window_seconds` after the person's last message on that channel (WhatsApp and
Messenger: 24 hours; Signal: none). Otherwise 409 and nothing is handed over. The answer's id is
the reply's and the text's (`answer_id`): the same answer submitted twice is given once.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Annotated, Any, Literal, NamedTuple

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, field_validator
from pymongo.errors import DuplicateKeyError

from services.console.auth import (
    Caller,
    Console,
    Principal,
    body_schema,
    console_of,
    hand_over,
    json_body,
    permit,
)
from services.console.permissions import Permission
from services.console.read_models import (
    DELIVERIES,
    MEMBER_WINDOWS,
    REPLIES_TO_ANSWER,
    SENDER_MESSAGES,
    ReplyToAnswer,
)
from shared.channels.catalogue import catalogue
from shared.contracts import utcnow
from shared.contracts.reply import (
    MAX_ANSWER_CHARS,
    REPLY_KIND,
    ReplyAnswerRequested,
    ReplyAnswerRequestedData,
    answer_event_id,
    answer_id,
)
from shared.personal_data import PersonalDataUnreadable, contact_key
from shared.read_models import opened
from shared.retention import RetentionRule, RetentionSettings, declare_retention

router = APIRouter(tags=["replies"])

REPLY_STATES = "reply_states"
AnswerState = Literal["requested", "already-answered"]


class AnswerBody(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS, description="The answer, plain text.")

    @field_validator("text")
    @classmethod
    def not_blank(cls, text: str) -> str:
        if not text.strip():
            raise ValueError("write an answer")
        return text.strip()


class Answer(BaseModel):
    answer_id: str
    operator_id: str
    at: datetime
    text: str | None = Field(description="None when it cannot be read any more (its subject was erased).")
    delivery_id: str | None = None
    delivery_state: str | None = Field(default=None, description="The answer's delivery, once made.")


class Window(BaseModel):
    """Whether an answer may be given now, and until when."""

    answerable: bool
    closes_at: datetime | None = Field(description="None: no window on this channel (any time).")
    reason: str | None = Field(default=None, description="Why not, when it may not.")


class Reply(BaseModel):
    reply_id: str
    channel: str | None
    member_id: str | None = Field(description="None: from a number we hold for no member.")
    sender: str | None
    text: str
    stop: bool
    received_at: datetime
    handled: bool = False
    handled_at: datetime | None = None
    handled_by: str | None = None
    answers: list[Answer] = Field(default_factory=list)
    window: Window | None = None


class ReplyList(BaseModel):
    count: int
    replies: list[Reply]
    next_before: datetime | None = Field(
        default=None, description="Pass as `before` for the next (older) page, with `before_id`."
    )
    next_before_id: str | None = Field(
        default=None,
        description="Pass as `before_id` (with `before`) for the next page: replies received in the "
        "same instant as the last one of this page are on the next, none lost.",
    )


class ReplyCursor(NamedTuple):
    """Where a page of the inbox ended: the inbox is ordered by (received_at, id), newest first."""

    received_at: datetime
    reply_id: str


def older_than(before: datetime, before_id: str | None = None) -> dict[str, Any]:
    """The filter of the replies after (`before`, `before_id`) in the inbox's order: received
    earlier, or in the same instant with a smaller id. Without `before_id`: received earlier."""
    if before_id is None:
        return {"received_at": {"$lt": before}}
    return {"$or": [{"received_at": {"$lt": before}}, {"received_at": before, "_id": {"$lt": before_id}}]}


class Answered(BaseModel):
    state: AnswerState
    answer_id: str
    reply_id: str
    channel: str
    detail: str


class HandledState(BaseModel):
    reply_id: str
    handled: bool
    changed: bool


class NotAnswerable(Exception):
    """The reply may not be answered now (409): `reason` says why, for the operator."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def ensure_indexes(db: Any) -> None:
    await db[REPLY_STATES].create_index("handled")
    days = RetentionSettings().chat_reply_days  # the answers' texts are personal, as the replies are
    await declare_retention(db[REPLY_STATES], RetentionRule.after("updated_at", days))


# ---- reading -------------------------------------------------------------------------------------


async def last_message_at(db: Any, reply: ReplyToAnswer) -> datetime:
    """When the person last wrote on the reply's channel: their newest reply there, or the
    member's `last_inbound` (a linked address counts too), whichever is later."""
    times = [reply.received_at]
    if reply.sender_key:
        newest = await SENDER_MESSAGES.find_one(
            db, {"sender_key": reply.sender_key, "channel": reply.channel}, sort=[("received_at", -1)]
        )
        if newest is not None:
            times.append(newest.received_at)
    if reply.member_id and reply.channel:
        member = await MEMBER_WINDOWS.find_one(db, {"_id": reply.member_id})
        seen = ((member.last_inbound if member else None) or {}).get(reply.channel)
        if seen is not None:
            times.append(seen)
    return max(times)


def window_of(channel: str | None, last: datetime, now: datetime) -> Window:
    """Whether `channel` lets an answer go now, given the person's last message at `last`."""
    declared = catalogue().get(channel or "")
    if declared is None:
        return Window(answerable=False, closes_at=None, reason=f"the channel {channel} is not installed")
    if REPLY_KIND not in declared.purposes:
        return Window(answerable=False, closes_at=None, reason=f"{channel} cannot carry answers")
    closes = declared.reply_window_closes(last)
    if closes is not None and now >= closes:
        hours = (declared.reply_window_seconds or 0) / 3600
        return Window(
            answerable=False,
            closes_at=closes,
            reason=f"the {channel} window closed at {closes:%Y-%m-%d %H:%M} UTC: {channel} allows free "
            f"text only within {hours:g} hours of the person's last message; it opens again when "
            "they write",
        )
    return Window(answerable=True, closes_at=closes)


async def answers_of(console: Console, state: dict[str, Any] | None) -> list[Answer]:
    kept = (state or {}).get("answers") or []
    ids = [a["answer_id"] for a in kept]
    deliveries = {
        d.source_id: d
        for d in await DELIVERIES.all(console.db, {"purpose": REPLY_KIND, "source_id": {"$in": ids}})
    }
    answers = []
    for one in kept:
        delivery = deliveries.get(one["answer_id"])
        answers.append(
            Answer(
                answer_id=one["answer_id"],
                operator_id=one["operator_id"],
                at=one["at"],
                text=await opened_text(console, one),
                delivery_id=delivery.id if delivery else None,
                delivery_state=delivery.state if delivery else None,
            )
        )
    return answers


async def opened_text(console: Console, answer: dict[str, Any]) -> str | None:
    if "sealed_text" not in answer:
        text = answer.get("text")
        return str(text) if text is not None else None
    if console.vault is None:
        return None
    try:
        return str((await console.vault.unseal(answer["sealed_text"]))["text"])
    except PersonalDataUnreadable:
        return None


async def replies(
    console: Console,
    query: dict[str, Any],
    handled: bool | None,
    limit: int,
) -> tuple[list[Reply], ReplyCursor | None]:
    """Replies newest first, ordered by (received_at, id) (erased ones left out), with what
    operators did with them, and where the next page starts (None: this was the last)."""
    db = console.db
    if handled is not None:
        marked = [doc["_id"] async for doc in db[REPLY_STATES].find({"handled": True}, {"_id": 1})]
        query = {**query, "_id": {"$in" if handled else "$nin": marked}}
    found = await REPLIES_TO_ANSWER.all(db, query, sort=[("received_at", -1), ("_id", -1)], limit=limit)
    states = {doc["_id"]: doc async for doc in db[REPLY_STATES].find({"_id": {"$in": [r.id for r in found]}})}
    now = utcnow()
    listed = []
    for stored in found:
        reply = await opened(console.vault, stored)
        if reply is None:  # its subject was erased
            continue
        state = states.get(reply.id) or {}
        listed.append(
            Reply(
                reply_id=reply.id,
                channel=reply.channel,
                member_id=reply.member_id,
                sender=reply.sender,
                text=reply.text,
                stop=bool(reply.stop),
                received_at=reply.received_at,
                handled=bool(state.get("handled")),
                handled_at=state.get("handled_at"),
                handled_by=state.get("handled_by"),
                answers=await answers_of(console, state),
                window=window_of(reply.channel, await last_message_at(db, reply), now),
            )
        )
    return listed, ReplyCursor(found[-1].received_at, found[-1].id) if len(found) == limit else None


async def reply_to_answer(console: Console, reply_id: str) -> ReplyToAnswer:
    """The reply, opened; 404 when unknown or erased."""
    reply = await opened(console.vault, await REPLIES_TO_ANSWER.find_one(console.db, {"_id": reply_id[:80]}))
    if reply is None:
        raise HTTPException(404, "no such reply")
    return reply


# ---- answering and marking -----------------------------------------------------------------------


async def answer(request: Request, who: Principal, reply_id: str, text: str) -> Answered:
    """Hand the answer over (or find it given already); NotAnswerable when the channel may not
    carry it now (nothing handed over), 404 for an unknown reply, 503 when the broker is away."""
    console = console_of(request)
    reply = await reply_to_answer(console, reply_id)
    channel = reply.channel or ""
    given = answer_id(reply.id, text)
    if await console.db[REPLY_STATES].find_one({"_id": reply.id, "answers.answer_id": given}, {"_id": 1}):
        return Answered(
            state="already-answered",
            answer_id=given,
            reply_id=reply.id,
            channel=channel,
            detail="this answer was given already",
        )
    last = await last_message_at(console.db, reply)
    window = window_of(reply.channel, last, utcnow())
    if not window.answerable or reply.sender is None or reply.sender_kind not in ("phone", "psid", "email"):
        reason = window.reason or "the reply's sender is not known"
        await console.audit.record(
            who.event("reply.answered", "reply", reply.id, outcome="failed", channel=channel, reason=reason)
        )
        raise NotAnswerable(reason)
    event = ReplyAnswerRequested(
        event_id=answer_event_id(given),
        correlation_id=reply.id,
        data=ReplyAnswerRequestedData(
            answer_id=given,
            reply_id=reply.id,
            channel=channel,
            member_id=reply.member_id,
            sender_kind=reply.sender_kind,  # checked above
            sender=reply.sender,
            text=text,
            last_message_at=last,
            requested_at=utcnow(),
        ),
    )
    await hand_over(request, who, event)
    subject = reply.member_id or reply.sender_key or contact_key(str(reply.sender_kind), reply.sender)
    kept: dict[str, Any] = {"answer_id": given, "operator_id": who.operator.id, "at": utcnow()}
    if console.vault is not None:
        kept["sealed_text"] = await console.vault.seal(subject, {"text": text})
    else:
        kept["text"] = text
    with contextlib.suppress(DuplicateKeyError):  # the same answer, recorded by a concurrent submission
        await console.db[REPLY_STATES].update_one(
            {"_id": reply.id, "answers.answer_id": {"$ne": given}},
            {"$push": {"answers": kept}, "$set": {"updated_at": utcnow()}},
            upsert=True,
        )
    await console.audit.record(
        who.event("reply.answered", "reply", reply.id, answer_id=given, channel=channel)
    )
    return Answered(
        state="requested",
        answer_id=given,
        reply_id=reply.id,
        channel=channel,
        detail=f"answer handed over for {channel}",
    )


async def mark(console: Console, who: Principal, reply_id: str, handled: bool) -> HandledState:
    """Mark a reply handled (or not); audited when it changes."""
    reply = await reply_to_answer(console, reply_id)
    changes: dict[str, Any] = {"handled": handled, "updated_at": utcnow()}
    changes |= {"handled_at": utcnow(), "handled_by": who.operator.id} if handled else {}
    unset = {} if handled else {"handled_at": "", "handled_by": ""}
    try:
        result = await console.db[REPLY_STATES].update_one(
            {"_id": reply.id, "handled": {"$ne": handled}},
            {"$set": changes, **({"$unset": unset} if unset else {})},
            upsert=handled,
        )
        changed = bool(result.modified_count or result.upserted_id)
    except DuplicateKeyError:  # handled already (the upsert met the existing document)
        changed = False
    if changed:
        action = "reply.handled" if handled else "reply.unhandled"
        await console.audit.record(who.event(action, "reply", reply.id))
    return HandledState(reply_id=reply.id, handled=handled, changed=changed)


# ---- routes --------------------------------------------------------------------------------------


@router.get(
    "/replies",
    response_model=ReplyList,
    dependencies=[permit(Permission.members_read_personal)],
    summary="Chat replies people sent us (STOP and DONE included), newest first",
)
async def list_replies(
    request: Request,
    who: Caller,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    member_id: Annotated[str | None, Query(max_length=80)] = None,
    unknown_sender: Annotated[
        bool | None, Query(description="Only replies from numbers we hold for no member")
    ] = None,
    handled: Annotated[
        bool | None, Query(description="Only handled (true) or not handled (false) ones")
    ] = None,
    before: Annotated[datetime | None, Query(description="Only replies received before this time")] = None,
    before_id: Annotated[
        str | None,
        Query(
            max_length=80,
            description="With `before`: the id of the last reply of the page before (`next_before_id`); "
            "replies received at `before` itself with a smaller id come too.",
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    console = console_of(request)
    query: dict[str, Any] = {k: v for k, v in {"channel": channel, "member_id": member_id}.items() if v}
    if unknown_sender:
        query["member_id"] = None
    if before_id is not None and before is None:
        problem = {"field": "before_id", "code": "without_before", "message": "before_id goes with before"}
        return JSONResponse({"detail": [problem]}, status_code=422)
    if before is not None:
        query.update(older_than(before, before_id))
    listed, cursor = await replies(console, query, handled, limit)
    await console.audit.record(who.event("replies.read", "replies", count=len(listed)))
    result = ReplyList(
        count=len(listed),
        replies=listed,
        next_before=cursor.received_at if cursor else None,
        next_before_id=cursor.reply_id if cursor else None,
    )
    return JSONResponse(result.model_dump(mode="json"))


@router.post(
    "/replies/{reply_id}/answer",
    status_code=202,
    response_model=Answered,
    dependencies=[permit(Permission.replies_answer)],
    openapi_extra=body_schema(AnswerBody),
    summary="Answer a reply on the same channel, to the same sender",
    description="One `reply` delivery through the dispatcher. The same text for the same reply is "
    "one answer (200 `already-answered` the second time).",
    responses={
        200: {"description": "This answer was given already: nothing more is sent"},
        404: {"description": "No such reply (or its sender was erased)"},
        409: {"description": "The channel's window is closed, or it cannot carry answers"},
        503: {"description": "Not handed over (broker away): retry"},
    },
)
async def answer_reply(
    request: Request,
    who: Caller,
    reply_id: str,
    body: Annotated[AnswerBody, Depends(json_body(AnswerBody))],
) -> JSONResponse:
    try:
        answered = await answer(request, who, reply_id, body.text)
    except NotAnswerable as refused:
        return JSONResponse({"detail": refused.reason}, status_code=409)
    status = 202 if answered.state == "requested" else 200
    return JSONResponse(answered.model_dump(mode="json"), status_code=status)


@router.post(
    "/replies/{reply_id}/handled",
    response_model=HandledState,
    dependencies=[permit(Permission.replies_answer)],
    summary="Mark a reply handled",
    responses={404: {"description": "No such reply"}},
)
async def mark_handled(request: Request, who: Caller, reply_id: str) -> HandledState:
    return await mark(console_of(request), who, reply_id, True)


@router.post(
    "/replies/{reply_id}/unhandled",
    response_model=HandledState,
    dependencies=[permit(Permission.replies_answer)],
    summary="Mark a reply not handled again",
    responses={404: {"description": "No such reply"}},
)
async def mark_unhandled(request: Request, who: Caller, reply_id: str) -> HandledState:
    return await mark(console_of(request), who, reply_id, False)
