"""Limits of intake's public routes (real broker and Mongo-wire server).

Body limits: the public routes keep a small limit and a 413 says the limit of the route it came
from; the console's subscriber import takes its 5,000 rows (the Plan of Action's 5 MB PDF:
tests/service/test_console_sessions.py).

Abuse limits (services/intake/limits.py, shared/rate_limit.py): counted per client in MongoDB, so
two replicas on their own sockets refuse together past the limit; X-Forwarded-For counts only from
a trusted proxy; every public POST (and the certificate check) is counted. The callers connect
from 127.0.0.x loopback addresses other than 127.0.0.1, which uvicorn itself trusts by default
(FORWARDED_ALLOW_IPS): what the app sees is the socket peer, as behind any non-loopback proxy.
Each test freezes the replicas' clock in one window, so no test depends on when it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute

from devstack.broker import RabbitNode
from services.intake.app import create_app
from tests.service.conftest import intake_settings, until_ready
from tests.support.console import bearer
from tests.support.forms import csrf
from tests.support.handed_over import watched
from tests.support.http import serve

CLIENT = "127.0.0.77"


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """Subscriptions handed over, declared but not consumed."""
    async with watched(rabbit.url, "test-limits", ("subscription.requested.v1",)) as queue:
        yield queue


async def test_a_public_route_refuses_a_large_body_and_the_413_says_its_limit(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post(
            "/api/v1/pledges",
            content=b"{" + b" " * 70_000 + b"}",
            headers={"content-type": "application/json"},
        )
        streamed = await client.post(
            "/api/v1/pledges",
            content=_chunks([b"{", b" " * 40_000, b" " * 40_000, b"}"]),
            headers={"content-type": "application/json"},
        )
    for refused in (response, streamed):
        assert refused.status_code == 413
        [problem] = refused.json()["detail"]
        assert problem["field"] == "body" and problem["limit_bytes"] == 65536
        assert "64 KiB" in problem["message"]


async def test_a_5000_row_subscriber_import_is_accepted(
    console: str, admin_token: str, handed_over: Any
) -> None:
    rows = [
        {
            "name": f"សុខ ដារា {_letters(n)}",
            "country": "US",
            "email": f"member{n}@example.org",
            "channels": ["email"],
            "topics": ["political-prisoners"],
            "language": "km",
            "time_zone": "America/Los_Angeles",
            "confirmed": True,
            "consent_record": {
                "text_version": "paper-2026-10",
                "locale": "km",
                "accepted_at": "2026-10-01T10:00:00-07:00",
            },
        }
        for n in range(5000)
    ]
    async with httpx.AsyncClient(base_url=console, headers=bearer(admin_token), timeout=300) as client:
        response = await client.post("/api/v1/operator/subscribers", json={"subscribers": rows})
    assert response.status_code == 200, response.text[:500]
    assert response.json()["accepted"] == 5000, response.json()["results"][:2]
    declared = await handed_over.channel.declare_queue(handed_over.name, passive=True)
    assert declared.declaration_result.message_count == 5000


def _letters(n: int) -> str:
    """Names may not carry digits: row n gets a distinct run of letters."""
    out = ""
    while True:
        n, rest = divmod(n, 26)
        out = "abcdefghijklmnopqrstuvwxyz"[rest] + out
        if n == 0:
            return out.capitalize()


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    """A body without Content-Length: the limit must hold while it streams in."""
    for part in parts:
        yield part


# ---- abuse limits --------------------------------------------------------------------------


@pytest.fixture
def replica(rabbit: RabbitNode, mongo_uri: str, db_name: str) -> Any:
    """`async with replica(**settings) as (app, url)`: one intake process (as `make_intake` builds
    it, with its app at hand) on its own socket, all of them on the test's database, their clock
    frozen in one window ten minutes ahead (its counters outlive the test)."""
    frozen = (time.time() // 60 + 10) * 60 + 1

    @contextlib.asynccontextmanager
    async def build(**overrides: Any) -> AsyncIterator[tuple[FastAPI, str]]:
        app = create_app(intake_settings(rabbit.url, mongo_uri, db_name, **overrides))
        app.state.limits.counters.clock = lambda: frozen
        async with serve(app) as url:
            await until_ready(url, "intake")
            yield app, url

    return build


def caller(address: str = CLIENT, **options: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=address), **options)


def subscription(n: int) -> dict[str, Any]:
    """A valid subscription with its own phone number (and the email its double opt-in needs)."""
    return {
        "name": "Sok Dara",
        "country": "KH",
        "email": f"dara{n}@example.org",
        "phone": f"+855 12 {100000 + n}",
        "channels": ["whatsapp", "email"],
        "consent": True,
    }


async def test_a_thousand_subscriptions_from_one_client_across_two_replicas_stop_at_the_limit(
    replica: Any, handed_over: Any, db: Any
) -> None:
    async with (
        replica(rate_limit_per_minute=20) as (first, first_url),
        replica(rate_limit_per_minute=20) as (second, second_url),
        caller(limits=httpx.Limits(max_connections=40)) as client,
    ):
        answers: list[httpx.Response] = []
        for batch in range(0, 1000, 40):  # 40 at a time, alternating replicas
            answers += await asyncio.gather(
                *(
                    client.post(
                        f"{(first_url, second_url)[n % 2]}/api/v1/subscriptions", json=subscription(n)
                    )
                    for n in range(batch, batch + 40)
                )
            )
    assert Counter(a.status_code for a in answers) == {202: 20, 429: 980}
    refused = [a for a in answers if a.status_code == 429]
    assert all(a.headers["retry-after"] == "59" for a in refused), "until the window ends"
    assert all(a.json() == {"detail": "too many submissions; retry later"} for a in refused)
    by_replica = Counter((a.url.port, a.status_code) for a in answers)
    assert all(by_replica[(httpx.URL(url).port, 429)] > 0 for url in (first_url, second_url))
    declared = await handed_over.channel.declare_queue(handed_over.name, passive=True)
    assert declared.declaration_result.message_count == 20, "nothing past the limit was handed over"
    [counter] = await db.rate_limits.find().to_list(None)
    assert counter["n"] == 20, "one document for the client's window"
    assert CLIENT not in str(counter), "the address only as a keyed hash"
    for app in (first, second):  # memory: no per-address state but the full windows' cache
        assert len(app.state.limits.counters) <= 1


async def test_a_forwarded_address_counts_only_from_a_trusted_proxy(replica: Any, handed_over: Any) -> None:
    async with (
        replica(rate_limit_per_minute=3) as (_, direct),
        replica(rate_limit_per_minute=3, trusted_proxies=f"{CLIENT}, 10.0.0.0/8") as (_, proxied),
        caller() as client,
    ):

        async def statuses(url: str, forwarded: list[str], first: int) -> list[int]:
            return [
                (
                    await client.post(
                        f"{url}/api/v1/subscriptions",
                        json=subscription(first + n),
                        headers={"X-Forwarded-For": value},
                    )
                ).status_code
                for n, value in enumerate(forwarded)
            ]

        forged = [f"203.0.113.{n}" for n in range(5)]
        from_a_visitor = await statuses(direct, forged, 0)
        through_the_proxy = await statuses(proxied, forged, 100)
        one_visitor_behind_it = await statuses(
            proxied, [f"6.6.6.{n}, 198.51.100.7, 10.1.1.1" for n in range(4)], 200
        )
    assert from_a_visitor == [202, 202, 202, 429, 429], "a forged header does not change the key"
    assert through_the_proxy == [202] * 5, "from a trusted proxy, each visitor counts on their own"
    assert one_visitor_behind_it == [202, 202, 202, 429], "what the visitor wrote on the left is ignored"


async def test_a_partner_key_header_on_a_route_without_partner_keys_does_not_skip_the_limit(
    replica: Any, handed_over: Any
) -> None:
    async with replica(rate_limit_per_minute=2) as (_, url), caller(base_url=url) as client:
        codes = [
            (
                await client.post(
                    "/api/v1/subscriptions", json=subscription(n), headers={"X-Samleng-Key": "pk_any.thing"}
                )
            ).status_code
            for n in range(3)
        ]
    assert codes == [202, 202, 429]


async def test_every_public_post_and_the_certificate_check_are_limited(replica: Any, db: Any) -> None:
    """With every limit at 1, a second request from the same client is refused on every route,
    each route tried from its own client address; a new public POST route must be added here."""
    one = {
        "rate_limit_per_minute": 1,
        "rate_limit_links_per_minute": 1,
        "rate_limit_unsubscribe_per_minute": 1,
        "rate_limit_verify_per_minute": 1,
    }
    token = "t" * 32
    form_posts = {
        "/": "/",
        "/m/confirm/{token}": f"/m/confirm/{token}",
        "/a/done/{token}": f"/a/done/{token}",
        "/u/{token}": f"/u/{token}",
        "/p/{token}": f"/p/{token}",
        "/p/{token}/erase": f"/p/{token}/erase",
        "/p/{token}/links": f"/p/{token}/links",
        "/c/{token}": f"/c/{token}",
        "/sessions/cancel/{token}": f"/sessions/cancel/{token}",
        "/sessions/{session_id}/register": "/sessions/ss_none/register",
        "/subscribe": "/subscribe",
    }
    api_posts = {
        "/api/v1/pledges": "/api/v1/pledges",
        "/api/v1/subscriptions": "/api/v1/subscriptions",
        "/api/v1/sessions/{session_id}/registrations": "/api/v1/sessions/ss_none/registrations",
    }
    gets = {"/v/{number}": "/v/KCAP-2026-000001", "/api/v1/certificates/{number}": "/api/v1/certificates/x"}
    async with replica(**one) as (app, url):
        public_posts = {
            route.path
            for route in app.routes
            if isinstance(route, APIRoute)
            and "POST" in (route.methods or set())
            and not route.path.startswith("/health")
        }
        assert public_posts == set(form_posts) | set(api_posts), "a new public POST: limit it, list it here"
        refused: dict[str, int] = {}
        for n, (template, path) in enumerate([*form_posts.items(), *api_posts.items(), *gets.items()]):
            async with caller(f"127.0.1.{n + 1}", base_url=url) as client:
                if template in form_posts:
                    fields = await csrf(client, "/subscribe")
                    answers = [await client.post(path, data=fields) for _ in range(2)]
                elif template in api_posts:
                    answers = [await client.post(path, json={"name": ""}) for _ in range(2)]
                else:
                    answers = [await client.get(path) for _ in range(2)]
            assert answers[0].status_code != 429, (template, answers[0].status_code)
            refused[template] = answers[1].status_code
            assert answers[1].status_code != 429 or int(answers[1].headers["retry-after"]) >= 1
    assert refused == dict.fromkeys([*form_posts, *api_posts, *gets], 429)


async def test_webhook_posts_count_against_the_callers_address_across_inbound_replicas(
    rabbit: RabbitNode, mongo_uri: str, db_name: str, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chat channels' webhook processes (shared/channels/inbound.py) count posts the same way,
    before a body is read or its signature checked; the handshake (GET) is not counted."""
    from services.channels.whatsapp.adapter import WhatsAppAdapter, WhatsAppSettings
    from shared.channels import inbound
    from shared.rate_limit import SharedLimiter

    frozen = (time.time() // 60 + 10) * 60 + 1
    monkeypatch.setenv("WEBHOOK_RATE_LIMIT_PER_MINUTE", "3")
    monkeypatch.setattr(
        inbound,
        "SharedLimiter",
        lambda counters, secret: SharedLimiter(counters, secret, clock=lambda: frozen),
    )
    settings = WhatsAppSettings(
        amqp_url=rabbit.url,
        mongodb_uri=mongo_uri,
        mongodb_database=db_name,
        app_secret="app-secret",
        api_url="http://127.0.0.1:9",  # never called
    )
    async with (
        serve(inbound.create_inbound_app(WhatsAppAdapter, settings)) as first,
        serve(inbound.create_inbound_app(WhatsAppAdapter, settings)) as second,
        caller() as client,
    ):
        posts = [
            await client.post(f"{(first, second)[n % 2]}/webhooks/whatsapp", content=b'{"entry": []}')
            for n in range(5)
        ]
        handshake = await client.get(f"{first}/webhooks/whatsapp")
    assert [p.status_code for p in posts] == [401, 401, 401, 429, 429], "unsigned: refused, and counted"
    assert posts[-1].headers["retry-after"] == "59"
    assert handshake.status_code != 429
    [counter] = await db.rate_limits.find().to_list(None)
    assert counter["_id"].startswith("webhook-whatsapp:") and CLIENT not in str(counter)
