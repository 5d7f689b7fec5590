"""Abuse limits shared by every replica of a public HTTP service: counters in MongoDB's `rate_limits`.

    limiter = SharedLimiter(lambda: db.rate_limits, secret)
    wait = await limiter.hit(Rule("submissions", 20), address)   # 0: go on; n > 0: refuse, retry in n s

A rule allows about `limit` hits per client in any `window_seconds` (a sliding window, estimated
from two fixed windows: this window's count plus the previous window's count weighted by the part
of it still inside the sliding window). Each (rule, client, window) is one document, counted with
one conditional upsert on `_id` after reading the previous window's (closed, so fixed) count:

    room = floor(limit - previous_n * (1 - elapsed part of this window))
    update_one({"_id": "<rule>:<HMAC(address)>:<window>", "n": {"$lt": room}},
               {"$inc": {"n": 1}, "$setOnInsert": {"expires_at": <end of the next window>}}, upsert=True)

    no document yet          -> inserted with n = 1        -> allowed
    a document under room    -> matched, n + 1             -> allowed
    a document at room       -> not matched; the upsert's insert collides on `_id`
                                (DuplicateKeyError)        -> refused

Every replica counts the same document and the database decides, so no replica lets a hit past
the limit (unlike "read, then write", two replicas cannot both take the last place). Both calls go
by `_id` (`find_one_and_update` would scan the collection on the local Mongo-wire server,
shared/notes/mongodb-local.md), and the TTL index on `expires_at` removes a window once the next
one has ended: the collection holds at most two documents per client and rule (plus what the TTL
monitor has not swept yet).

No address is stored or logged: `_id` carries HMAC-SHA256 of the address under a key derived from
the service's secret. The process remembers only refusals (rule and hashed client -> until when),
at most `cache_size` of them, dropped when they end: a client hammering past its limit costs no
database round trip until it could be allowed again, and the moment it could be is the
Retry-After it is told. A refusal remembered by one replica is true for all: counts only grow
within a window.

If the database cannot be reached within STORE_TIMEOUT_SECONDS the hit is allowed (and logged
without the address): an outage of the counters must not take the public site down with it.

Client address (`client_address`): the socket peer, unless that peer is a trusted proxy
(`trusted`, CIDRs); then `X-Forwarded-For` is read from the right and the first address that is
not a trusted proxy is the client. Entries further left are whatever the client wrote and are
never read. The server must not rewrite the peer itself (uvicorn `proxy_headers=False`, or a
FORWARDED_ALLOW_IPS that does not name the peer).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymongo
import structlog
from fastapi import Request
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from pymongo import ASCENDING
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError, PyMongoError

__all__ = [
    "RATE_LIMITS",
    "Network",
    "Rule",
    "SharedLimiter",
    "WebhookLimitSettings",
    "client_address",
    "parse_networks",
    "request_client",
]

log = structlog.stdlib.get_logger("samleng.rate_limit")

RATE_LIMITS = "rate_limits"
REFUSED_CACHED = 10_000
STORE_TIMEOUT_SECONDS = 1.0
EXPIRY_MARGIN_SECONDS = 5

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class Rule:
    """About `limit` hits per client in any `window_seconds` (a purpose's own counter)."""

    name: str
    limit: int
    window_seconds: int = 60


class SharedLimiter:
    """Counts hits per rule and client in `collection` (see the module's docstring)."""

    def __init__(
        self,
        collection: Callable[[], AsyncCollection[Any]],
        secret: bytes,
        clock: Callable[[], float] = time.time,
        cache_size: int = REFUSED_CACHED,
    ) -> None:
        self._collection = collection
        self._key = hmac.new(secret, b"samleng rate limit key", hashlib.sha256).digest()
        self.clock = clock
        self._refused: OrderedDict[str, float] = OrderedDict()  # rule:client -> refused until
        self._cache_size = cache_size
        self._indexed = False

    def client_key(self, address: str) -> str:
        return hmac.new(self._key, address.encode(), hashlib.sha256).hexdigest()[:32]

    async def hit(self, rule: Rule, address: str) -> int:
        """Count one hit of `address` against `rule`: 0 if allowed, else seconds until it may retry."""
        now = self.clock()
        client = f"{rule.name}:{self.client_key(address)}"
        until = self._refused.get(client)
        if until is not None and until > now:
            return max(1, math.ceil(until - now))
        span = rule.window_seconds
        window = int(now // span)
        start = window * span
        elapsed = (now - start) / span
        collection = self._collection()
        try:
            with pymongo.timeout(STORE_TIMEOUT_SECONDS):
                if not self._indexed:
                    await collection.create_index([("expires_at", ASCENDING)], expireAfterSeconds=0)
                    self._indexed = True
                previous = await collection.find_one({"_id": f"{client}:{window - 1}"}, {"n": 1})
                before = int(previous["n"]) if previous is not None else 0
                room = math.floor(rule.limit - before * (1 - elapsed))
                if room > 0:
                    await collection.update_one(
                        {"_id": f"{client}:{window}", "n": {"$lt": room}},
                        {
                            "$inc": {"n": 1},
                            "$setOnInsert": {
                                "expires_at": datetime.fromtimestamp(
                                    start + 2 * span + EXPIRY_MARGIN_SECONDS, tz=UTC
                                )
                            },
                        },
                        upsert=True,
                    )
                    return 0
        except DuplicateKeyError:
            pass
        except PyMongoError as error:
            log.warning("rate limit not counted", rule=rule.name, error=type(error).__name__)
            return 0
        # Refused: this window holds at least max(room, 0) hits; the earliest moment the weighted
        # count could let one more in is when the previous window's share has shrunk by one.
        counted = max(room, 0)
        if before == 0:
            until = start + span
        else:
            until = min(start + span, start + span * (1 - (rule.limit - counted - 1) / before))
        until = max(until, now)
        self._remember(client, until, now)
        return max(1, math.ceil(until - now))

    def _remember(self, client: str, until: float, now: float) -> None:
        for old in [k for k, end in self._refused.items() if end <= now]:
            del self._refused[old]
        self._refused[client] = until
        self._refused.move_to_end(client)
        while len(self._refused) > self._cache_size:
            self._refused.popitem(last=False)

    def __len__(self) -> int:
        """Clients held in process: those refused until a moment to come (at most `cache_size`)."""
        return len(self._refused)


def parse_networks(value: str | Iterable[str]) -> list[Network]:
    """`"10.0.0.0/8, 192.0.2.7"` (or a list of such) -> networks; a bare address is its own /32 or /128."""
    items = value.split(",") if isinstance(value, str) else value
    return [ipaddress.ip_network(item.strip(), strict=False) for item in items if item.strip()]


def request_client(request: Request, trusted: Sequence[Network]) -> str:
    """The client of `request` (`client_address` of its peer and X-Forwarded-For headers): the
    one place a client address is read, only to key a limit (never stored or logged)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.getlist("x-forwarded-for"), trusted)


def client_address(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[Network]) -> str:
    """The client of a request: its socket `peer`, or, when the peer is a trusted proxy, the
    right-most address of the `X-Forwarded-For` headers (`forwarded_for`, in order) that is not a
    trusted proxy. A malformed entry ends the walk at the last proxy; a chain of trusted proxies
    only ends at its left-most one."""
    if peer is None:
        return "unknown"
    current = _ip(peer)
    if current is None:
        return peer
    if not _within(current, trusted):
        return str(current)
    hops = [hop for header in forwarded_for for hop in header.split(",")]
    for hop in reversed(hops):
        address = _ip(hop)
        if address is None:
            break
        current = address
        if not _within(current, trusted):
            break
    return str(current)


def _within(address: Address, networks: Sequence[Network]) -> bool:
    return any(address in network for network in networks if network.version == address.version)


def _ip(text: str) -> Address | None:
    """An address as X-Forwarded-For or a socket writes it: `192.0.2.1`, `192.0.2.1:443`,
    `2001:db8::1`, `[2001:db8::1]:443`; IPv4-mapped IPv6 as its IPv4 address. None if malformed."""
    text = text.strip()
    if text.startswith("["):
        text = text[1 : text.find("]")] if "]" in text else ""
    elif text.count(":") == 1:
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


class WebhookLimitSettings(BaseSettings):
    """The limit on the chat channels' webhook bodies (shared/channels/inbound.py), one for every
    inbound process: providers post from a few servers of their own, so it is high."""

    model_config = SettingsConfigDict(env_prefix="WEBHOOK_", env_file=".env", extra="ignore")

    rate_limit_per_minute: int = Field(
        default=1200, ge=1, description="Webhook posts per client address per minute, across replicas."
    )
    trusted_proxies: str = Field(
        default="", description="Reverse proxies whose X-Forwarded-For is believed (addresses or CIDRs)."
    )

    @field_validator("trusted_proxies")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)
        return value
