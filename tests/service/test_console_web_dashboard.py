"""The dashboard and the dead-letter pages in a real browser (Debian's Chromium) against the
console on a real socket, real Mongo-wire server and RabbitMQ: the dashboard's numbers equal the
API's, the charts are drawn with JavaScript and the tables stand without it, a failure rate above
3% is a warning in words; a dead letter is replayed from its page onto its work queue once, all
letters (or one) dropped after a confirm step; viewers see letters but no buttons; axe-clean, EN and KM."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aio_pika
import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from shared.contracts import utcnow
from tests.service.test_console_dashboard import seeded
from tests.service.test_console_dead_letters import EMAIL_LOW, QUEUE, dead_letter, messages
from tests.support.console import bearer, operator_token
from tests.support.console_browser import axe_check, shot
from tests.support.handed_over import emptied

pytestmark = pytest.mark.service

COUNTS = ("requested", "sent", "delivered", "failed", "skipped", "in_progress")


@pytest.fixture
async def broker(rabbit: RabbitNode) -> AsyncIterator[aio_pika.abc.AbstractChannel]:
    """The email channel's low band queues, declared as the channel declares them, empty."""
    async with emptied(rabbit.url, EMAIL_LOW) as channel:
        yield channel


async def table_counts(page: Any) -> dict[str, dict[str, int]]:
    """The deliveries table as the page shows it: channel -> count -> number."""
    shown: dict[str, dict[str, int]] = {}
    for row in await page.locator("#channel-totals tbody tr").all():
        channel = await row.get_attribute("data-channel")
        shown[channel] = {
            key: int((await row.locator(f'td[data-count="{key}"]').inner_text()).replace(",", ""))
            for key in COUNTS
        }
    return shown


async def test_the_dashboard_shows_the_apis_numbers_with_charts_and_a_worded_warning(
    console_page: Any, console: str, db: Any
) -> None:
    await db.deliveries.insert_many(seeded(utcnow()))
    page = await console_page(Role.viewer)
    await page.goto("/dashboard?days=30")
    headers = bearer(await operator_token(db, Role.viewer))
    async with httpx.AsyncClient(base_url=console, headers=headers) as client:
        api = (await client.get("/api/v1/operator/dashboard", params={"days": 30})).json()
    assert await table_counts(page) == {
        row["channel"]: {k: row[k] for k in COUNTS} for row in api["channels"]
    }
    daily = {
        await row.get_attribute("data-date"): int(await row.locator('td[data-count="pledges"]').inner_text())
        for row in await page.locator("#daily-counts tbody tr").all()
    }
    assert daily == {day["date"]: day["pledges"] for day in api["daily"]}
    warning = await page.locator("#failure-warning").inner_text()
    assert "Email" in warning and "Post" in warning and "Signal" not in warning  # channels' names
    email = page.locator('#channel-totals tr[data-channel="email"]')
    assert await email.locator("th").inner_text() == "Email"
    assert "9.1%" in await email.inner_text() and "Warning: above 3%" in await email.inner_text()
    assert "Warning" not in await page.locator('#channel-totals tr[data-channel="signal"]').inner_text()
    await page.locator("#chart-channels canvas").wait_for()
    await page.locator("#chart-daily canvas").wait_for()
    assert await page.locator("#dashboard-charts").is_visible()
    assert await axe_check(page) == []
    await shot(page, "dashboard", "en")

    await page.goto("/dashboard?days=7&lang=km")
    await page.locator("#chart-daily canvas").wait_for()
    assert await page.locator("html").get_attribute("lang") == "km"
    assert "ការព្រមាន" in await email.inner_text()
    assert await axe_check(page) == []
    await shot(page, "dashboard", "km")


async def test_the_dashboard_stands_without_javascript(console_page: Any, db: Any) -> None:
    await db.deliveries.insert_many(seeded(utcnow()))
    page = await console_page(Role.editor, javascript=False)
    await page.goto("/dashboard")
    await page.get_by_label("Period").select_option("30")
    await page.get_by_role("button", name="Show").click()
    await page.wait_for_url("**/dashboard?days=30")
    assert (await table_counts(page))["post"]["failed"] == 6
    assert not await page.locator("#dashboard-charts").is_visible()
    assert await page.locator("canvas").count() == 0
    assert await page.locator("#channel-queues tbody tr").count() >= 5


