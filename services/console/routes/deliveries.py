"""Operator routes: deliveries (chat replies and answering them: replies.py).

    GET /deliveries   deliveries with filters, newest first (deliveries.read); with
                      members.read_personal as well, each certificate's number (audited)

Reads the dispatcher's `deliveries` as a read model (services/console/read_models.py), never the
sealed request: no address or name is in this list.

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
from services.console.read_models import DELIVERIES, DeliveryListed

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
