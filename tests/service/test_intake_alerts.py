"""The public alert page on intake (real Mongo-wire server): the alert as the dispatcher keeps
it, the letter as a reader would write it. Operators' routes are the console's
(tests/service/test_console_alerts.py)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from typing import Any

import httpx

from tests.integration.test_alerts import ALERT


def alert(number: str) -> dict[str, Any]:
    body = copy.deepcopy(ALERT)
    body["number"] = number
    return body


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


async def test_intake_serves_no_operator_alert_route(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        answers = [
            await client.post("/api/v1/operator/alerts", json=ALERT),
            await client.get("/api/v1/operator/alerts"),
            await client.post("/api/v1/operator/alerts/al_x/publish"),
            await client.get("/api/v1/operator/alerts/al_x"),
        ]
    assert [a.status_code for a in answers] == [404] * 4
