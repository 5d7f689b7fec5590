"""The audit trail: one append-only collection, `audit_events`.

Every state-changing operator call, every sign-in (success, failure, refusal while locked), every
lockout, sign-out, token and operator change writes one event: who (operator id, or none for an
unknown email), what (action), on which object, when, through which session or API token, and
the outcome. Code only ever inserts here. The operator's own IP is kept on sign-in events only;
members' IP addresses are never kept anywhere.

`find` answers newest first, ordered by (at, id), and pages with a cursor: `before_id`, the id of
the last event of the page before. Events of the same millisecond are ordered by their id, so none
falls between two pages.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field
from pymongo import DESCENDING
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import utcnow
from shared.storage import Document

AUDIT_EVENTS = "audit_events"
Outcome = Literal["ok", "failed", "denied"]


class AuditEvent(BaseModel):
    id: str = Field(default_factory=lambda: f"ae_{uuid.uuid4().hex}")
    at: datetime = Field(default_factory=utcnow)
    operator_id: str | None = Field(description="Who acted; None when the sign-in named no known operator.")
    action: str = Field(examples=["operator.sign_in", "token.created", "operator.updated"])
    object_type: str | None = None
    object_id: str | None = None
    session_id: str | None = None
    token_id: str | None = None
    outcome: Outcome = "ok"
    ip: str | None = Field(default=None, description="The operator's own address, on sign-in events only.")
    detail: dict[str, Any] = Field(
        default_factory=dict, description="Small, non-personal facts (a new role)."
    )


class UnknownCursor(LookupError):
    """`before_id` names no event of the trail."""


class AuditLog:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._events = db[AUDIT_EVENTS]

    async def ensure_indexes(self) -> None:
        await self._events.create_index([("at", DESCENDING), ("_id", DESCENDING)])
        await self._events.create_index([("operator_id", 1), ("at", DESCENDING)])

    async def record(self, event: AuditEvent) -> None:
        document = event.model_dump(exclude={"id"})
        document["_id"] = event.id
        await self._events.insert_one(document)

    async def find(
        self,
        operator: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        before_id: str | None = None,
    ) -> list[AuditEvent]:
        """Newest first; with `before_id`, only the events after it in that order (older, or as
        old with a smaller id). Raises UnknownCursor when `before_id` names no event."""
        query: Document = {}
        if operator:
            query["operator_id"] = operator
        if action:
            query["action"] = action
        window: Document = {}
        if since:
            window["$gte"] = since
        if until:
            window["$lt"] = until
        if window:
            query["at"] = window
        if before_id is not None:
            last = await self._events.find_one({"_id": before_id}, {"at": 1})
            if last is None:
                raise UnknownCursor(before_id)
            query = {
                "$and": [
                    query,
                    {"$or": [{"at": {"$lt": last["at"]}}, {"at": last["at"], "_id": {"$lt": before_id}}]},
                ]
            }
        cursor = self._events.find(query).sort([("at", DESCENDING), ("_id", DESCENDING)]).limit(limit)
        return [AuditEvent.model_validate({**doc, "id": doc["_id"]}) async for doc in cursor]
