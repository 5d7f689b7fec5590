"""The subscribe page, its API and a member's own page on intake (services/intake/subscriptions.py),
over real HTTP against the real broker and Mongo-wire server: the "Discreet messages" choice
(issue #17) travels in `subscription.requested.v1` and `preferences.changed.v1`; the own page shows
the member's discreet state as it is now (their choice, else on for residents of Cambodia), lets
them turn it on or off and, with a phone, choose Signal only. Seen in Chromium in English and
Khmer, with axe."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import utcnow
from shared.member_links import link_token
from tests.support.console_browser import SHOTS, axe_check
from tests.support.forms import csrf, post_form
from tests.support.handed_over import drain, watched

SECRET = "sec_" + "d" * 28
MEMBER: dict[str, Any] = {
    "_id": "mb_discreet",
    "unsubscribe_token": SECRET,
    "email": "sophea@example.org",
    "phone": "+85512345678",
    "name": "Chan Sophea",
    "country": "KH",
    "language": "en",
    "alerts_opt_in": True,
    "topics": [],
    "channels": ["email", "signal"],
    "time_zone": "Asia/Phnom_Penh",
}
SUBSCRIBER = {
    "name": "Sok Dara",
    "country": "US",
    "email": "dara@example.org",
    "channel_1": "email",
    "language": "en",
    "time_zone": "UTC",
    "consent": "yes",
}
SAVED = {"alerts": "yes", "channel_1": "email", "language": "en", "time_zone": "Asia/Phnom_Penh"}


def page_link(member_id: str = "mb_discreet") -> str:
    return "/p/" + link_token(SECRET, member_id, "preferences", utcnow() + timedelta(days=30))


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """pledge-intake's inputs from these pages, declared but not consumed."""
    async with watched(
        rabbit.url, "test-subscriptions", ("subscription.requested.v1", "preferences.changed.v1")
    ) as queue:
        yield queue


async def member(db: Any, **changes: Any) -> dict[str, Any]:
    doc = {**MEMBER, **changes}
    await db.members.insert_one(doc)
    return doc


async def test_the_subscribe_page_and_api_carry_the_discreet_choice(intake: str, handed_over: Any) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get("/subscribe", params={"lang": "en"})
        by_form = await post_form(client, "/subscribe", {**SUBSCRIBER, "discreet": "on"})
        automatic = await post_form(client, "/subscribe", {**SUBSCRIBER, "discreet": "auto"})
        api = {"name": "Sok Dara", "country": "US", "email": "dara@example.org", "consent": True}
        chosen_off = await client.post(
            "/api/v1/subscriptions", json={**api, "channels": ["email"], "discreet": False}
        )
        not_boolean = await client.post("/api/v1/subscriptions", json={**api, "discreet": "yes"})
    assert 'id="discreet-auto" name="discreet" value="auto" checked' in page.text
    assert "on if you live in Cambodia" in page.text
    assert by_form.status_code == automatic.status_code == 200 and 'data-state="sent"' in by_form.text
    assert chosen_off.status_code == 202, chosen_off.text
    assert not_boolean.status_code == 422
    assert [p["loc"][-1] for p in not_boolean.json()["detail"]] == ["discreet"]
    requested = [e["data"] for e in await drain(handed_over) if e["type"] == "subscription.requested.v1"]
    assert [r["preferences"]["discreet"] for r in requested] == [True, None, False]


async def test_the_own_page_shows_discreet_on_by_default_in_cambodia_and_saves_an_explicit_off(
    intake: str, db: Any, handed_over: Any
) -> None:
    await member(db)
    link = page_link()
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(link)
        km = await client.get(link, params={"lang": "km"})
        saved = await post_form(client, link, {**SAVED, "discreet": "off"})
    assert 'id="discreet-state" data-state="on"' in page.text
    assert "because you live in Cambodia" in page.text
    assert 'id="discreet-on" name="discreet" value="on" checked' in page.text
    assert 'id="signal_only"' in page.text, "a discreet member with a phone may choose Signal only"
    assert "សារដោយសម្ងាត់កំពុងបើកសម្រាប់អ្នក" in km.text and "Signal" in km.text
    assert saved.status_code == 200 and 'data-state="saved"' in saved.text
    assert 'id="discreet-state" data-state="off"' in saved.text
    [changed] = [e["data"] for e in await drain(handed_over) if e["type"] == "preferences.changed.v1"]
    assert changed["member_id"] == "mb_discreet" and changed["preferences"]["discreet"] is False


async def test_signal_only_sets_the_channels_to_signal_alone(intake: str, db: Any, handed_over: Any) -> None:
    await member(db, discreet=True, country="FR")
    link = page_link()
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(link)
        saved = await post_form(client, link, {**SAVED, "discreet": "on", "signal_only": "yes"})
    assert 'data-state="on"' in page.text and "because you live in Cambodia" not in page.text
    assert saved.status_code == 200 and 'id="signal_only" name="signal_only" value="yes"' in saved.text
    [changed] = [e["data"] for e in await drain(handed_over) if e["type"] == "preferences.changed.v1"]
    assert changed["preferences"]["channels"] == ["signal"] and changed["preferences"]["discreet"] is True


async def test_a_member_without_discreet_messages_or_a_phone_gets_no_signal_only(
    intake: str, db: Any, handed_over: Any
) -> None:
    await member(db, country="US", phone=None, channels=["email"])
    link = page_link()
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get(link)
        turned_on = await post_form(client, link, {**SAVED, "discreet": "on", "signal_only": "yes"})
        await client.post(link, data={**SAVED, **await csrf(client, link)})
    assert (
        'data-state="off"' in page.text
        and 'id="discreet-off" name="discreet" value="off" checked' in page.text
    )
    assert 'id="signal_only"' not in page.text
    assert 'data-state="on"' in turned_on.text and 'id="signal_only"' not in turned_on.text, "no phone"
    changes = [e["data"] for e in await drain(handed_over) if e["type"] == "preferences.changed.v1"]
    assert [c["preferences"]["channels"] for c in changes] == [["email"], ["email"]]
    assert [c["preferences"]["discreet"] for c in changes] == [True, None], (
        "a page without it chooses nothing"
    )


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_own_page_with_discreet_controls_reads_right_in_a_browser(
    chromium: Any, intake: str, db: Any, handed_over: Any, lang: str
) -> None:
    await member(db)
    context = await chromium.new_context(locale="km-KH" if lang == "km" else "en-GB")
    try:
        page = await context.new_page()
        opened = await page.goto(f"{intake}{page_link()}?lang={lang}")
        assert opened is not None and opened.status == 200
        assert await page.locator("#discreet-state").get_attribute("data-state") == "on"
        assert await page.locator("#discreet-on").is_checked()
        assert await page.locator("#signal_only").is_visible()
        assert await page.locator("label[for=signal_only]").is_visible()
        assert await axe_check(page) == []
        SHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"discreet-preferences-{lang}.png"), full_page=True)
        await page.check("#discreet-off")
        await page.click("#save")
        await page.wait_for_selector("#preferences-state[data-state=saved]")
        assert await page.locator("#discreet-state").get_attribute("data-state") == "off"
        assert await axe_check(page) == []
    finally:
        await context.close()
