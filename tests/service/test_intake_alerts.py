"""The public alert page on intake (real Mongo-wire server): the alert as the dispatcher keeps
it, the letter as a reader would write it. Operators' routes are the console's
(tests/service/test_console_alerts.py)."""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts.alert import action_token, action_token_hash
from tests.integration.test_alerts import ALERT
from tests.support.forms import csrf
from tests.support.handed_over import drain, watched


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


@pytest.fixture
async def reports(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """The dispatcher's input from "I took action" links, declared but not consumed."""
    async with watched(rabbit.url, "test-action-links", ("action.reported.v1",)) as queue:
        yield queue


async def seed_action_link(
    db: Any, alert_id: str, *, sent: datetime, deadline: datetime | None, closed: datetime | None = None
) -> str:
    """An alert as the dispatcher keeps it and one member's delivery of it; the link's token."""
    now = datetime.now(UTC)
    version = {**alert(f"UA {alert_id[-2:]}/26"), "alert_id": alert_id, "kind": "alert", "sequence": 0}
    await db.alerts.insert_one({
        "_id": alert_id, **version,
        "deadline": deadline.isoformat() if deadline else None,  # the event's JSON form
        "state": "closed" if closed else "published",
        "published_at": (closed or sent).isoformat(),
        "first_published_at": sent.isoformat(), "updated_at": closed or now,
    })  # fmt: skip
    delivery = f"dl_{alert_id[-2:]:0>24}"
    token = action_token(delivery)
    await db.deliveries.insert_one({
        "_id": delivery, "purpose": "alert", "member_id": "mb_actor", "alert_id": alert_id,
        "action_token_hash": action_token_hash(token), "state": "delivered", "created_at": sent,
    })  # fmt: skip
    return token


async def test_an_action_link_works_until_the_action_period_is_over(
    intake: str, db: Any, reports: Any
) -> None:
    """Open with a deadline to come, or a deadline passed less than INTAKE_ACTION_LINK_GRACE_DAYS
    (7) ago: the link works. Closed, deadline long passed, or sent more than
    INTAKE_ACTION_LINK_DAYS (30) ago without a deadline: it says the action period is over and
    reports nothing. The delivery keeps only the token's hash."""
    now = datetime.now(UTC)
    live = {
        "deadline ahead": await seed_action_link(
            db, "al_live01", sent=now - timedelta(days=40), deadline=now + timedelta(days=5)
        ),
        "deadline just passed": await seed_action_link(
            db, "al_live02", sent=now - timedelta(days=20), deadline=now - timedelta(days=6)
        ),
        "no deadline, sent lately": await seed_action_link(
            db, "al_live03", sent=now - timedelta(days=29), deadline=None
        ),
    }
    over = {
        "closed": await seed_action_link(
            db, "al_over04", sent=now - timedelta(days=12), deadline=now + timedelta(days=20),
            closed=now - timedelta(days=8),
        ),
        "deadline passed": await seed_action_link(
            db, "al_over05", sent=now - timedelta(days=20), deadline=now - timedelta(days=8)
        ),
        "no deadline, sent long ago": await seed_action_link(
            db, "al_over06", sent=now - timedelta(days=31), deadline=None
        ),
    }  # fmt: skip
    stored = str(await db.deliveries.find({}).to_list(None))
    async with httpx.AsyncClient(base_url=intake) as client:
        for what, token in live.items():
            assert token not in stored and token.partition(".")[2] not in stored
            asked = await client.get(f"/a/done/{token}")
            assert asked.status_code == 200 and 'data-state="ask"' in asked.text, what
            done = await client.post(f"/a/done/{token}", data=await csrf(client, f"/a/done/{token}"))
            assert done.status_code == 200 and 'data-state="thanks"' in done.text, what
        assert len(await drain(reports)) == len(live)
        form = await csrf(client, f"/a/done/{live['deadline ahead']}")
        for what, token in over.items():
            for lang, said in (("en", "action period for this Urgent Action is over"), ("km", "បានបញ្ចប់ហើយ")):
                page = await client.get(f"/a/done/{token}", params={"lang": lang})
                assert page.status_code == 410 and 'data-state="expired"' in page.text, what
                assert said in page.text and "done-button" not in page.text, what
                assert "mb_actor" not in page.text and "Minister" not in page.text, what
            refused = await client.post(f"/a/done/{token}", data=form)
            assert refused.status_code == 410 and 'data-state="expired"' in refused.text, what
        assert await drain(reports) == [], "an expired link reports nothing"
        forged = await client.get(f"/a/done/{over['closed'].partition('.')[0]}.{'A' * 24}")
        assert forged.status_code == 404 and 'data-state="expired"' not in forged.text
