"""Pledge ids that are unguessable and self-authenticating, without storing anything.

An id is `pl_` + base32(16 random bytes + 8-byte HMAC tag), tagged with the issuer's secret.
Intake can tell an id it issued from a made-up one (so the status URL answers "received" before
pledge-intake has stored the pledge, and 404 for anything else). With an Idempotency-Key the
random part is derived from the key, so a retried submission gets the same id — and
pledge-intake stores each id once. The console derives the ids of imported paper sign-up rows
from their content the same way, with its own secret (the same row gives the same id).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "pl_"
_BODY = 16
_TAG = 8


def _tag(secret: bytes, body: bytes) -> bytes:
    return hmac.new(secret, b"pledge-id:" + body, hashlib.sha256).digest()[:_TAG]


def _encode(raw: bytes) -> str:
    return PREFIX + base64.b32encode(raw).decode().rstrip("=").lower()


def new_pledge_id(secret: bytes) -> str:
    body = secrets.token_bytes(_BODY)
    return _encode(body + _tag(secret, body))


def derived_pledge_id(secret: bytes, scope: str, key: str) -> str:
    """The same (scope, key) always gives the same id: Idempotency-Key replays, table rows."""
    body = hmac.new(secret, f"derive:{scope}:{key}".encode(), hashlib.sha256).digest()[:_BODY]
    return _encode(body + _tag(secret, body))


def _raw(pledge_id: str) -> bytes | None:
    if not pledge_id.startswith(PREFIX) or len(pledge_id) > 64:
        return None
    text = pledge_id[len(PREFIX) :].upper()
    try:
        raw = base64.b32decode(text + "=" * (-len(text) % 8))
    except (ValueError, base64.binascii.Error):  # type: ignore[attr-defined]
        return None
    return raw if len(raw) == _BODY + _TAG else None


def is_well_formed(pledge_id: str) -> bool:
    """Shaped like a pledge id, whoever issued it (intake, or the console for imported rows)."""
    return _raw(pledge_id) is not None


def is_valid_pledge_id(secret: bytes, pledge_id: str) -> bool:
    raw = _raw(pledge_id)
    return raw is not None and hmac.compare_digest(raw[_BODY:], _tag(secret, raw[:_BODY]))
