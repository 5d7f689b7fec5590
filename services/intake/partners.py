"""Partner API keys on intake's JSON routes (pledges, session registrations).

    X-Samleng-Key absent            -> anonymous: the route's per-address limit, as before
    X-Samleng-Key valid, unrevoked  -> the key's own limit (`rate_per_minute`, per process);
                                       429 + Retry-After beyond it
    X-Samleng-Key unknown/revoked   -> 401 key_invalid (never treated as anonymous)
    Origin not in the key's origins -> 403 origin_not_allowed (keys without origins: servers only)
    keys cannot be looked up        -> 503 + Retry-After

CORS: the actual response carries `Access-Control-Allow-Origin: <Origin>` only for a key that
lists that origin; a preflight (`OPTIONS`, which carries no key value) is answered for any origin
listed by some unrevoked key. Never `*`.

Keys (the console's `partner_keys`, shared/partner_keys.py; read as read_models.py
`PartnerKeyCheck`: id, secret hash, rate, origins, revocation) are cached in process for
`INTAKE_PARTNER_KEY_CACHE_SECONDS` (5 s): a revocation takes effect within that time.
`last_used_at` is written to intake's own `partner_key_usage` at most once a minute per key.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, HTTPException, Request, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.intake.read_models import PARTNER_KEY_ORIGINS, PARTNER_KEYS, PartnerKeyCheck
from shared.contracts import utcnow
from shared.observability import get_logger
from shared.partner_keys import key_id_of

log = get_logger("samleng.intake")

HEADER = "X-Samleng-Key"
PARTNER_PATHS = ("/api/v1/pledges", "/api/v1/sessions/{session_id}/registrations")
CORS_ORIGIN = "samleng.partner_origin"  # scope key: the Origin the response may be read from
MAX_CACHED = 10_000
TOUCH_EVERY_SECONDS = 60.0
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": f"Content-Type, {HEADER}, Idempotency-Key",
    "Access-Control-Max-Age": "600",
}


class PartnerGate:
    """Looks keys up (cached), counts each key's submissions, notes their use."""

    def __init__(
        self,
        database: Callable[[], Any],
        cache_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.database = database
        self.cache_seconds = cache_seconds
        self.clock = clock
        self._keys: dict[str, tuple[float, PartnerKeyCheck | None]] = {}
        self._origins: tuple[float, frozenset[str]] | None = None
        self._hits: dict[str, deque[float]] = {}
        self._touched: dict[str, float] = {}

    async def verify(self, secret: str) -> PartnerKeyCheck | None:
        """The unrevoked key `secret` belongs to, or None."""
        key_id = key_id_of(secret)
        if key_id is None:
            return None
        key = await self._key(key_id)
        if key is None or key.revoked or not key.accepts(secret):
            return None
        return key

    async def _key(self, key_id: str) -> PartnerKeyCheck | None:
        now = self.clock()
        cached = self._keys.get(key_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        key = await PARTNER_KEYS.find_one(self.database(), {"_id": key_id})
        if len(self._keys) >= MAX_CACHED:
            self._keys = {k: v for k, v in self._keys.items() if v[0] > now}
            if len(self._keys) >= MAX_CACHED:
                self._keys.clear()
        self._keys[key_id] = (now + self.cache_seconds, key)
        return key

    async def origins(self) -> frozenset[str]:
        """Every origin some unrevoked key allows (for preflights)."""
        now = self.clock()
        if self._origins is not None and self._origins[0] > now:
            return self._origins[1]
        found: set[str] = set()
        async for key in PARTNER_KEY_ORIGINS.find(self.database(), {"revoked_at": None}):
            found.update(key.origins)
        self._origins = (now + self.cache_seconds, frozenset(found))
        return self._origins[1]

    def retry_after(self, key: PartnerKeyCheck) -> int:
        """0 and counted if the key may submit now; else seconds until it may (one-minute window)."""
        now = self.clock()
        hits = self._hits.setdefault(key.id, deque())
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= key.rate_per_minute:
            return max(1, int(60 - (now - hits[0])) + 1)
        hits.append(now)
        return 0

    async def touch(self, key: PartnerKeyCheck) -> None:
        """Note the key's use in intake's own `partner_key_usage` (`last_used_at`; the console owns
        `partner_keys`), at most once a minute per key and process."""
        now = self.clock()
        last = self._touched.get(key.id)
        if last is not None and now - last < TOUCH_EVERY_SECONDS:
            return
        self._touched[key.id] = now
        try:
            await self.database().partner_key_usage.update_one(
                {"_id": key.id}, {"$set": {"last_used_at": utcnow()}}, upsert=True
            )
        except Exception as error:  # a missed note must not refuse a submission
            log.warning("partner key use not noted", key_id=key.id, error=repr(error))


def problem(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> HTTPException:
    return HTTPException(
        status_code=status, detail=[{"field": HEADER, "code": code, "message": message}], headers=headers
    )


async def partner_key(
    request: Request,
    x_samleng_key: Annotated[
        str | None,
        Header(
            alias=HEADER,
            description="A partner key: its own rate limit instead of the per-address one. "
            "Unknown or revoked keys get 401; a browser Origin the key does not list gets 403.",
        ),
    ] = None,
) -> PartnerKeyCheck | None:
    """The route's partner key, checked before the body is read; None for anonymous requests."""
    if x_samleng_key is None:
        return None
    gate: PartnerGate = request.app.state.partners
    try:
        key = await gate.verify(x_samleng_key.strip())
    except Exception as error:
        log.error("partner keys unreadable", error=repr(error))
        raise HTTPException(
            status_code=503, detail="the key could not be checked; retry", headers={"Retry-After": "5"}
        ) from error
    if key is None:
        raise problem(401, "key_invalid", "This partner key is unknown or revoked.")
    origin = request.headers.get("origin")
    if origin is not None:
        if not key.allows_origin(origin):
            raise problem(403, "origin_not_allowed", f"This partner key may not be used from {origin[:200]}.")
        request.scope[CORS_ORIGIN] = origin
    wait = gate.retry_after(key)
    if wait:
        raise problem(
            429,
            "key_rate_limited",
            f"This partner key allows {key.rate_per_minute} submissions a minute; retry later.",
            {"Retry-After": str(wait)},
        )
    await gate.touch(key)
    return key


class PartnerCors:
    """Adds the CORS headers to a response whose partner key allowed the request's Origin."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_cors(message: Message) -> None:
            origin = scope.get(CORS_ORIGIN)
            if message["type"] == "http.response.start" and origin is not None:
                headers = list(message.get("headers", []))
                headers += [
                    (b"access-control-allow-origin", origin.encode("latin-1")),
                    (b"access-control-expose-headers", b"Location, Retry-After"),
                    (b"vary", b"Origin"),
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_cors)


def install_partner_keys(app: FastAPI, database: Callable[[], Any], cache_seconds: float) -> None:
    """Partner keys on `PARTNER_PATHS`: the gate, the CORS headers, and the preflights."""
    gate = PartnerGate(database, cache_seconds)
    app.state.partners = gate
    app.add_middleware(PartnerCors)

    async def preflight(request: Request) -> Response:
        origin = request.headers.get("origin")
        headers = {"Vary": "Origin"}
        try:
            allowed = origin is not None and origin in await gate.origins()
        except Exception as error:
            log.error("partner keys unreadable", error=repr(error))
            allowed = False
        if allowed and origin is not None:
            headers |= {"Access-Control-Allow-Origin": origin, **PREFLIGHT_HEADERS}
        return Response(status_code=204, headers=headers)

    for path in PARTNER_PATHS:
        app.add_api_route(path, preflight, methods=["OPTIONS"], include_in_schema=False)
