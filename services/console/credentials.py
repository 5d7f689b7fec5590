"""Sign-in sessions (`operator_sessions`) and per-operator API tokens (`api_tokens`).

Both are opaque random tokens shown once and stored only as their SHA-256 (a token has 256 bits
of randomness, so a fast hash is enough: nothing to brute-force). API tokens start with `sk_op_`
so a leaked one is recognisable (secret scanners) and so the bearer check knows where to look.
Revoking sets `revoked_at`; every request checks it, so revocation takes effect at once.

`ShownOnce` (`shown_once`) carries a secret the console made — a new API token, an operator's
first password — from the form that made it to the page that shows it (Post/Redirect/Get): kept
sealed under the viewer's own data key, readable once, by the same session, within
SHOWN_ONCE_MINUTES; a reload finds nothing.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import utcnow
from shared.personal_data import Vault, open_fields, seal_fields
from shared.storage import Document

OPERATOR_SESSIONS = "operator_sessions"
API_TOKENS = "api_tokens"
API_TOKEN_PREFIX = "sk_op_"  # noqa: S105 - a prefix, not a secret
SHOWN_ONCE = "shown_once"
SHOWN_ONCE_MINUTES = 10


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Credential:
    """Whose a presented token is, and which session or API token it is."""

    operator_id: str
    session_id: str | None = None
    token_id: str | None = None


class TokenView(BaseModel):
    id: str
    name: str
    created_at: datetime
    expires_at: datetime
    last_used_at: datetime | None = None


class Credentials:
    def __init__(self, db: AsyncDatabase[Document]) -> None:
        self._sessions = db[OPERATOR_SESSIONS]
        self._tokens = db[API_TOKENS]

    async def ensure_indexes(self) -> None:
        await self._sessions.create_index("token_hash", unique=True)
        await self._tokens.create_index("token_hash", unique=True)
        await self._tokens.create_index("operator_id")

    async def open_session(self, operator_id: str, hours: float) -> tuple[str, str, datetime]:
        """A new session: (token, session id, expiry)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        expires = now + timedelta(hours=hours)
        session_id = f"os_{uuid.uuid4().hex}"
        await self._sessions.insert_one(
            {
                "_id": session_id,
                "token_hash": token_hash(token),
                "operator_id": operator_id,
                "created_at": now,
                "expires_at": expires,
                "revoked_at": None,
            }
        )
        return token, session_id, expires

    async def revoke_session(self, session_id: str) -> None:
        await self._sessions.update_one({"_id": session_id}, {"$set": {"revoked_at": utcnow()}})

    async def revoke_sessions(self, operator_id: str, keep: str | None = None) -> int:
        """End every live session of an operator but `keep` (the one in use); how many."""
        query = {"operator_id": operator_id, "revoked_at": None, "_id": {"$ne": keep}}
        done = await self._sessions.update_many(query, {"$set": {"revoked_at": utcnow()}})
        return done.modified_count

    async def create_token(self, operator_id: str, name: str, days: int) -> tuple[str, TokenView]:
        token = API_TOKEN_PREFIX + secrets.token_urlsafe(32)
        now = utcnow()
        view = TokenView(
            id=f"ot_{uuid.uuid4().hex}", name=name, created_at=now, expires_at=now + timedelta(days=days)
        )
        doc = view.model_dump(exclude={"id"}) | {
            "_id": view.id,
            "operator_id": operator_id,
            "token_hash": token_hash(token),
            "revoked_at": None,
        }
        await self._tokens.insert_one(doc)
        return token, view

    async def tokens_of(self, operator_id: str) -> list[TokenView]:
        cursor = self._tokens.find({"operator_id": operator_id, "revoked_at": None}).sort("created_at", 1)
        return [TokenView.model_validate({**doc, "id": doc["_id"]}) async for doc in cursor]

    async def revoke_token(self, operator_id: str, token_id: str) -> bool:
        done = await self._tokens.update_one(
            {"_id": token_id, "operator_id": operator_id, "revoked_at": None},
            {"$set": {"revoked_at": utcnow()}},
        )
        return done.modified_count == 1

    async def revoke_all(self, operator_id: str) -> int:
        """End every session and revoke every token of an operator at once; how many."""
        now = utcnow()
        query = {"operator_id": operator_id, "revoked_at": None}
        sessions = await self._sessions.update_many(query, {"$set": {"revoked_at": now}})
        tokens = await self._tokens.update_many(query, {"$set": {"revoked_at": now}})
        return sessions.modified_count + tokens.modified_count

    async def resolve(self, token: str) -> Credential | None:
        """The live session or API token `token` is, if any."""
        now = utcnow()
        query = {"token_hash": token_hash(token), "revoked_at": None}
        if token.startswith(API_TOKEN_PREFIX):
            found = await self._tokens.find_one(query)
            if found is None or found["expires_at"] <= now:
                return None
            await self._tokens.update_one({"_id": found["_id"]}, {"$set": {"last_used_at": now}})
            return Credential(operator_id=found["operator_id"], token_id=found["_id"])
        found = await self._sessions.find_one(query)
        if found is None or found["expires_at"] <= now:
            return None
        return Credential(operator_id=found["operator_id"], session_id=found["_id"])


class ShownOnce:
    """Secrets on their way to the one page that shows them (see the module's docstring)."""

    def __init__(self, db: AsyncDatabase[Document], vault: Vault | None) -> None:
        self._kept = db[SHOWN_ONCE]
        self._vault = vault

    async def keep(self, owner: str, holder: str, shown: dict[str, Any]) -> str:
        """Keep `shown` for `holder` (a session or token id) of operator `owner`; its id."""
        now = utcnow()
        await self._kept.delete_many({"expires_at": {"$lte": now}})
        shown_id = secrets.token_urlsafe(16)
        doc = {"_id": shown_id, "holder": holder, "expires_at": now + timedelta(minutes=SHOWN_ONCE_MINUTES)}
        await self._kept.insert_one(await seal_fields(self._vault, owner, {**doc, "shown": shown}, ["shown"]))
        return shown_id

    async def take(self, holder: str, shown_id: str) -> dict[str, Any] | None:
        """What was kept as `shown_id` for `holder`, once; None when taken, expired or not theirs."""
        doc = await self._kept.find_one_and_delete({"_id": shown_id[:40], "holder": holder})
        if doc is None or doc["expires_at"] <= utcnow():
            return None
        shown: dict[str, Any] = (await open_fields(self._vault, doc))["shown"]
        return shown
