"""Partner API keys on intake (real broker and Mongo-wire server): a key's own rate limit instead
of the per-address one, 401 for unknown or revoked keys with nothing handed over, CORS only for
the origins a key lists, idempotency keys scoped per partner, and the in-process key cache and
`last_used_at` note (with a fake clock). Keys are made as the console will make them
(`shared.partner_keys.create_partner_key`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.intake.partners import PartnerGate
from shared.partner_keys import (
    PartnerKey,
    create_partner_key,
    hash_secret,
    key_id_of,
    revoke_partner_key,
)
from tests.service.test_intake_api import VALID
from tests.support.handed_over import drain, watched
from tests.support.seeds import seed_session

PARTNER = "https://partner.example.org"
REGISTRATION = {
    "name": "Sok Dara",
    "country": "US",
    "email": "dara@example.org",
    "channels": ["email"],
    "time_zone": "America/Los_Angeles",
    "consent": True,
}


@pytest.fixture
async def registrations(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The scheduler's registration queue, declared but not consumed."""
    async with watched(rabbit.url, "test-partner-keys", ("registration.submitted.v1",)) as queue:
        yield queue


async def post_many(client: httpx.AsyncClient, count: int, headers: dict[str, str]) -> list[int]:
    codes: list[int] = []
    for start in range(0, count, 20):
        batch = [
            client.post("/api/v1/pledges", json=VALID, headers=headers) for _ in range(min(20, count - start))
        ]
        codes += [r.status_code for r in await asyncio.gather(*batch)]
    return codes


async def test_a_partner_key_at_200_a_minute_is_accepted_while_an_anonymous_address_is_limited(
    make_intake: Any, submitted_queue: Any, db: Any
) -> None:
    key_id, secret = await create_partner_key(db, "Forum registration desk", 250, [])
    keyed = {"X-Samleng-Key": secret}
    async with (
        make_intake(rate_limit_per_minute=5) as url,
        httpx.AsyncClient(base_url=url, timeout=30) as client,
    ):
        anonymous = [(await client.post("/api/v1/pledges", json=VALID)).status_code for _ in range(6)]
        partner = await post_many(client, 200, keyed)
        still_limited = await client.post("/api/v1/pledges", json=VALID)
        more = await post_many(client, 50, keyed)
        beyond = await client.post("/api/v1/pledges", json=VALID, headers=keyed)
    assert anonymous == [202] * 5 + [429]
    assert partner == [202] * 200, {code: partner.count(code) for code in set(partner)}
    assert still_limited.status_code == 429, "the same address without the key is still limited"
    assert more == [202] * 50
    assert beyond.status_code == 429 and int(beyond.headers["retry-after"]) >= 1
    [problem] = beyond.json()["detail"]
    assert problem["field"] == "X-Samleng-Key" and problem["code"] == "key_rate_limited"
    assert len(await drain(submitted_queue, settle=0.3)) == 5 + 200 + 50
    usage = await db.partner_key_usage.find_one({"_id": key_id})
    assert usage is not None and usage["last_used_at"] is not None, (
        "use is noted (by intake, in its own collection)"
    )


async def test_a_wrong_unknown_or_revoked_key_is_refused_with_401_and_nothing_is_handed_over(
    make_intake: Any, submitted_queue: Any, registrations: Any, db: Any
) -> None:
    await seed_session(db)
    key_id, secret = await create_partner_key(db, "Partner", 100, [])
    _, revoked = await create_partner_key(db, "Former partner", 100, [])
    await revoke_partner_key(db, key_id_of(revoked) or "")
    refused = {
        "wrong secret": f"{key_id}.{'x' * 43}",
        "unknown id": "pk_0123456789abcdef.whatever",
        "not a key": "hello",
        "empty": "",
        "too long": secret + "x" * 300,
        "revoked": revoked,
    }
    async with (
        make_intake(partner_key_cache_seconds=0) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        for case, presented in refused.items():
            for path, body in (
                ("/api/v1/pledges", VALID),
                ("/api/v1/sessions/ss_seeded/registrations", REGISTRATION),
            ):
                answer = await client.post(path, json=body, headers={"X-Samleng-Key": presented})
                assert answer.status_code == 401, (case, path, answer.text)
                [problem] = answer.json()["detail"]
                assert problem["field"] == "X-Samleng-Key" and problem["code"] == "key_invalid", case
        assert await drain(submitted_queue, settle=0.3) == [] and await drain(registrations) == []
        used = await client.post("/api/v1/pledges", json=VALID, headers={"X-Samleng-Key": secret})
        registered = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json=REGISTRATION, headers={"X-Samleng-Key": secret}
        )
        await revoke_partner_key(db, key_id)
        after = await client.post("/api/v1/pledges", json=VALID, headers={"X-Samleng-Key": secret})
    assert used.status_code == 202 and registered.status_code == 202
    assert after.status_code == 401, "revocation takes effect once the cached key expires (here: 0 s)"
    assert len(await drain(submitted_queue, settle=0.3)) == 1
    assert len(await drain(registrations)) == 1


