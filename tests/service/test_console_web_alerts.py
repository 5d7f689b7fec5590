"""The alert pages in a real browser against the console on a real socket (real Mongo-wire server
and RabbitMQ): composing with errors on their fields, the preview, sending to myself, the summary
with a second publisher's approval and publishing, the alert's page updating itself, and a
viewer who sees states and counts but no contact details. Each page passes axe-core and is
shot in English and Khmer."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from services.console.permissions import Role
from tests.service.test_console_alerts import ALERTS, alert, keep_published
from tests.support.console import bearer, operator_token
from tests.support.console_browser import axe_check, shot
from tests.support.handed_over import drain, watched

pytestmark = pytest.mark.service


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """What the console hands to the dispatcher (alerts and tests), declared but not consumed."""
    async with watched(
        rabbit.url, "test-web-alerts", ("alert.published.v1", "alert.test_requested.v1")
    ) as queue:
        yield queue


async def fill_alert(page: Any, number: str, *, urgent: bool = False) -> None:
    """Every field of the compose form, as an operator types it."""
    body = alert(number)
    await page.fill("#number", number)
    if urgent:
        await page.check("#urgent")
    await page.check("#topic-political-prisoners")
    await page.fill("#deadline", "2026-12-15T09:00")
    for lang in ("en", "km"):
        text = body["texts"][lang]
        await page.fill(f"[id='texts.{lang}.title']", text["title"])
        await page.fill(f"[id='texts.{lang}.summary']", text["summary"])
        await page.fill(f"[id='texts.{lang}.background']", f"Background ({lang})")
        await page.fill(f"[id='texts.{lang}.actions']", "\n".join(text["actions"]))
        await page.fill(f"[id='texts.{lang}.letter_subject']", text["letter_subject"])
        await page.fill(f"[id='texts.{lang}.letter']", text["letter"])
    official = body["officials"][0]
    for name in ("name", "title", "organisation", "email", "salutation"):
        await page.fill(f"[id='officials.0.{name}']", official[name])


async def test_an_editor_composes_with_errors_on_their_fields_then_saves_the_draft(
    console: str, db: Any, console_page: Any
) -> None:
    page = await console_page(Role.editor)
    await page.goto("/alerts")
    await page.click("#new-alert")
    await page.wait_for_url("**/alerts/new")
    await page.fill("#number", "UA 70")
    await page.fill("[id='texts.en.title']", "Release Sok Vanna")
    await page.fill("[id='officials.0.organisation']", "Ministry of Justice")  # a row without a name
    await page.fill("[id='officials.1.name']", "Minister")
    await page.fill("[id='officials.1.email']", "not-an-address")
    async with page.expect_response(lambda r: r.request.method == "POST") as posted:
        await page.click("#save-draft")
    assert (await posted.value).status == 422
    await page.wait_for_load_state()
    for field in (
        "number",
        "topics",
        "texts.en.summary",
        "texts.km.title",
        "officials.0.name",
        "officials.1.email",
    ):
        assert await page.locator(f"[id='{field}-error']").count() == 1, field
    assert await page.locator("[id='texts.en.title-error']").count() == 0
    assert await page.input_value("[id='texts.en.title']") == "Release Sok Vanna", "nothing typed is lost"
    assert await page.input_value("[id='officials.1.email']") == "not-an-address"
    assert await axe_check(page) == []
    await shot(page, "alerts-compose-errors", "en")
    assert await db.alert_drafts.count_documents({}) == 0

    rows = await page.locator("fieldset.official").count()
    await page.click("#more-officials")  # more rows, without JavaScript's help: nothing saved
    await page.wait_for_load_state()
    assert await page.locator("fieldset.official").count() == rows + 3
    assert await db.alert_drafts.count_documents({}) == 0

    await fill_alert(page, "UA 70/26")
    await page.fill("[id='officials.1.name']", "")  # emptied rows are left out
    await page.fill("[id='officials.1.email']", "")
    await page.click("#save-draft")
    await page.wait_for_url("**/alerts/al_*?done=saved")
    assert "The draft is saved." in await page.inner_text("#done")
    [draft] = await db.alert_drafts.find({}).to_list(None)
    assert draft["state"] == "draft" and draft["number"] == "UA 70/26"
    assert draft["deadline"] == "2026-12-15T09:00:00Z"  # the console's time zone (UTC in tests)
    assert [o["name"] for o in draft["officials"]] == ["Minister of Justice"]
    assert draft["texts"]["km"]["actions"] == ["សរសេរទៅរដ្ឋមន្ត្រីក្រសួងយុត្តិធម៌"]
    assert draft["changed_by"] == page.operator.operator.id

    await page.click("#edit")
    await page.wait_for_url("**/edit")
    assert await page.input_value("[id='officials.0.email']") == "minister@justice.example"
    await page.fill("[id='texts.en.title']", "Free Sok Vanna")
    await page.click("#save-draft")
    await page.wait_for_url("**?done=saved")
    assert (await db.alert_drafts.find_one({}))["texts"]["en"]["title"] == "Free Sok Vanna"


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_pages_of_a_draft_read_in_both_languages_and_pass_axe(
    console: str, db: Any, console_page: Any, handed_over: Any, lang: str
) -> None:
    page = await console_page(Role.publisher, lang=lang)
    async with httpx.AsyncClient(
        base_url=console, headers=bearer(await operator_token(db, Role.editor))
    ) as api:
        body = {**alert("UA 71/26"), "sensitive": True}
        alert_id = (await api.post(ALERTS, params={"draft": "true"}, json=body)).json()["alert_id"]
    await page.goto(f"/alerts?lang={lang}")
    assert await axe_check(page) == []
    await shot(page, "alerts-list", lang)
    await page.goto(f"/alerts/new?lang={lang}")
    assert await axe_check(page) == []
    await shot(page, "alerts-compose", lang)

    await page.goto(f"/alerts/{alert_id}?lang={lang}")
    assert await axe_check(page) == []
    await shot(page, "alerts-draft", lang)

    await page.click("#preview")
    await page.wait_for_url("**/preview")
    subjects = await page.locator(".email-subject").all_inner_texts()
    assert subjects[0].startswith("Urgent Action UA 71/26") and subjects[1].startswith(
        "សកម្មភាពបន្ទាន់ UA 71/26"
    )
    chats = await page.locator("pre.chat").all_inner_texts()
    assert chats and all("Sok Vanna" not in c and "សុខ វណ្ណា" not in c for c in chats), "sensitive: no names"
    assert await page.locator("#sensitive-on").count() == 1
    srcdoc = await page.locator("iframe.email-html").first.get_attribute("srcdoc")
    assert srcdoc is not None and "Minister of Justice" in srcdoc
    assert await axe_check(page) == []
    await shot(page, "alerts-preview", lang)

    await page.goto(f"/alerts/{alert_id}/summary?lang={lang}")
    assert await page.locator("#approval-state").count() == 1
    assert await axe_check(page) == []
    await shot(page, "alerts-summary", lang)


async def test_send_to_myself_from_the_draft_page(
    console: str, db: Any, console_page: Any, handed_over: Any
) -> None:
    page = await console_page(Role.editor, javascript=False)
    async with httpx.AsyncClient(
        base_url=console, headers=bearer(await operator_token(db, Role.editor))
    ) as api:
        alert_id = (await api.post(ALERTS, params={"draft": "true"}, json=alert("UA 72/26"))).json()[
            "alert_id"
        ]
    await page.goto(f"/alerts/{alert_id}")
    await page.select_option("#channel", "signal")
    await page.click("#send-test")  # no number for a phone channel
    await page.wait_for_load_state()
    assert await page.locator("[id='to-error']").count() == 1
    await page.fill("#to", "+855 12 345 678")
    await page.select_option("#language", "km")
    await page.click("#send-test")
    await page.wait_for_url("**?done=test&channel=signal")
    assert "signal" in await page.inner_text("#done")
    await page.select_option("#channel", "email")
    await page.click("#send-test")
    await page.wait_for_url("**?done=test&channel=email")
    events = await drain(handed_over)
    assert [(e["type"], e["data"]["channel"], e["data"]["phone"], e["data"]["language"]) for e in events] == [
        ("alert.test_requested.v1", "signal", "+85512345678", "km"),
        ("alert.test_requested.v1", "email", None, "en"),
    ]
    assert events[1]["data"]["email"] == page.operator.operator.email


async def test_a_second_publisher_approves_an_urgent_alert_and_the_author_publishes_it(
    console: str, db: Any, console_page: Any, handed_over: Any
) -> None:
    author = await console_page(Role.publisher)
    approver = await console_page(Role.publisher, lang="km")
    await author.goto("/alerts/new")
    await fill_alert(author, "UA 73/26", urgent=True)
    await author.click("#save-draft")
    await author.wait_for_url("**?done=saved")
    alert_id = author.url.split("/alerts/")[1].split("?")[0]

    await author.click("#summary")
    await author.wait_for_url("**/summary")
    assert await author.locator("#publish").count() == 0, "not approved: no publish button"
    assert await author.locator("#approve").count() == 0, "the author cannot approve their own change"
    assert "second publisher" in await author.inner_text("#publish-refusal")
    assert await author.locator("#urgent-at-once").count() == 1

    await approver.goto(f"/alerts/{alert_id}/summary")
    await approver.click("#approve")
    await approver.wait_for_url("**?done=approved")
    assert approver.operator.operator.display_name in await approver.inner_text("#approval-state")
    assert await approver.locator("#publish").count() == 0, "the approver does not publish"
    assert await axe_check(approver) == []
    await shot(approver, "alerts-approved", "km")

    await author.reload()
    assert approver.operator.operator.display_name in await author.inner_text("#approval-state")
    token = (
        await author.locator("#publish")
        .locator("xpath=ancestor::form//input[@name='csrf_token']")
        .get_attribute("value")
    )
    clicks = await asyncio.gather(  # a double click on "publish": both land on the alert's page
        *(
            author.request.post(f"/alerts/{alert_id}/publish", form={"csrf_token": token}, max_redirects=0)
            for _ in range(2)
        )
    )
    assert [c.headers["location"] for c in clicks] == [f"/alerts/{alert_id}?done=published"] * 2
    await author.goto(clicks[0].headers["location"])
    assert "Published" in await author.inner_text("#done")
    [event] = [e for e in await drain(handed_over) if e["type"] == "alert.published.v1"]
    assert event["actor"] == author.operator.operator.id and event["data"]["urgent"] is True
    approved = await db.audit_events.find_one({"action": "alert.approved"})
    published = await db.audit_events.find_one({"action": "alert.published"})
    assert approved["operator_id"] == approver.operator.operator.id
    assert published["operator_id"] == author.operator.operator.id
    assert published["detail"]["approved_by"] == approver.operator.operator.id


async def seed_progress(db: Any, alert_id: str, states: list[tuple[str, str]]) -> None:
    now = datetime.now(UTC)
    await db.deliveries.insert_many(
        [
            {"_id": f"dl_{alert_id}_{i}", "purpose": "alert", "correlation_id": alert_id,
             "source_id": f"{alert_id}#0", "member_id": f"mb_{i}", "channel": channel, "state": state,
             "attempt": 1, "updated_at": now, "created_at": now,
             "request": {"recipient": {"email": f"person{i}@example.org", "phone": "+85512000111"}}}
            for i, (channel, state) in enumerate(states, start=len(await db.deliveries.find({}).to_list(None)))
        ]
    )  # fmt: skip


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_alert_page_updates_itself_and_a_viewer_sees_no_contact_details(
    console: str, db: Any, console_page: Any, lang: str
) -> None:
    await keep_published(db, "al_live", "UA 74/26")
    await seed_progress(db, "al_live", [("email", "pending"), ("signal", "sent")])
    await db.action_reports.insert_many(
        [
            {"_id": "al_live:mb_1", "alert_id": "al_live", "member_id": "mb_1", "source": "link",
             "at": datetime(2026, 11, 28, 10, tzinfo=UTC)},
            {"_id": "al_live:mb_2", "alert_id": "al_live", "member_id": "mb_2", "source": "chat-reply",
             "at": datetime(2026, 11, 29, 10, tzinfo=UTC)},
        ]
    )  # fmt: skip
    page = await console_page(Role.viewer, lang=lang)
    await page.goto(f"/alerts/al_live?lang={lang}")
    total = page.locator("table[data-sequence='0'] tfoot td[data-stage='sent']")
    assert await total.inner_text() == "1"
    assert await page.locator("#actions-chart canvas").count() == 1, "the chart is drawn"
    assert await page.locator("#actions-over-time tbody tr").count() == 2
    html = await page.content()
    assert "example.org" not in html and "+85512000111" not in html and "mb_1" not in html
    assert await page.locator("#change-form").count() == 0, "a viewer changes nothing"
    assert await axe_check(page) == []
    await shot(page, "alerts-alert", lang)

    await db.deliveries.update_one({"_id": "dl_al_live_0"}, {"$set": {"state": "sent"}})
    deadline = time.monotonic() + 30
    while await total.inner_text() != "2":  # without a reload
        assert time.monotonic() < deadline, "the progress never updated itself"
        await asyncio.sleep(0.3)
    await seed_progress(db, "al_live", [("whatsapp", "delivered")])
    await page.locator("table[data-sequence='0'] tr[data-channel='whatsapp']").wait_for(timeout=30_000)

    exported = await page.request.get("/api/v1/operator/alerts/al_live/recipients.csv")
    assert exported.status == 200
    text = await exported.text()
    assert "example.org" not in text and "+855" not in text and "mb_0" in text
    refused = await page.goto("/alerts/new")
    assert refused is not None and refused.status == 403
    assert await page.locator("#problem").count() == 1 and await page.locator("#compose").count() == 0


async def test_without_javascript_the_alert_page_shows_the_progress_and_a_publisher_closes_the_alert(
    console: str, db: Any, console_page: Any, handed_over: Any
) -> None:
    await keep_published(db, "al_close", "UA 75/26")
    await seed_progress(db, "al_close", [("email", "delivered")])
    page = await console_page(Role.publisher, javascript=False)
    await page.goto("/alerts/al_close")
    assert await page.locator("table[data-sequence='0'] tfoot td[data-stage='delivered']").inner_text() == "1"
    assert await page.locator("#actions-chart").is_hidden()
    await page.select_option("#kind", "extension")
    await page.click("#send-change")  # an extension without a new deadline
    await page.wait_for_load_state()
    assert await page.locator("[id='deadline-error']").count() == 1
    await page.select_option("#kind", "closure")
    await page.click("#send-change")
    await page.wait_for_url("**?done=changed&kind=closure")
    [event] = await drain(handed_over)
    assert event["data"]["kind"] == "closure" and event["actor"] == page.operator.operator.id
