"""The pledge JSON API over real HTTP, handing over to the real broker, reading the real store."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from itsdangerous import BadSignature, URLSafeTimedSerializer

from shared.contracts.pledge import PledgeSubmitted
from tests.service.conftest import SECRET

VALID: dict[str, Any] = {
    "name": "សុខ ដារ៉ា",
    "country": "KH",
    "certificate_language": "km",
    "channels": ["email", "signal"],
    "email": "Dara@Example.org",
    "phone": "012 345 678",
    "alerts_opt_in": True,
    "consent": True,
}

US_ADDRESS = {
    "street_address": "1600 Amphitheatre Pkwy",
    "city": "Mountain View",
    "country_area": "CA",
    "postal_code": "94043",
}


async def take_submitted(queue: Any, timeout: float = 5.0) -> PledgeSubmitted:
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            return PledgeSubmitted.model_validate_json(message.body)
        await asyncio.sleep(0.05)
    raise AssertionError("nothing was handed over")


async def test_a_valid_pledge_is_handed_over_and_answers_202_with_a_status_url(
    intake: str, submitted_queue: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post("/api/v1/pledges", json=VALID)
        assert response.status_code == 202, response.text
        body = response.json()
        assert body["status_url"] == f"http://intake.test/api/v1/pledges/{body['pledge_id']}"
        event = await take_submitted(submitted_queue)
        assert event.data.pledge_id == body["pledge_id"]
        assert event.data.source == "api"
        assert event.data.contact.email == "Dara@example.org"
        assert event.data.contact.phone == "+85512345678", "stored as E.164"
        assert event.data.name == "សុខ ដារ៉ា"
        assert event.data.consent.text_version
        status = await client.get(f"/api/v1/pledges/{body['pledge_id']}")
        assert status.status_code == 200
        assert status.json()["state"] == "received"


async def test_idempotency_key_replay_returns_the_same_pledge(intake: str, submitted_queue: Any) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        first = await client.post("/api/v1/pledges", json=VALID, headers={"Idempotency-Key": "form-42"})
        again = await client.post("/api/v1/pledges", json=VALID, headers={"Idempotency-Key": "form-42"})
        other = await client.post("/api/v1/pledges", json=VALID, headers={"Idempotency-Key": "form-43"})
    assert first.json()["pledge_id"] == again.json()["pledge_id"]
    assert other.json()["pledge_id"] != first.json()["pledge_id"]


async def test_someone_reusing_another_persons_idempotency_key_gets_a_pledge_of_their_own(
    intake: str, submitted_queue: Any
) -> None:
    """Without a partner key anyone may send any key: it names the same pledge only with the same
    content, so a reused key neither returns nor reveals the other person's pledge id."""
    theirs = {**VALID, "name": "Chan Sophea", "email": "sophea@example.org"}
    async with httpx.AsyncClient(base_url=intake) as client:
        first = await client.post("/api/v1/pledges", json=VALID, headers={"Idempotency-Key": "form-42"})
        reused = await client.post("/api/v1/pledges", json=theirs, headers={"Idempotency-Key": "form-42"})
    assert first.status_code == reused.status_code == 202
    assert reused.json()["pledge_id"] != first.json()["pledge_id"]


