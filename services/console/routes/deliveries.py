"""Operator routes: deliveries and the chat replies people sent us.

    GET /deliveries   deliveries with filters, newest first (deliveries.read); with
                      members.read_personal as well, each certificate's number (audited)
    GET /replies      chat replies, STOP and DONE included, newest first, with their sender and
                      text (members.read_personal; audited)

Reads the dispatcher's `deliveries` (never the sealed request: no address or name is in this list)
and pledge-intake's `inbound_messages` as read models (services/console/read_models.py). A reply's
sender and text are stored sealed and opened with the console's vault; a reply whose subject was
erased is left out.

What a role without `members.read_personal` (viewer, editor) does not see: the `source_id` of a
certificate's deliveries (a certificate number opens its holder's name, or initials, on the public
verification page). Everything else in a delivery is counts and states.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from services.console.auth import Caller, console_of, permit
from services.console.permissions import Permission, allows
from services.console.read_models import DELIVERIES, INBOUND_MESSAGES, DeliveryListed
from shared.read_models import opened

router = APIRouter(tags=["deliveries"])

NAMING_PURPOSES = frozenset({"certificate"})
"""Purposes whose `source_id` leads to a person's name (the certificate number)."""


class DeliveryView(BaseModel):
    """One delivery, without the recipient's address or name."""

    delivery_id: str
    channel: str
    purpose: str
    source_id: str | None = Field(
        description="e.g. the certificate number (left out for certificates without "
        "`members.read_personal`) or the alert id"
    )
    state: str = Field(
        description="pending, waiting, retrying, unknown, sent, delivered, failed_permanent, "
        "dead_lettered, skipped"
    )
    reason: str | None = None
    attempt: int = 1
    fallback_from: str | None = None
    fallback_to: str | None = Field(default=None, description="Channel tried next after this one failed.")
    created_at: datetime | None = None
    updated_at: datetime | None = None


class DeliveryList(BaseModel):
    count: int
    deliveries: list[DeliveryView]
    next_before: datetime | None = Field(
        default=None, description="Pass as `before` for the next (older) page."
    )


class Reply(BaseModel):
    reply_id: str
    channel: str | None
    member_id: str | None = Field(description="None: from a number we hold for no member.")
    sender: str | None
    text: str
    stop: bool
    received_at: datetime


class ReplyList(BaseModel):
    count: int
    replies: list[Reply]
    next_before: datetime | None = Field(
        default=None, description="Pass as `before` for the next (older) page."
    )


def view(found: DeliveryListed, personal: bool) -> DeliveryView:
    naming = found.purpose in NAMING_PURPOSES
    return DeliveryView(
        delivery_id=found.id,
        channel=found.channel,
        purpose=found.purpose,
        source_id=found.source_id if personal or not naming else None,
        state=found.state,
        reason=found.reason,
        attempt=found.attempt,
        fallback_from=found.fallback_from,
        fallback_to=(found.fallback or {}).get("channel"),
        created_at=found.created_at,
        updated_at=found.updated_at,
    )


@router.get(
    "/deliveries",
    response_model=DeliveryList,
    dependencies=[permit(Permission.deliveries_read)],
    summary="List deliveries, newest first",
    description="Certificate numbers are shown to roles with `members.read_personal` (such a read "
    "is audited as `deliveries.read_personal`).",
)
async def list_deliveries(
    request: Request,
    who: Caller,
    state: Annotated[str | None, Query(max_length=40)] = None,
    channel: Annotated[str | None, Query(max_length=40)] = None,
    purpose: Annotated[str | None, Query(max_length=40)] = None,
    source_id: Annotated[str | None, Query(max_length=80, description="e.g. a certificate number")] = None,
    member_id: Annotated[str | None, Query(max_length=80)] = None,
    pledge_id: Annotated[str | None, Query(max_length=80)] = None,
    before: Annotated[datetime | None, Query(description="Only deliveries updated before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    console = console_of(request)
    filters = {
        "state": state,
        "channel": channel,
        "purpose": purpose,
        "source_id": source_id,
        "member_id": member_id,
        "correlation_id": pledge_id,
    }
    query: dict[str, Any] = {key: value for key, value in filters.items() if value is not None}
    if before is not None:
        query["updated_at"] = {"$lt": before}
    found = await DELIVERIES.all(console.db, query, sort=[("updated_at", -1)], limit=limit)
    personal = allows(who.operator.role, Permission.members_read_personal)
    views = [view(doc, personal) for doc in found]
    if personal:
        await console.audit.record(who.event("deliveries.read_personal", "deliveries", count=len(views)))
    result = DeliveryList(
        count=len(views),
        deliveries=views,
        next_before=views[-1].updated_at if len(views) == limit else None,
    )
    return JSONResponse(result.model_dump(mode="json"))


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
    before: Annotated[datetime | None, Query(description="Only replies received before this time")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> JSONResponse:
    console = console_of(request)
    query: dict[str, Any] = {k: v for k, v in {"channel": channel, "member_id": member_id}.items() if v}
    if unknown_sender:
        query["member_id"] = None
    if before is not None:
        query["received_at"] = {"$lt": before}
    found = await INBOUND_MESSAGES.all(console.db, query, sort=[("received_at", -1)], limit=limit)
    readable = [reply for reply in [await opened(console.vault, one) for one in found] if reply is not None]
    replies = [
        Reply(
            reply_id=reply.id,
            channel=reply.channel,
            member_id=reply.member_id,
            sender=reply.sender,
            text=reply.text,
            stop=bool(reply.stop),
            received_at=reply.received_at,
        )
        for reply in readable  # a reply whose subject was erased is left out
    ]
    await console.audit.record(who.event("replies.read", "replies", count=len(replies)))
    result = ReplyList(
        count=len(replies),
        replies=replies,
        next_before=found[-1].received_at if len(found) == limit else None,
    )
    return JSONResponse(result.model_dump(mode="json"))
