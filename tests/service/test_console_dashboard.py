"""The operator dashboard's API (real broker and Mongo-wire server): its counts per channel equal
those of `GET /deliveries` for the same period (deliveries by `created_at` in [since, until]), a
failure rate above 3% warns and 3% does not, pledges and certificates per day, queue depth and
dead letters from a real queue, how long the oldest pending delivery has waited; a viewer may read
it and it holds no personal data."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.contracts import utcnow
from shared.messaging.topology import ConsumerGroup
from tests.support.console import bearer, operator_token
from tests.support.handed_over import emptied

DASHBOARD = "/api/v1/operator/dashboard"
DELIVERIES = "/api/v1/operator/deliveries"
EMAIL_HIGH = ConsumerGroup(exchange="samleng", name="channel-email.high", routing_keys=())
SECRETS = ("secret@example.org", "Secret Name", "mb_", "pl_secret", "KCAP-2026-")


def delivery(index: int, channel: str, state: str, created_at: datetime) -> dict[str, Any]:
    """A delivery as the dispatcher keeps it (its request names the recipient); `updated_at`
    differs for each, so the deliveries list pages without ties."""
    return {
        "_id": f"dl_{index:024d}",
        "purpose": "certificate",
        "source_id": f"KCAP-2026-{index:06d}",
        "correlation_id": "pl_secret",
        "member_id": f"mb_{index}",
        "channel": channel,
        "state": state,
        "attempt": 1,
        "reason": None,
        "created_at": created_at,
        "updated_at": created_at + timedelta(seconds=index),
        "request": {"recipient": {"email": "secret@example.org", "name": "Secret Name"}},
        "history": [],
    }


def seeded(now: datetime) -> list[dict[str, Any]]:
    """email: 2 failed of 22 with an outcome (9%: warns); signal: 3 failed of 100 (3%: does not);
    post: none failed; plus deliveries 10 days old (in 30 days only) and 40 days old (in neither)."""
    day = timedelta(days=1)
    plan: list[tuple[str, str, datetime]] = [
        *[("email", "delivered", now - 2 * day)] * 15,
        *[("email", "sent", now - 3 * day)] * 5,
        ("email", "failed_permanent", now - 1 * day),
        ("email", "dead_lettered", now - 1 * day),
        *[("email", "pending", now - 2 * day)] * 2,
        ("email", "skipped", now - 4 * day),
        *[("signal", "sent", now - 5 * day)] * 97,
        *[("signal", "failed_permanent", now - 6 * day)] * 3,
        *[("post", "sent", now - 1 * day)] * 4,
        ("post", "retrying", now - 1 * day),
        *[("post", "failed_permanent", now - 10 * day)] * 6,
        *[("email", "delivered", now - 40 * day)] * 3,
    ]
    return [delivery(i, channel, state, at) for i, (channel, state, at) in enumerate(plan, start=1)]


async def listed(console: str, headers: dict[str, str]) -> list[dict[str, Any]]:
    """Every delivery `GET /deliveries` lists, page by page."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 50}
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        while True:
            page = (await client.get(DELIVERIES, params=params)).json()
            found.extend(page["deliveries"])
            if page["next_before"] is None:
                return found
            params["before"] = page["next_before"]


def expected(deliveries: list[dict[str, Any]], since: datetime, until: datetime) -> dict[str, dict[str, int]]:
    """The dashboard's definitions applied to the deliveries list's own rows."""
    states: dict[str, Counter[str]] = {}
    for one in deliveries:
        if since <= datetime.fromisoformat(one["created_at"]) <= until:
            states.setdefault(one["channel"], Counter())[one["state"]] += 1
    totals = {}
    for channel, count in states.items():
        sent = count["sent"] + count["delivered"]
        failed = count["failed_permanent"] + count["dead_lettered"]
        totals[channel] = {
            "requested": sum(count.values()),
            "sent": sent,
            "delivered": count["delivered"],
            "failed": failed,
            "skipped": count["skipped"],
            "in_progress": sum(count.values()) - sent - failed - count["skipped"],
        }
    return totals


@pytest.fixture
async def email_high(rabbit: RabbitNode) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """The email channel's high band queues, declared as the channel declares them, empty."""
    async with emptied(rabbit.url, EMAIL_HIGH) as channel:
        yield channel


