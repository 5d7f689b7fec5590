"""The operator API's work routes, one module per area, each an `APIRouter` included into
`services.console.api.operator_router` (whose one dependency authenticates every caller):

    alerts.py        Urgent Action drafts, approval, publishing, updates, totals
    alert_review.py  an alert's preview per channel, audience summary, send to myself, progress
    sessions.py      sessions, their registrations, ideas, Plan of Action
    members.py       subscriber import, member export and erasure, contact erasure
    deliveries.py    deliveries
    replies.py       chat replies, answering them on their channel, their handled state
    dashboard.py     deliveries per channel, pledges and certificates per day, queue depths
    dead_letters.py  dead letters per queue: list, replay, drop
    certificates.py  certificate re-issue
    imports.py       paper sign-up sheets (CSV)

Adding an area is adding its module (with `router`, and `ensure_indexes(db)` if it owns indexes):
the package is scanned, so no list names them.

A route here never declares a body model (FastAPI would parse it before authentication): it
takes its body through `json_body(Model)` (services/console/auth.py) and names the permission it
needs with `permit(...)`. State changes go to the bus through `hand_over` (the envelope's `actor`
is the operator) and write one audit event; reads of members' personal data write one too.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from fastapi import APIRouter


def _areas() -> list[ModuleType]:
    """Every module of this package, in name order: an area is added as one file."""
    return [
        importlib.import_module(f"{__name__}.{info.name}")
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name)
    ]


ROUTERS: tuple[APIRouter, ...] = tuple(
    area.router for area in _areas() if isinstance(getattr(area, "router", None), APIRouter)
)


async def ensure_indexes(db: Any) -> None:
    """Indexes of the collections the work routes own (`alert_drafts`, …): each area's
    `ensure_indexes(db)`, where it has one."""
    for area in _areas():
        make = getattr(area, "ensure_indexes", None)
        if make is not None:
            await make(db)
