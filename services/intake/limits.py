"""The per-address limit on public submissions: pledges, subscriptions, session registrations.

One limiter per intake process (`app.state.submissions`) counts every submission from a client
address in a sliding minute (INTAKE_RATE_LIMIT_PER_MINUTE): anyone filling a session's seats or
making Samleng write to many contacts is slowed the same way as one signing many pledges. A
request with a partner key (X-Samleng-Key, checked first by `partner_key`) counts against the
key's own limit instead. Over the limit: 429 with Retry-After — JSON on the API, a page in the
visitor's language on the forms (services/intake/app.py handles `TooManySubmissions`).

Per process and keyed on the address uvicorn reports (behind a proxy, set FORWARDED_ALLOW_IPS to
the proxy so it is the visitor's): several replicas each count on their own.
"""

from __future__ import annotations

import time
from collections import defaultdict, deque

from fastapi import Request

from services.intake.partners import HEADER as PARTNER_HEADER


class RateLimiter:
    """Sliding one-minute window per client address; addresses quiet for a minute are forgotten,
    so the table holds only the last minute's clients."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._hits: dict[str, deque[float]] = defaultdict(deque)
        self._swept = time.monotonic()

    def retry_after(self, client: str) -> int:
        now = time.monotonic()
        if now - self._swept > 60:
            self._sweep(now)
        hits = self._hits[client]
        while hits and hits[0] <= now - 60:
            hits.popleft()
        if len(hits) >= self.per_minute:
            return max(1, int(60 - (now - hits[0])) + 1)
        hits.append(now)
        return 0

    def _sweep(self, now: float) -> None:
        for client in [c for c, hits in self._hits.items() if not hits or hits[-1] <= now - 60]:
            del self._hits[client]
        self._swept = now

    def __len__(self) -> int:
        return len(self._hits)


class TooManySubmissions(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


def client_of(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def submission_limit(request: Request) -> None:
    """A route dependency: count this submission against its address (not with a partner key)."""
    if request.headers.get(PARTNER_HEADER):
        return
    limiter: RateLimiter = request.app.state.submissions
    wait = limiter.retry_after(client_of(request))
    if wait:
        raise TooManySubmissions(wait)