async def test_the_dashboard_counts_equal_the_deliveries_list_for_the_same_period(
    console: str, db: Any
) -> None:
    now = utcnow()
    await db.deliveries.insert_many(seeded(now))
    viewer = bearer(await operator_token(db, Role.viewer))
    async with httpx.AsyncClient(base_url=console, headers=viewer) as client:
        week = await client.get(DASHBOARD, params={"days": 7})
        month = await client.get(DASHBOARD, params={"days": 30})
        default = await client.get(DASHBOARD)
        wrong = await client.get(DASHBOARD, params={"days": 8})
    assert week.status_code == month.status_code == default.status_code == 200, week.text
    assert wrong.status_code == 422
    assert default.json()["days"] == 7
    every = await listed(console, viewer)
    assert len(every) == 139
    for answer, days in ((week.json(), 7), (month.json(), 30)):
        since, until = datetime.fromisoformat(answer["since"]), datetime.fromisoformat(answer["until"])
        assert until - since == timedelta(days=days) and now <= until
        shown = {
            row["channel"]: {
                key: row[key]
                for key in ("requested", "sent", "delivered", "failed", "skipped", "in_progress")
            }
            for row in answer["channels"]
            if row["requested"]
        }
        assert shown == expected(every, since, until)
    weekly = {row["channel"]: row for row in week.json()["channels"]}
    assert (weekly["email"]["requested"], weekly["email"]["sent"], weekly["email"]["failed"]) == (25, 20, 2)
    assert weekly["post"]["requested"] == 5, "the 10-day-old failures are not in the week"
    assert {row["channel"]: row["requested"] for row in month.json()["channels"]}["post"] == 11


async def test_a_failure_rate_above_3_percent_warns_and_3_percent_does_not(console: str, db: Any) -> None:
    await db.deliveries.insert_many(seeded(utcnow()))
    headers = bearer(await operator_token(db, Role.viewer))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        week = (await client.get(DASHBOARD, params={"days": 7})).json()
        month = (await client.get(DASHBOARD, params={"days": 30})).json()
    weekly = {row["channel"]: row for row in week["channels"]}
    assert (weekly["email"]["failure_rate"], weekly["email"]["warning"]) == (0.0909, True)
    assert (weekly["signal"]["failure_rate"], weekly["signal"]["warning"]) == (0.03, False)
    assert (weekly["post"]["failure_rate"], weekly["post"]["warning"]) == (0.0, False)
    monthly = {row["channel"]: row for row in month["channels"]}
    assert (monthly["post"]["failure_rate"], monthly["post"]["warning"]) == (0.6, True)
    installed = {"email", "messenger", "post", "signal", "whatsapp"}
    assert installed <= set(weekly), "every installed channel has a row, even without deliveries"
    assert weekly["whatsapp"]["requested"] == 0 and weekly["whatsapp"]["warning"] is False


async def test_pledges_and_certificates_per_day(console: str, db: Any) -> None:
    now = utcnow()
    today = now.date()

    def at(days_ago: int) -> datetime:
        midday = datetime(today.year, today.month, today.day, 0, 0, tzinfo=UTC) - timedelta(days=days_ago)
        return min(midday + timedelta(minutes=1), now)

    await db.pledges.insert_many(
        [
            {"_id": f"pl_{i}", "submitted_at": at(i % 3), "state": "recorded", "country": "KH"}
            for i in range(7)
        ]
        + [{"_id": "pl_old", "submitted_at": at(12), "state": "recorded", "country": "KH"}]
    )
    await db.certificates.insert_many(
        [
            {"_id": f"ce_{i}", "number": f"KCAP-2026-{i:06d}", "issued_at": at(1), "state": "valid"}
            for i in range(2)
        ]
    )
    headers = bearer(await operator_token(db, Role.viewer))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        week = (await client.get(DASHBOARD, params={"days": 7})).json()
        month = (await client.get(DASHBOARD, params={"days": 30})).json()
    per_day = {row["date"]: (row["pledges"], row["certificates"]) for row in week["daily"]}
    assert len(week["daily"]) == 8, "7 days back from now touch 8 dates, the first and last partial"
    assert week["daily"][-1]["date"] == today.isoformat()
    assert per_day[today.isoformat()] == (3, 0)
    assert per_day[(today - timedelta(days=1)).isoformat()] == (2, 2)
    assert per_day[(today - timedelta(days=2)).isoformat()] == (2, 0)
    assert sum(p for p, _ in per_day.values()) == 7
    assert sum(row["pledges"] for row in month["daily"]) == 8 and len(month["daily"]) == 31