async def test_a_keys_limit_also_counts_registrations(make_intake: Any, registrations: Any, db: Any) -> None:
    await seed_session(db)
    _, secret = await create_partner_key(db, "Venue Wi-Fi desk", 2, [])
    keyed = {"X-Samleng-Key": secret}
    path = "/api/v1/sessions/ss_seeded/registrations"
    async with make_intake() as url, httpx.AsyncClient(base_url=url) as client:
        codes = [(await client.post(path, json=REGISTRATION, headers=keyed)).status_code for _ in range(3)]
        anonymous = await client.post(path, json=REGISTRATION)
    assert codes == [202, 202, 429]
    assert anonymous.status_code == 202, "registrations without a key are as before"
    assert len(await drain(registrations, settle=0.3)) == 3


async def test_cors_only_for_the_origins_a_key_lists_and_never_a_wildcard(
    intake: str, submitted_queue: Any, db: Any
) -> None:
    _, browser = await create_partner_key(db, "Partner web form", 100, [PARTNER + "/"])
    _, server_only = await create_partner_key(db, "Partner server", 100, [])
    _, revoked = await create_partner_key(db, "Old form", 100, ["https://old.example.org"])
    await revoke_partner_key(db, key_id_of(revoked) or "")
    ask = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-samleng-key"}
    async with httpx.AsyncClient(base_url=intake) as client:
        preflights = {
            (path, origin): await client.options(path, headers={**ask, "Origin": origin})
            for path in ("/api/v1/pledges", "/api/v1/sessions/ss_any/registrations")
            for origin in (PARTNER, "https://evil.example", "https://old.example.org")
        }
        allowed = await client.post(
            "/api/v1/pledges", json=VALID, headers={"X-Samleng-Key": browser, "Origin": PARTNER}
        )
        elsewhere = await client.post(
            "/api/v1/pledges",
            json=VALID,
            headers={"X-Samleng-Key": browser, "Origin": "https://evil.example"},
        )
        server_from_browser = await client.post(
            "/api/v1/pledges", json=VALID, headers={"X-Samleng-Key": server_only, "Origin": PARTNER}
        )
        server = await client.post("/api/v1/pledges", json=VALID, headers={"X-Samleng-Key": server_only})
        anonymous = await client.post("/api/v1/pledges", json=VALID, headers={"Origin": PARTNER})
    for (path, origin), answer in preflights.items():
        assert answer.status_code == 204 and answer.headers["vary"] == "Origin"
        if origin == PARTNER:
            assert answer.headers["access-control-allow-origin"] == PARTNER, path
            assert answer.headers["access-control-allow-methods"] == "POST"
            allowed_headers = answer.headers["access-control-allow-headers"]
            assert allowed_headers == "Content-Type, X-Samleng-Key, Idempotency-Key"
        else:
            assert "access-control-allow-origin" not in answer.headers, (path, origin)
    assert allowed.status_code == 202 and allowed.headers["access-control-allow-origin"] == PARTNER
    assert "Origin" in allowed.headers["vary"]
    for refused in (elsewhere, server_from_browser):
        assert refused.status_code == 403
        assert refused.json()["detail"][0]["code"] == "origin_not_allowed"
        assert "access-control-allow-origin" not in refused.headers
    assert server.status_code == 202 and "access-control-allow-origin" not in server.headers
    assert anonymous.status_code == 202 and "access-control-allow-origin" not in anonymous.headers
    assert len(await drain(submitted_queue, settle=0.3)) == 3


