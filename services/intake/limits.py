"""Abuse limits on every public POST of intake (and the certificate check), shared by all replicas.

    purpose       routes                                                   setting (per minute)
    submissions   POST / (pledge form), POST /api/v1/pledges, subscribe    INTAKE_RATE_LIMIT_PER_MINUTE
                  (form + API), session registration (form + API)
    links         "I took action", confirm a change or a subscription,     INTAKE_RATE_LIMIT_LINKS_PER_MINUTE
                  preferences, erase, cancel a registration, open a
                  discreet message or its certificate (POST /d/{token})
    unsubscribe   POST /u/{token} (mail providers' one-click unsubscribes  INTAKE_RATE_LIMIT_UNSUBSCRIBE_PER_MINUTE
                  come from their servers, shared by many members)
    verify        GET /v/{number}, GET /api/v1/certificates/{number}       INTAKE_RATE_LIMIT_VERIFY_PER_MINUTE

Counted per client address over a sliding minute in the `rate_limits` collection
(shared/rate_limit.py: one document per client, purpose and minute, the address only as a keyed
hash), so every replica sees the same count and memory stays bounded. The client is the socket peer, or the right-most address of
`X-Forwarded-For` that is not one of INTAKE_TRUSTED_PROXIES when the peer is one of them.

On the routes that take partner keys (POST /api/v1/pledges, session registrations through the
API) a valid key (X-Samleng-Key, checked by `partner_key`) counts against the key's own limit
instead of the address's; an invalid one is refused (401), never anonymous. Elsewhere the header
changes nothing.

Over the limit: `TooManySubmissions`, answered 429 with Retry-After by services/intake/app.py —
JSON on the API, a page in the visitor's language on the forms.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request

from services.intake.partners import partner_key
from services.intake.read_models import PartnerKeyCheck
from services.intake.settings import IntakeSettings
from shared.rate_limit import RATE_LIMITS, Network, Rule, SharedLimiter, parse_networks, request_client


class TooManySubmissions(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(retry_after)
        self.retry_after = retry_after


class IntakeLimits:
    """The site's limiter (`app.state.limits`): rules per purpose, trusted proxies, shared counters."""

    def __init__(self, settings: IntakeSettings, database: Callable[[], Any]) -> None:
        self.trusted: list[Network] = parse_networks(settings.trusted_proxies)
        self.submissions = Rule("submissions", settings.rate_limit_per_minute)
        self.links = Rule("links", settings.rate_limit_links_per_minute)
        self.unsubscribe = Rule("unsubscribe", settings.rate_limit_unsubscribe_per_minute)
        self.verify = Rule("verify", settings.rate_limit_verify_per_minute)
        self.counters = SharedLimiter(
            lambda: database()[RATE_LIMITS], settings.secret_key.get_secret_value().encode()
        )

    async def retry_after(self, request: Request, rule: Rule) -> int:
        """0: go on; otherwise seconds until this client may try again."""
        return await self.counters.hit(rule, request_client(request, self.trusted))


def limits_of(request: Request) -> IntakeLimits:
    limits: IntakeLimits = request.app.state.limits
    return limits


def limit(pick: Callable[[IntakeLimits], Rule]) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A route dependency counting the request against one purpose's rule."""

    async def dependency(request: Request) -> None:
        limits = limits_of(request)
        wait = await limits.retry_after(request, pick(limits))
        if wait:
            raise TooManySubmissions(wait)

    return dependency


async def submission_limit(request: Request) -> None:
    """A route dependency: count a submission (pledge, subscription, registration) against its address."""
    limits = limits_of(request)
    wait = await limits.retry_after(request, limits.submissions)
    if wait:
        raise TooManySubmissions(wait)


async def keyed_submission_limit(
    request: Request, partner: Annotated[PartnerKeyCheck | None, Depends(partner_key)]
) -> None:
    """The same on the routes that take partner keys: a valid key (checked and counted against its
    own limit by `partner_key`) replaces the address's count; an invalid one was refused there."""
    if partner is None:
        await submission_limit(request)


link_limit = limit(lambda limits: limits.links)
unsubscribe_limit = limit(lambda limits: limits.unsubscribe)
verify_limit = limit(lambda limits: limits.verify)
