"""Operators' alert lifecycle on intake (real broker and Mongo-wire server): drafts that nobody
sees until published, publishing a draft once however often it is asked, deadline extensions."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from shared.messaging.topology import ConsumerGroup, declare_group
from tests.integration.test_alerts import ALERT
from tests.service.conftest import OPERATOR

AUTH = {"Authorization": f"Bearer {OPERATOR}"}


@pytest.fixture
async def published(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The dispatcher's alert queue, declared but not consumed: what intake publishes stays readable."""
    connection = await aio_pika.connect(rabbit.url)
    channel = await connection.channel()
    group = ConsumerGroup(exchange="samleng", name="test-alerts", routing_keys=("alert.published.v1",))
    queue = await declare_group(channel, group)
    await queue.purge()
    yield queue
    await queue.delete(if_unused=False, if_empty=False)
    await connection.close()


async def drain(queue: Any) -> list[dict[str, Any]]:
    events = []
    while (message := await queue.get(no_ack=True, fail=False)) is not None:
        events.append(json.loads(message.body))
    return events


def alert(number: str, title: str = "Release Sok Vanna") -> dict[str, Any]:
    body = copy.deepcopy(ALERT)
    body["number"] = number
    body["texts"]["en"]["title"] = title
    body["deadline"] = "2026-12-15T00:00:00Z"
    return body


async def test_a_draft_is_invisible_until_published_and_publishing_it_twice_sends_it_once(
    intake: str, published: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake, headers=AUTH) as client:
        created = await client.post(
            "/api/v1/operator/alerts", params={"draft": "true"}, json=alert("UA 30/26")
        )
        assert created.status_code == 201, created.text
        alert_id = created.json()["alert_id"]
        assert created.json()["state"] == "draft"
        assert await drain(published) == []
        assert (await client.get("/a/UA-30-26")).status_code == 404  # the public sees nothing yet

        rewritten = await client.put(
            f"/api/v1/operator/alerts/{alert_id}", json=alert("UA 30/26", "Free Sok Vanna")
        )
        assert rewritten.status_code == 200, rewritten.text
        shown = (await client.get(f"/api/v1/operator/alerts/{alert_id}")).json()
        assert shown["alert"]["state"] == "draft"
        assert shown["alert"]["texts"]["en"]["title"] == "Free Sok Vanna"
        listed = (await client.get("/api/v1/operator/alerts")).json()["alerts"]
        assert [(a["alert_id"], a["state"]) for a in listed if a["alert_id"] == alert_id] == [
            (alert_id, "draft")
        ]

        first = await client.post(f"/api/v1/operator/alerts/{alert_id}/publish")
        again = await client.post(f"/api/v1/operator/alerts/{alert_id}/publish")
        assert first.status_code == 202, first.text
        assert again.status_code == 200 and again.json()["state"] == "published"
        events = await drain(published)
        assert len(events) == 1
        assert events[0]["data"]["alert_id"] == alert_id
        assert events[0]["data"]["texts"]["en"]["title"] == "Free Sok Vanna"
        assert events[0]["data"]["kind"] == "alert" and events[0]["data"]["sequence"] == 0

        late = await client.put(f"/api/v1/operator/alerts/{alert_id}", json=alert("UA 30/26"))
        assert late.status_code == 409


async def test_a_number_held_by_a_draft_cannot_be_used_again(intake: str, published: Any) -> None:
    async with httpx.AsyncClient(base_url=intake, headers=AUTH) as client:
        assert (
            await client.post("/api/v1/operator/alerts?draft=true", json=alert("UA 31/26"))
        ).status_code == 201
        clash = await client.post("/api/v1/operator/alerts", json=alert("UA 31/26"))
        assert clash.status_code == 422
        assert clash.json()["detail"][0]["field"] == "number"
        assert await drain(published) == []