async def test_queue_depth_dead_letters_and_the_oldest_wait_come_from_a_real_queue(
    console: str, db: Any, email_high: aio_pika.abc.AbstractChannel
) -> None:
    for n in range(3):
        await email_high.default_exchange.publish(
            aio_pika.Message(b"{}", message_id=f"m{n}"), EMAIL_HIGH.queue
        )
    for n in range(2):
        await email_high.default_exchange.publish(
            aio_pika.Message(b"{}", message_id=f"d{n}"), EMAIL_HIGH.dead_letter_queue
        )
    now = utcnow()
    waiting = delivery(1, "email", "pending", now - timedelta(hours=3))
    waiting["updated_at"] = now - timedelta(hours=2)
    await db.deliveries.insert_many([waiting, delivery(2, "email", "pending", now - timedelta(minutes=5))])
    headers = bearer(await operator_token(db, Role.viewer))
    deadline = asyncio.get_running_loop().time() + 30
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        while True:
            answer = (await client.get(DASHBOARD)).json()
            queue = {q["queue"]: q for q in answer["queues"]}[EMAIL_HIGH.queue]
            if (queue["ready"], queue["dead_letters"]) == (
                3,
                2,
            ) or asyncio.get_running_loop().time() > deadline:
                break
            await asyncio.sleep(0.2)
    assert answer["broker"] is True
    assert (queue["group"], queue["channel"], queue["band"]) == ("channel-email.high", "email", "high")
    assert (queue["ready"], queue["consumers"], queue["dead_letters"]) == (3, 0, 2)
    email = {c["channel"]: c for c in answer["channel_queues"]}["email"]
    assert email["ready"] is not None and email["ready"] >= 3
    assert email["dead_letters"] is not None and email["dead_letters"] >= 2
    assert datetime.fromisoformat(email["oldest_waiting_since"]) == waiting["updated_at"].replace(
        microsecond=waiting["updated_at"].microsecond // 1000 * 1000
    )
    assert 7200 <= email["oldest_waiting_seconds"] < 7200 + 600
    groups = {q["group"] for q in answer["queues"]}
    assert {"pledge-intake", "certificate-renderer", "alert-dispatcher", "channel-post.low"} <= groups
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:  # reading took nothing
        again = {q["queue"]: q for q in (await client.get(DASHBOARD)).json()["queues"]}[EMAIL_HIGH.queue]
    assert (again["ready"], again["dead_letters"]) == (3, 2)


async def test_without_the_broker_the_dashboard_still_shows_the_deliveries(
    make_console: Any, db: Any, dead_broker_url: str
) -> None:
    await db.deliveries.insert_many(seeded(utcnow()))
    headers = bearer(await operator_token(db, Role.viewer))
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url, headers=headers, timeout=60) as client,
    ):
        answer = await client.get(DASHBOARD)
    assert answer.status_code == 200, answer.text
    assert answer.json()["broker"] is False
    assert all(q["ready"] is None and q["dead_letters"] is None for q in answer.json()["queues"])
    assert {row["channel"]: row["requested"] for row in answer.json()["channels"]}["email"] == 25


async def test_a_viewer_reads_the_dashboard_without_personal_data_and_strangers_do_not(
    console: str, db: Any
) -> None:
    await db.deliveries.insert_many(seeded(utcnow()))
    viewer = bearer(await operator_token(db, Role.viewer))
    async with httpx.AsyncClient(base_url=console) as client:
        anonymous = await client.get(DASHBOARD)
        seen = await client.get(DASHBOARD, params={"days": 30}, headers=viewer)
    assert anonymous.status_code == 401
    assert seen.status_code == 200
    for secret in SECRETS:
        assert secret not in seen.text
    assert await db.audit_events.count_documents({}) == 0, "reading counts is not a personal read"
