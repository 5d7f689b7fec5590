"""Partner API keys: the one definition of a key as stored in `partner_keys`, and how one is made.

A partner (another organisation's server, or its web form in a browser) sends
`X-Samleng-Key: <secret>` with pledges and registrations, and gets its own rate limit instead of
the per-address one. The console service owns the collection (admins create and revoke keys
there); intake only reads keys and notes when each was last used.

The secret is `<key id>.<43 url-safe characters>` (`pk_3f9c0a1b2d4e6f70.Qm…`). It is shown once,
when the key is made; only its SHA-256 is stored. A presented secret is looked up by the id
before the dot, then its hash is compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator

from shared.contracts import utcnow

__all__ = [
    "COLLECTION",
    "PartnerKey",
    "create_partner_key",
    "hash_secret",
    "key_id_of",
    "list_partner_keys",
    "normal_origin",
    "revoke_partner_key",
]

COLLECTION = "partner_keys"
KEY_ID = re.compile(r"^pk_[0-9a-f]{16}$")
MAX_SECRET_LENGTH = 200


class PartnerKey(BaseModel):
    """One partner key as stored (`partner_keys`, written by the console)."""

    model_config = ConfigDict(populate_by_name=True, frozen=True)

    schema_version: Literal[1] = 1
    key_id: str = Field(alias="_id", pattern=KEY_ID.pattern, examples=["pk_3f9c0a1b2d4e6f70"])
    name: str = Field(min_length=1, max_length=200, description="Who the key is for, for operators.")
    secret_hash: str = Field(
        pattern=r"^[0-9a-f]{64}$", description="SHA-256 (hex) of the secret; the secret is never stored."
    )
    rate_per_minute: int = Field(ge=1, le=100_000, description="Submissions per minute with this key.")
    origins: list[str] = Field(
        default_factory=list,
        max_length=50,
        description="Browser origins allowed to use the key (CORS); empty = server-to-server only.",
        examples=[["https://partner.example.org"]],
    )
    created_at: AwareDatetime
    revoked_at: AwareDatetime | None = Field(default=None, description="Set = the key is refused.")

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [normal_origin(origin) for origin in value]

    @property
    def revoked(self) -> bool:
        return self.revoked_at is not None

    def accepts(self, secret: str) -> bool:
        return secret_matches(self.secret_hash, secret)

    def allows_origin(self, origin: str) -> bool:
        return origin in self.origins

    def document(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True)


def secret_matches(secret_hash: str, secret: str) -> bool:
    """Whether `secret` is the key stored as `secret_hash` (constant-time comparison of the hashes)."""
    return hmac.compare_digest(secret_hash, hash_secret(secret))


def normal_origin(origin: str) -> str:
    """`https://Partner.example.org/` -> `https://partner.example.org`, as browsers send `Origin`;
    ValueError for anything that is not an http(s) origin (no path, query, user or wildcard)."""
    parts = urlsplit(origin.strip())
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or parts.username is not None
        or "*" in origin
    ):
        raise ValueError(f"not a browser origin: {origin!r} (e.g. https://partner.example.org)")
    netloc = parts.hostname.lower() + (f":{parts.port}" if parts.port is not None else "")
    return f"{parts.scheme}://{netloc}"


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def key_id_of(secret: str) -> str | None:
    """The key id a presented secret names, or None when it cannot be one of ours."""
    if len(secret) > MAX_SECRET_LENGTH:
        return None
    key_id, dot, rest = secret.partition(".")
    return key_id if dot and rest and KEY_ID.match(key_id) else None


async def create_partner_key(db: Any, name: str, rate_per_minute: int, origins: list[str]) -> tuple[str, str]:
    """Store a new key and return `(key_id, secret)`; the secret cannot be read back later."""
    key_id = f"pk_{secrets.token_hex(8)}"
    secret = f"{key_id}.{secrets.token_urlsafe(32)}"
    key = PartnerKey(
        key_id=key_id,
        name=name,
        secret_hash=hash_secret(secret),
        rate_per_minute=rate_per_minute,
        origins=origins,
        created_at=utcnow(),
    )
    await db[COLLECTION].insert_one(key.document())
    return key_id, secret


async def revoke_partner_key(db: Any, key_id: str, at: datetime | None = None) -> bool:
    """Refuse the key from now on (intake notices within its cache time); True if it was active."""
    done = await db[COLLECTION].update_one(
        {"_id": key_id, "revoked_at": None}, {"$set": {"revoked_at": at or utcnow()}}
    )
    return bool(done.modified_count)


async def list_partner_keys(db: Any) -> list[PartnerKey]:
    """Every key, newest first (revoked ones too: operators see when they were revoked)."""
    return [PartnerKey.model_validate(doc) async for doc in db[COLLECTION].find().sort("created_at", -1)]
