"""The replies inbox and the member pages in a real browser (Debian's Chromium; a viewer's pages
with JavaScript off, which none of them needs) against the console on a real socket (real Mongo-wire server and RabbitMQ):
the inbox newest first with each reply's window, paged without losing replies of the same instant, answering (a field error first, then the answer
handed over once although the form is sent twice), marking handled; the member lookup by exact
contact and the member page with export and erase; a viewer is refused without seeing a contact;
axe-core finds no serious violation; screenshots in English and Khmer."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.auth import COOKIE
from services.console.permissions import Role
from services.console.web import replies as web_replies
from shared.contracts import utcnow
from tests.service.test_console_member_lookup import seed as seed_member
from tests.service.test_console_replies import PHONE, reply
from tests.support.console_browser import axe_check, new_operator, session_token, shot
from tests.support.handed_over import drain, watched

pytestmark = pytest.mark.service

WATCHED = ("reply.answer_requested.v1", "member.erasure_requested.v1")


@pytest.fixture
async def bus(rabbit: RabbitNode) -> AsyncIterator[Any]:
    async with watched(rabbit.url, "test-web-replies", WATCHED) as queue:
        yield queue


async def seed_replies(db: Any) -> None:
    await db.inbound_messages.insert_many(
        [
            reply("ev_forum", "whatsapp", hours_ago=2, text="Where is the forum?\nAnd when?"),
            reply("ev_late", "whatsapp", hours_ago=30, text="<b>Hello</b>", sender="+85512777002"),
            reply("ev_signal", "signal", hours_ago=72, text="សួស្តី", member_id=None, sender="+85512777003"),
        ]
    )


async def test_the_inbox_an_answer_sent_once_and_marking_handled(
    console_page: Any, db: Any, bus: Any
) -> None:
    await seed_replies(db)
    page = await console_page(Role.publisher)
    page.set_default_timeout(15_000)
    await page.goto("/replies")
    items = page.locator("#replies > li")
    assert [await item.get_attribute("data-reply-id") for item in await items.all()] == [
        "ev_forum",
        "ev_late",
        "ev_signal",
    ]
    forum, late, signal = await items.all()
    assert "An answer is possible for 21 more hours" in await forum.inner_text()
    head = await forum.locator(".reply-head").inner_text()
    assert head.startswith("WhatsApp, ") and head.endswith(" UTC")  # the channel's name; the zone
    assert " UTC)." in await forum.locator(".window").inner_text()
    assert PHONE in await forum.inner_text()
    assert "No answer is possible any more" in await late.inner_text()
    assert "<b>Hello</b>" in await late.inner_text(), "what people write is shown as text"
    assert "Signal has no time limit" in await signal.inner_text()
    assert "a number we hold for no member" in await signal.inner_text()
    assert await axe_check(page) == []
    await shot(page, "replies-inbox", "en")

    await forum.get_by_role("link", name="Open and answer").click()
    await page.wait_for_url("**/replies/ev_forum")
    assert await page.locator("#reply-text").inner_text() == "Where is the forum?\nAnd when?"
    assert (await page.locator(".facts time").inner_text()).endswith(" UTC")
    assert await page.locator("h1").inner_text() == "Reply on WhatsApp"
    await page.get_by_role("button", name="Send answer").click()
    assert "Write an answer." in await page.locator("#text-error").inner_text()
    assert await axe_check(page) == []
    token = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    await page.get_by_label("Your answer").fill("At the temple hall, Saturday 3 pm.")
    await page.get_by_role("button", name="Send answer").click()
    await page.wait_for_url("**/replies/ev_forum?done=answered")
    assert "Your answer is on its way" in await page.locator("#outcome").inner_text()
    assert "At the temple hall, Saturday 3 pm." in await page.locator("#answers").inner_text()
    again = await page.request.post(
        "/replies/ev_forum/answer",
        form={"csrf_token": token or "", "text": "At the temple hall, Saturday 3 pm."},
        max_redirects=0,
    )
    assert again.status == 303 and again.headers["location"].endswith("done=already")
    await shot(page, "replies-answered", "en")
    events = await drain(bus, settle=0.3)
    assert [e["data"]["text"] for e in events] == ["At the temple hall, Saturday 3 pm."]
    assert events[0]["actor"] == page.operator.operator.id

    await page.get_by_role("button", name="Mark handled").click()
    await page.wait_for_url("**/replies/ev_forum?done=handled")
    await page.goto("/replies")
    assert await page.locator("#replies > li[data-reply-id=ev_forum]").count() == 0
    await page.goto("/replies?show=handled")
    [handled] = await page.locator("#replies > li").all()
    assert "Handled by Test publisher" in await handled.inner_text()
    await handled.get_by_role("button", name="Mark not handled").click()
    await page.wait_for_url("**/replies?show=handled")
    assert await page.locator("#no-replies").count() == 1
    assert (
        await db.audit_events.count_documents({"action": {"$in": ["reply.handled", "reply.unhandled"]}}) == 2
    )

    await page.goto("/replies/ev_late")
    assert "No answer is possible any more" in await page.locator("#window").inner_text()
    assert await page.get_by_role("button", name="Send answer").count() == 0
    late = await page.request.post(  # a form loaded before the window closed
        "/replies/ev_late/answer", form={"csrf_token": token or "", "text": "Sorry, we were slow"}
    )
    assert late.status == 409
    refused = await late.text()
    assert "The answer was not sent." in refused and "Sorry, we were slow" in refused
    assert await drain(bus, settle=0.3) == [], "nothing was handed over"


async def test_the_inbox_and_a_reply_in_khmer(console_page: Any, db: Any) -> None:
    await seed_replies(db)
    page = await console_page(Role.publisher, lang="km")
    await page.goto("/replies?lang=km")
    assert await page.get_attribute("html", "lang") == "km"
    assert await page.locator("h1").inner_text() == "ការឆ្លើយតប"
    assert await axe_check(page) == []
    await shot(page, "replies-inbox", "km")
    await page.goto("/replies/ev_forum")
    assert await page.get_by_role("button", name="ផ្ញើចម្លើយ").count() == 1
    assert await axe_check(page) == []
    await shot(page, "replies-reply", "km")


async def test_the_inbox_pages_replies_of_the_same_instant_without_losing_one(
    console_page: Any, db: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_replies, "PAGE", 2)  # the console runs in this process
    same = utcnow().replace(microsecond=0)
    await db.inbound_messages.insert_many(
        [{**reply(f"ev_same_{i}", "signal", 0), "received_at": same} for i in (3, 0, 4, 1, 2)]
        + [{**reply("ev_before", "signal", 0), "received_at": same - timedelta(seconds=1)}]
        + [{**reply("ev_first", "signal", 0), "received_at": same - timedelta(seconds=2)}]
    )
    page = await console_page(Role.publisher, javascript=False)
    await page.goto("/replies")
    shown: list[str] = []
    for _ in range(10):
        items = await page.locator("#replies > li").all()
        shown.append(",".join([await item.get_attribute("data-reply-id") or "" for item in items]))
        if await page.locator("#older").count() == 0:
            break
        await page.locator("#older").click()
        await page.wait_for_url("**before_id=*")
    assert shown == ["ev_same_4,ev_same_3", "ev_same_2,ev_same_1", "ev_same_0,ev_before", "ev_first"]


async def test_a_member_found_by_exact_contact_with_export_and_erase(
    console_page: Any, db: Any, bus: Any
) -> None:
    await seed_member(db)
    page = await console_page(Role.admin)
    await page.goto("/members")
    assert await axe_check(page) == []
    await page.get_by_label("Email address").fill("not-an-email")
    await page.get_by_role("button", name="Look up").click()
    assert "This is not an email address." in await page.locator("#email-error").inner_text()
    assert await page.get_by_label("Email address").input_value() == "not-an-email"
    await page.get_by_label("Email address").fill("nobody@example.org")
    await page.get_by_role("button", name="Look up").click()
    assert await page.locator("#found").inner_text() == "No member holds this contact."
    await shot(page, "members-lookup", "en")

    await page.get_by_label("Email address").fill("")
    await page.get_by_label("Phone number").fill("+85512888001")
    await page.get_by_role("button", name="Look up").click()
    await page.wait_for_url("**/members/mb_look")
    assert "+85512888001" not in page.url
    facts = await page.locator("#member-facts").inner_text()
    assert "sophea@example.org" in facts and "WhatsApp, Email" in facts
    assert await page.locator("#consents tbody tr").count() == 2
    assert await page.locator("#deliveries tbody tr").count() == 20
    for moment in await page.locator("#consents time, #deliveries time").all_inner_texts():
        assert moment.endswith(" UTC"), moment
    assert await page.locator("#export").get_attribute("href") == "/api/v1/operator/members/mb_look/export"
    assert await axe_check(page) == []
    await shot(page, "members-member", "en")

    await page.get_by_role("link", name="Erase this member").click()
    await page.get_by_role("button", name="Yes, erase this member").click()
    await page.wait_for_url("**/members/mb_look?done=requested")
    [erasure] = await drain(bus, settle=0.3)
    assert erasure["type"] == "member.erasure_requested.v1" and erasure["data"]["member_id"] == "mb_look"
    assert erasure["actor"] == page.operator.operator.id

    km = await console_page(Role.publisher, lang="km")
    await km.goto("/members/mb_look?lang=km")
    assert await km.locator("#export").count() == 1
    assert await km.locator("#erase").count() == 0, "a publisher may not erase"
    assert await axe_check(km) == []
    await shot(km, "members-member", "km")
    await km.goto("/members")
    await shot(km, "members-lookup", "km")


async def test_a_viewer_is_refused_and_sees_no_contact(console_page: Any, db: Any) -> None:
    await seed_replies(db)
    await seed_member(db)
    for role in (Role.viewer, Role.editor):
        page = await console_page(role, javascript=False)
        for path in ("/replies", "/replies/ev_forum", "/members", "/members/mb_look"):
            answer = await page.goto(path)
            assert answer is not None and answer.status == 403, path
            text = await page.inner_text("main")
            assert "Not allowed" in text
            assert PHONE not in text and "forum" not in text and "sophea" not in text.casefold()
        assert await page.locator("a[href='/replies']").count() == 0, "not in the menu either"
        refused = await page.request.post("/replies/ev_forum/handled", form={"csrf_token": "x"})
        assert refused.status == 403
    assert json.dumps(await db.reply_states.find().to_list(None)) == "[]"


async def test_while_the_broker_is_away_the_answer_form_keeps_the_text(
    make_console: Callable[..., Any], dead_broker_url: str, db: Any
) -> None:
    await seed_replies(db)
    created = await new_operator(db, Role.publisher)
    cookies = {COOKIE: await session_token(db, created.operator.id)}
    async with (
        make_console(wait_ready=False, amqp_url=dead_broker_url, submit_timeout_seconds=0.5) as url,
        httpx.AsyncClient(base_url=url, cookies=cookies) as client,
    ):
        form = await client.get("/replies/ev_forum")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert form.status_code == 200 and token is not None
        away = await client.post(
            "/replies/ev_forum/answer", data={"csrf_token": token.group(1), "text": "See you Saturday"}
        )
    assert away.status_code == 503
    assert "the message service did not take it" in away.text
    assert '<textarea id="text" name="text"' in away.text and "See you Saturday</textarea>" in away.text
    assert await db.reply_states.count_documents({}) == 0
