"""The dispatcher's `deliveries` read model as intake shows it: never the recipient's address."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shared.contracts import utcnow


class DeliveryView(BaseModel):
    """One delivery, without the recipient's address."""

    delivery_id: str
    channel: str
    purpose: str
    source_id: str = Field(description="e.g. the certificate number")
    state: str = Field(
        description="pending, retrying, unknown, sent, delivered, failed_permanent, dead_lettered, skipped"
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


def view(doc: dict[str, Any]) -> DeliveryView:
    fallback = doc.get("fallback") or {}
    return DeliveryView(
        delivery_id=doc["_id"],
        channel=doc["channel"],
        purpose=doc["purpose"],
        source_id=doc["source_id"],
        state=doc["state"],
        reason=doc.get("reason"),
        attempt=int(doc.get("attempt", 1)),
        fallback_from=doc.get("fallback_from"),
        fallback_to=fallback.get("channel"),
        created_at=doc.get("created_at"),
        updated_at=doc.get("updated_at"),
    )


PROJECTION = {"request": 0, "history": 0}


async def deliveries_of_pledge(db: Any, pledge_id: str) -> list[DeliveryView]:
    docs = await db.deliveries.find({"correlation_id": pledge_id}, PROJECTION).to_list(50)
    return sorted((view(d) for d in docs), key=lambda v: (v.created_at or utcnow(), v.channel))
