"""Operator routes: alerts (moving here from intake)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()


async def ensure_indexes(db: object) -> None:
    return None