async def test_a_dead_letter_is_replayed_from_its_page_once_and_all_dropped_after_confirming(
    console_page: Any, db: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    await dead_letter(broker, "ev_page")
    assert await messages(broker, QUEUE, 1) == 1
    page = await console_page(Role.publisher)
    await page.goto("/dead-letters")
    row = page.locator(f'#dead-letter-queues tr[data-queue="{QUEUE}"]')
    assert (await row.locator('td[data-count="letters"]').inner_text()) == "1"
    assert await axe_check(page) == []
    await shot(page, "dead-letters", "en")
    await row.get_by_role("link", name=QUEUE).click()
    await page.wait_for_url(f"**/dead-letters/{QUEUE}")
    letter = page.locator('#letters tr[data-message-id="ev_page"]')
    assert "retries-exhausted" in await letter.inner_text()
    assert "secret@example.org" not in await page.content()
    assert (await letter.locator("time").inner_text()).endswith(" UTC")  # labelled with the zone
    assert await axe_check(page) == []
    await shot(page, "dead-letters-queue", "en")
    await letter.get_by_role("button", name="Replay ev_page").click()
    await page.wait_for_url("**done=replayed**")
    assert f"1 replayed onto {EMAIL_LOW.queue}." in await page.locator("#outcome").inner_text()
    assert await messages(broker, EMAIL_LOW.queue, 1) == 1
    assert await messages(broker, QUEUE, 0) == 0
    await page.go_back()  # the same form again: the letter is gone, nothing is replayed twice
    await page.reload()
    assert await page.locator("#no-letters").is_visible()

    for n in range(2):
        await dead_letter(broker, f"ev_drop_{n}")
    assert await messages(broker, QUEUE, 2) == 2
    await page.goto(f"/dead-letters/{QUEUE}?lang=km")
    await shot(page, "dead-letters-queue", "km")
    assert await axe_check(page) == []
    await page.goto(f"/dead-letters/{QUEUE}?lang=en")
    await page.get_by_role("link", name="Drop all…").click()
    assert f"Drop every letter of {QUEUE} (2)?" in await page.locator("h1").inner_text()
    assert await axe_check(page) == []
    await shot(page, "dead-letters-confirm", "en")
    await page.get_by_role("button", name="Yes, drop all").click()
    await page.wait_for_url("**done=dropped**")
    assert "2 dropped." in await page.locator("#outcome").inner_text()
    assert await messages(broker, QUEUE, 0) == 0
    assert await messages(broker, EMAIL_LOW.queue, 1) == 1, "dropping replayed nothing"
    replayed = await db.audit_events.find({"action": "dead_letters.replayed"}).to_list(None)
    dropped = await db.audit_events.find({"action": "dead_letters.dropped"}).to_list(None)
    assert [(e["object_id"], e["detail"]["count"]) for e in replayed] == [(QUEUE, 1)]
    assert [(e["object_id"], e["detail"]["count"]) for e in dropped] == [(QUEUE, 2)]
    await page.goto("/dead-letters?lang=km")
    await shot(page, "dead-letters", "km")


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_one_dead_letter_is_dropped_only_after_confirming_and_once(
    console_page: Any, db: Any, broker: aio_pika.abc.AbstractChannel, lang: str
) -> None:
    for message_id in ("ev_keep", "ev_gone"):
        await dead_letter(broker, message_id)
    assert await messages(broker, QUEUE, 2) == 2
    page = await console_page(Role.publisher, lang=lang)
    await page.goto(f"/dead-letters/{QUEUE}")
    drop = page.locator('#letters tr[data-message-id="ev_gone"] button.danger')
    await drop.click()  # not confirmed: the page that asks, nothing dropped
    await page.wait_for_url(f"**/dead-letters/{QUEUE}/confirm?action=drop&message_id=ev_gone")
    assert "ev_gone" in await page.locator("h1").inner_text()
    assert "retries-exhausted" in await page.locator("dl").inner_text()
    assert await axe_check(page) == []
    await shot(page, "dead-letters-confirm-one", lang)
    await page.locator("#keep").click()  # go back: nothing changes
    await page.wait_for_url(f"**/dead-letters/{QUEUE}")
    assert await page.locator('#letters tr[data-message-id="ev_gone"]').count() == 1
    assert await messages(broker, QUEUE, 2) == 2
    assert await db.audit_events.count_documents({"action": "dead_letters.dropped"}) == 0

    await drop.click()
    await page.wait_for_url("**/confirm?action=drop&message_id=ev_gone")
    await page.locator("#confirm").click()
    await page.wait_for_url("**done=dropped**")
    assert await page.locator('#letters tr[data-message-id="ev_gone"]').count() == 0
    assert await page.locator('#letters tr[data-message-id="ev_keep"]').count() == 1
    assert await messages(broker, QUEUE, 1) == 1
    assert await messages(broker, EMAIL_LOW.queue, 0) == 0, "dropping replayed nothing"
    await page.goto(f"/dead-letters/{QUEUE}/confirm?action=drop&message_id=ev_gone")  # asked again
    await page.wait_for_url("**gone=1**")
    dropped = await db.audit_events.find({"action": "dead_letters.dropped"}).to_list(None)
    assert [(e["object_id"], e["detail"]["message_ids"]) for e in dropped] == [(QUEUE, ["ev_gone"])]


async def test_a_second_click_on_a_replayed_letter_replays_nothing(
    console_page: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    await dead_letter(broker, "ev_twice")
    assert await messages(broker, QUEUE, 1) == 1
    first = await console_page(Role.publisher)
    second = await console_page(Role.admin)
    for page in (first, second):
        await page.goto(f"/dead-letters/{QUEUE}")
    await first.get_by_role("button", name="Replay ev_twice").click()
    await first.wait_for_url("**done=replayed**")
    await second.get_by_role("button", name="Replay ev_twice").click()
    await second.wait_for_url("**gone=1**")
    assert "no longer in the queue" in await second.locator("#outcome").inner_text()
    await asyncio.sleep(0.5)
    assert await messages(broker, EMAIL_LOW.queue, 1) == 1


async def test_viewers_see_letters_without_buttons_and_may_not_confirm(
    console_page: Any, broker: aio_pika.abc.AbstractChannel
) -> None:
    await dead_letter(broker, "ev_seen")
    assert await messages(broker, QUEUE, 1) == 1
    page = await console_page(Role.viewer)
    await page.goto(f"/dead-letters/{QUEUE}")
    assert await page.locator('#letters tr[data-message-id="ev_seen"]').count() == 1
    assert await page.get_by_role("button", name="Replay ev_seen").count() == 0
    assert await page.get_by_role("link", name="Replay all…").count() == 0
    refused = await page.goto(f"/dead-letters/{QUEUE}/confirm?action=replay")
    assert refused is not None and refused.status == 403
    assert "Not allowed" in await page.content()
    assert await messages(broker, QUEUE, 1) == 1