async def test_idempotency_keys_are_scoped_per_partner(intake: str, submitted_queue: Any, db: Any) -> None:
    _, first = await create_partner_key(db, "First partner", 100, [])
    _, second = await create_partner_key(db, "Second partner", 100, [])

    async def pledge(key: str | None) -> str:
        headers = {"Idempotency-Key": "form-42"} | ({"X-Samleng-Key": key} if key else {})
        async with httpx.AsyncClient(base_url=intake) as client:
            answer = await client.post("/api/v1/pledges", json=VALID, headers=headers)
        assert answer.status_code == 202, answer.text
        return str(answer.json()["pledge_id"])

    ids = [await pledge(first), await pledge(first), await pledge(second), await pledge(None)]
    assert ids[0] == ids[1], "a partner's retry is the same pledge"
    assert len({ids[0], ids[2], ids[3]}) == 3, "nobody gets another partner's (or the public's) pledge id"


async def test_the_secret_is_shown_once_and_only_its_hash_is_stored(db: Any) -> None:
    key_id, secret = await create_partner_key(db, "Partner", 200, ["HTTPS://Partner.Example.org/"])
    stored = await db.partner_keys.find_one({"_id": key_id})
    assert secret not in json.dumps(stored, default=str) and stored["secret_hash"] == hash_secret(secret)
    key = PartnerKey.model_validate(stored)
    assert key_id_of(secret) == key_id and key.accepts(secret) and not key.accepts(secret + "x")
    assert key.origins == [PARTNER] and key.revoked_at is None
    for bad in ("*", "https://partner.example.org/form", "partner.example.org", "ftp://partner.example.org"):
        with pytest.raises(ValueError, match="not a browser origin"):
            await create_partner_key(db, "Bad", 10, [bad])


async def test_keys_are_cached_briefly_and_use_is_noted_at_most_once_a_minute(db: Any) -> None:
    key_id, secret = await create_partner_key(db, "Partner", 200, [PARTNER])
    now = [1000.0]
    gate = PartnerGate(lambda: db, cache_seconds=5, clock=lambda: now[0])
    key = await gate.verify(secret)
    assert key is not None and await gate.origins() == {PARTNER}
    await gate.touch(key)
    first_use = (await db.partner_key_usage.find_one({"_id": key_id}))["last_used_at"]
    assert first_use is not None

    await revoke_partner_key(db, key_id)
    now[0] += 4
    assert await gate.verify(secret) is not None, "within the cache time the cached key is used"
    await db.partner_key_usage.update_one(
        {"_id": key_id}, {"$set": {"last_used_at": datetime(2020, 1, 1, tzinfo=UTC)}}
    )
    await gate.touch(key)
    noted = (await db.partner_key_usage.find_one({"_id": key_id}))["last_used_at"]
    assert noted.year == 2020, "no second write within a minute"
    now[0] += 2
    assert await gate.verify(secret) is None, "the revocation takes effect after the cache time"
    assert await gate.origins() == frozenset()
    now[0] += 60
    await gate.touch(key)
    assert (await db.partner_key_usage.find_one({"_id": key_id}))["last_used_at"].year > 2020


async def test_a_partner_hands_over_the_discreet_choice_and_only_a_boolean(
    intake: str, submitted_queue: Any, registrations: Any, db: Any
) -> None:
    await seed_session(db)
    _, secret = await create_partner_key(db, "Forum registration desk", 100, [])
    keyed = {"X-Samleng-Key": secret}
    async with httpx.AsyncClient(base_url=intake) as client:
        pledge = await client.post("/api/v1/pledges", json={**VALID, "discreet": True}, headers=keyed)
        registration = await client.post(
            "/api/v1/sessions/ss_seeded/registrations", json={**REGISTRATION, "discreet": True}, headers=keyed
        )
        not_boolean = await client.post("/api/v1/pledges", json={**VALID, "discreet": "on"}, headers=keyed)
    assert pledge.status_code == registration.status_code == 202, (pledge.text, registration.text)
    assert not_boolean.status_code == 422 and not_boolean.json()["detail"][0]["field"] == "discreet"
    [submitted] = await drain(submitted_queue)
    [registered] = await drain(registrations)
    assert submitted["data"]["discreet"] is True and registered["data"]["registrant"]["discreet"] is True