async def test_draft_routes_need_the_operator_token(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        assert (
            await client.post("/api/v1/operator/alerts?draft=true", json=alert("UA 32/26"))
        ).status_code == 401
        assert (await client.put("/api/v1/operator/alerts/al_x", json=alert("UA 32/26"))).status_code == 401
        assert (await client.post("/api/v1/operator/alerts/al_x/publish")).status_code == 401
        assert (await client.get("/api/v1/operator/alerts")).status_code == 401


async def test_an_extension_must_move_the_deadline_later(intake: str, published: Any, db: Any) -> None:
    await db.alerts.insert_one(  # as the dispatcher keeps a published alert
        {
            "_id": "al_extension",
            **{k: v for k, v in alert("UA 33/26").items() if k != "deadline"},
            "deadline": datetime(2026, 12, 15, tzinfo=UTC),
            "alert_id": "al_extension",
            "kind": "alert",
            "sequence": 0,
            "state": "published",
            "public_url": "http://intake.test/a/UA-33-26",
            "published_at": datetime(2026, 11, 1, tzinfo=UTC),
        }
    )
    url = "/api/v1/operator/alerts/al_extension/updates"
    async with httpx.AsyncClient(base_url=intake, headers=AUTH) as client:
        missing = await client.post(url, json={"kind": "extension"})
        earlier = await client.post(url, json={"kind": "extension", "deadline": "2026-12-01T00:00:00Z"})
        later = await client.post(url, json={"kind": "extension", "deadline": "2027-01-15T00:00:00Z"})
    assert missing.status_code == 422 and missing.json()["detail"][0]["field"] == "deadline"
    assert earlier.status_code == 422 and earlier.json()["detail"][0]["code"] == "not-later"
    assert later.status_code == 202, later.text
    events = await drain(published)
    assert [(e["data"]["kind"], e["data"]["sequence"], e["data"]["deadline"][:10]) for e in events] == [
        ("extension", 1, "2027-01-15")
    ]


async def test_the_public_page_shows_the_letter_as_a_reader_would_write_it(intake: str, db: Any) -> None:
    body = alert("UA 34/26")
    body["texts"]["en"]["letter"] = "{salutation},\n\nI am {name} of {town}. <b>Free them</b>"
    await db.alerts.insert_one(  # as the dispatcher keeps a published alert
        {
            "_id": "al_letter",
            **body,
            "deadline": datetime(2026, 12, 15, tzinfo=UTC),
            "alert_id": "al_letter",
            "kind": "alert",
            "sequence": 0,
            "state": "published",
            "public_url": "http://intake.test/a/UA-34-26",
            "published_at": datetime(2026, 11, 1, tzinfo=UTC),
        }
    )
    async with httpx.AsyncClient(base_url=intake) as client:
        english = await client.get("/a/UA-34-26", params={"lang": "en"})
        khmer = await client.get("/a/UA-34-26", params={"lang": "km"})
    assert english.status_code == khmer.status_code == 200
    letter_en = english.text.split('id="alert-letter"')[1].split("</div>")[0]
    assert letter_en.startswith(
        ' class="letter">Your Excellency,\n\nI am <mark class="fill-in">[your name]</mark>'
    )
    assert '<mark class="fill-in">[town]</mark>' in letter_en
    assert "&lt;b&gt;Free them&lt;/b&gt;" in letter_en, "the operator's text stays text"
    letter_km = khmer.text.split('id="alert-letter"')[1].split("</div>")[0]
    assert "ឯកឧត្តម/លោកជំទាវ,\n\nខ្ញុំឈ្មោះ <mark" in letter_km, "a neutral Khmer salutation"
    assert "[ឈ្មោះរបស់អ្នក]" in letter_km
    for page in (english.text, khmer.text):
        assert "{salutation}" not in page and "{name}" not in page and "{town}" not in page
        assert "%7Bsalutation%7D" not in page and "%7Bname%7D" not in page, "nor in the mailto body"