async def test_messenger_choice_returns_a_signed_m_me_link(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post("/api/v1/pledges", json={**VALID, "channels": ["messenger"]})
    link = response.json()["messenger_link"]
    assert link.startswith("https://m.me/SamlengTest?ref=")
    ref = link.split("ref=", 1)[1]
    assert URLSafeTimedSerializer(SECRET, salt="messenger-ref").loads(ref) == response.json()["pledge_id"]
    with pytest.raises(BadSignature):
        URLSafeTimedSerializer("another-secret", salt="messenger-ref").loads(ref)


@pytest.mark.parametrize(
    ("change", "field", "code"),
    [
        ({"name": ""}, "name", "name_required"),
        ({"name": "   "}, "name", "name_required"),
        ({"name": "a" * 121}, "name", "name_too_long"),
        ({"name": "a" * 20_000}, "name", "too_long"),
        ({"name": "្កា"}, "name", "name_khmer_malformed"),
        ({"name": "សុ្"}, "name", "name_khmer_malformed"),
        ({"name": "<script>alert(1)</script>"}, "name", "name_characters"),
        ({"name": '#read("/etc/passwd")'}, "name", "name_characters"),
        ({"name": "Dara\u202eevil"}, "name", "name_invisible"),
        ({"email": "not-an-email"}, "email", "email_invalid"),
        ({"email": None}, "email", "email_required"),
        ({"phone": "12"}, "phone", "phone_invalid"),
        ({"phone": "023 216 666"}, "phone", "phone_landline"),
        ({"phone": None}, "phone", "phone_required"),
        ({"channels": ["post"]}, "channels", "channel_not_in_country"),
        ({"channels": ["fax"]}, "channels", "channel_unknown"),
        ({"channels": []}, "channels", "channels_required"),
        ({"country": ""}, "country", "country_required"),
        ({"country": "XX"}, "country", "country_unknown"),
        ({"certificate_language": "fr"}, "certificate_language", "language_invalid"),
        ({"consent": False}, "consent", "consent_required"),
        ({"surprise": 1}, "surprise", "extra_forbidden"),
        ({"channels": "email"}, "channels", "list_type"),
        (
            {
                "country": "US",
                "channels": ["post"],
                "phone": None,
                "postal_address": {"street_address": "1 Main St", "city": "Springfield"},
            },
            "postal_address.postal_code",
            "address_field_required",
        ),
        ({"country": "US", "channels": ["post"], "phone": None}, "postal_address", "address_required"),
        (
            {
                "country": "US",
                "channels": ["post"],
                "phone": None,
                "discreet": True,
                "postal_address": US_ADDRESS,
            },
            "channels",
            "channel_not_discreet",
        ),
        ({"discreet": "yes"}, "discreet", "bool_type"),
        ({"discreet": 1}, "discreet", "bool_type"),
    ],
)
async def test_each_validation_rule_answers_422_naming_the_field(
    intake: str, submitted_queue: Any, change: dict[str, Any], field: str, code: str
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post("/api/v1/pledges", json={**VALID, **change})
    assert response.status_code == 422, response.text
    problems = response.json()["detail"]
    assert {"field": field, "code": code} in [{"field": p["field"], "code": p["code"]} for p in problems], (
        problems
    )
    assert await submitted_queue.get(no_ack=True, fail=False) is None, "nothing invalid is handed over"


async def test_errors_come_in_the_requested_language(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post("/api/v1/pledges?lang=km", json={**VALID, "channels": ["post"]})
    message = response.json()["detail"][0]["message"]
    assert "កម្ពុជា" in message


async def test_a_body_over_the_limit_is_refused_with_413(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post(
            "/api/v1/pledges",
            content=b"{" + b" " * 70_000 + b"}",
            headers={"content-type": "application/json"},
        )
    assert response.status_code == 413


async def test_per_ip_rate_limit_answers_429_with_retry_after(make_intake: Any, submitted_queue: Any) -> None:
    async with make_intake(rate_limit_per_minute=2) as url, httpx.AsyncClient(base_url=url) as client:
        codes = [(await client.post("/api/v1/pledges", json=VALID)).status_code for _ in range(3)]
        limited = await client.post("/api/v1/pledges", json=VALID)
    assert codes == [202, 202, 429]
    assert int(limited.headers["retry-after"]) >= 1


async def test_broker_unreachable_answers_503_with_retry_after_and_never_success(
    make_intake: Any, dead_broker_url: str
) -> None:
    async with (
        make_intake(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        response = await client.post("/api/v1/pledges", json=VALID)
        ready = await client.get("/health/ready")
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "pledge_id" not in response.json()
    assert ready.status_code == 503
    assert ready.json()["checks"]["broker"] is False


async def test_unknown_or_forged_pledge_ids_are_404(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        made_up = await client.get("/api/v1/pledges/pl_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
        garbage = await client.get("/api/v1/pledges/../../etc")
    assert made_up.status_code == 404
    assert garbage.status_code == 404


async def test_openapi_documents_the_api(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert docs.status_code == 200
    assert {"/api/v1/pledges", "/api/v1/pledges/{pledge_id}"} <= set(spec["paths"])
    assert not any("/imports/" in path for path in spec["paths"]), "the table import is the console's"
    assert "Idempotency-Key" in json.dumps(spec["paths"]["/api/v1/pledges"]["post"])


async def test_the_discreet_choice_travels_in_the_submission(intake: str, submitted_queue: Any) -> None:
    """`discreet`: the person's own choice (true/false), or absent: their country's default, decided
    by pledge-intake (shared/contracts/pledge.py `is_discreet`). Post goes only with it off."""
    async with httpx.AsyncClient(base_url=intake) as client:
        chosen_off = await client.post("/api/v1/pledges", json={**VALID, "discreet": False})
        unsaid = await client.post("/api/v1/pledges", json=VALID)
        posted = await client.post("/api/v1/pledges", json={
            **VALID, "country": "US", "phone": None, "channels": ["post"], "postal_address": US_ADDRESS,
            "discreet": False,
        })  # fmt: skip
        refused = await client.post("/api/v1/pledges?lang=km", json={
            **VALID, "country": "US", "phone": None, "channels": ["email", "post"],
            "postal_address": US_ADDRESS, "discreet": True,
        })  # fmt: skip
    assert chosen_off.status_code == unsaid.status_code == posted.status_code == 202, posted.text
    assert [(await take_submitted(submitted_queue)).data.discreet for _ in range(3)] == [False, None, False]
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert (problem["field"], problem["code"]) == ("channels", "channel_not_discreet")
    assert "ប្រៃសណីយ៍" in problem["message"], "in the language asked for"
    assert await submitted_queue.get(no_ack=True, fail=False) is None
