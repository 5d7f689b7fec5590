"""The operator API's work routes, one module per area, each an `APIRouter` included into
`services.console.api.operator_router` (whose one dependency authenticates every caller):

    alerts.py        Urgent Action drafts, publishing, updates, totals
    sessions.py      sessions, their registrations, ideas, Plan of Action
    members.py       subscriber import, member export and erasure, contact erasure
    deliveries.py    deliveries and chat replies
    certificates.py  certificate re-issue
    imports.py       paper sign-up sheets (CSV)

A route here never declares a body model (FastAPI would parse it before authentication): it
takes its body through `json_body(Model)` (services/console/auth.py) and names the permission it
needs with `permit(...)`. State changes go to the bus through `hand_over` (the envelope's `actor`
is the operator) and write one audit event; reads of members' personal data write one too.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from services.console.routes import alerts, certificates, deliveries, imports, members, sessions

ROUTERS: tuple[APIRouter, ...] = (
    alerts.router,
    sessions.router,
    members.router,
    deliveries.router,
    certificates.router,
    imports.router,
)


async def ensure_indexes(db: Any) -> None:
    """Indexes of the collections the work routes own (`alert_drafts`)."""
    await alerts.ensure_indexes(db)
