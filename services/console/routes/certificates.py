"""Operator routes: certificates (moving here from intake)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter()
