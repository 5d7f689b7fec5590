"""Sessions on the console's web pages, in a real browser against the console on a real socket
(real Mongo-wire server and RabbitMQ): the form's field errors then the fix, draft then publish
by role, reschedule and cancel from the session's page, registrations without names or
contacts, the Plan of Action's PDF upload, what each registrant receives and when, a viewer
who may look but not change, accessibility, screenshots in English and Khmer.

No event-scheduler runs here: what the console hands over is read from the bus, and where a
page needs the session as the scheduler keeps it, the test stores it as the scheduler would
(`keep`)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_datetime
from bson import ObjectId
from playwright.async_api import expect

from devstack.broker import RabbitNode
from services.console.auth import COOKIE
from services.console.permissions import Role
from shared.contracts.session import Session
from tests.support.console_browser import axe_check, new_operator, session_token, shot
from tests.support.handed_over import drain, watched
from tests.support.seeds import START, seed_registrations, seed_session

pytestmark = pytest.mark.service

SEEDED = "/sessions/ss_seeded"
PDF = b"%PDF-1.4\n% the plan agreed at the forum\n%%EOF\n"
NAMES_AND_CONTACTS = ("Sok Dara", "dara@example.org", "ចាន់ សុភា", "+85512345678", "sok@example.org", "-Sok")


@pytest.fixture
async def events(rabbit: RabbitNode) -> AsyncIterator[Any]:
    """What the console hands to the event-scheduler, declared but not consumed: readable here."""
    async with watched(
        rabbit.url,
        "test-console-web-sessions",
        ("session.published.v1", "registration.cancelled.v1", "session.plan_published.v1"),
    ) as queue:
        yield queue


async def keep(db: Any, event: dict[str, Any]) -> None:
    """Store a published session as the event-scheduler keeps it (`sessions`: the Session's
    fields, `_id` its id)."""
    session = Session.model_validate(event["data"]["session"]).model_dump()
    await db.sessions.replace_one(
        {"_id": session["session_id"]}, {**session, "_id": session["session_id"]}, upsert=True
    )


async def submit(page: Any, button: Any) -> Any:
    """Click a form's button and the answer of the page it leads to (after any redirect)."""
    async with page.expect_navigation() as navigation:
        await button.click()
    return await navigation.value


def field(page: Any, name: str) -> Any:
    return page.locator(f'[id="{name}"]')


def error_of(page: Any, name: str) -> Any:
    return page.locator(f'[id="{name}-error"]')


async def csrf_token(page: Any) -> str:
    token: str = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    return token


async def audited(db: Any, action: str) -> list[dict[str, Any]]:
    return [e async for e in db.audit_events.find({"action": action})]


def shown(moment: datetime, lang: str = "en") -> str:
    """A time as the console's pages show it (its time zone is UTC in these tests)."""
    return str(format_datetime(moment, "medium", tzinfo=ZoneInfo("UTC"), locale=lang))


# ---- the form ------------------------------------------------------------------------------------


async def test_a_publisher_schedules_a_session_fixing_the_fields_the_form_points_at(
    console_page: Any, db: Any, events: Any
) -> None:
    page = await console_page(Role.publisher)
    await page.goto("/sessions")
    await page.locator("#new-session").click()
    await page.wait_for_url("**/sessions/new")
    await field(page, "kind").select_option("forum")
    await field(page, "texts.en.title").fill("Forum on land evictions")
    await field(page, "texts.en.description").fill("Families of Boeung Kak speak.")
    await field(page, "time_zone").select_option("Asia/Phnom_Penh")
    await field(page, "starts_at").fill("2027-03-06T19:00")
    await field(page, "ends_at").fill("2027-03-06T18:00")
    await field(page, "mode").select_option("hybrid")
    await field(page, "join_link").fill("javascript:alert(1)")
    await field(page, "capacity").fill("lots")
    answer = await submit(page, page.locator("#publish"))

    assert answer.status == 422
    assert await error_of(page, "texts.km.title").inner_text() != ""
    assert "must start with https://" in await error_of(page, "join_link").inner_text()
    assert "whole number" in await error_of(page, "capacity").inner_text()
    assert await page.locator("#error-summary li").count() == 3, "model problems first; the rest after"
    assert await field(page, "texts.en.title").input_value() == "Forum on land evictions", "nothing lost"
    assert await field(page, "starts_at").input_value() == "2027-03-06T19:00"
    assert await field(page, "time_zone").input_value() == "Asia/Phnom_Penh"
    assert await field(page, "mode").input_value() == "hybrid"
    assert await axe_check(page) == []
    await shot(page, "sessions-form-errors", "en")

    await field(page, "texts.km.title").fill("វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី")
    await field(page, "join_link").fill("https://zoom.example/j/42?pwd=forum")
    await field(page, "capacity").fill("40")
    answer = await submit(page, page.locator("#publish"))
    assert answer.status == 422
    assert "must end after it starts" in await error_of(page, "ends_at").inner_text()
    assert "needs a place" in await error_of(page, "place").inner_text()
    assert await drain(events) == [], "nothing is published while the form has problems"

    await field(page, "ends_at").fill("2027-03-06T21:00")
    await field(page, "place").fill("Phnom Penh, Meta House")
    await page.locator('[id="reminder_minutes-4320"]').check()
    await page.locator('[id="reminder_minutes-60"]').uncheck()
    answer = await submit(page, page.locator("#publish"))
    assert answer.status == 200
    [event] = await drain(events)
    session_id = event["data"]["session"]["session_id"]
    assert page.url.endswith(f"/sessions/{session_id}?done=published")
    assert await page.locator("#pending").count() == 1, "handed over, not yet kept by the scheduler"
    assert event["type"] == "session.published.v1" and event["actor"] == page.operator.operator.id
    session = event["data"]["session"]
    assert datetime.fromisoformat(session["starts_at"]) == datetime(2027, 3, 6, 12, 0, tzinfo=UTC)
    assert datetime.fromisoformat(session["ends_at"]) == datetime(2027, 3, 6, 14, 0, tzinfo=UTC)
    assert (session["kind"], session["mode"], session["capacity"]) == ("forum", "hybrid", 40)
    assert session["texts"]["km"]["title"] == "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី"
    assert session["texts"]["en"]["description"] == "Families of Boeung Kak speak."
    assert session["reminder_minutes"] == [10080, 4320, 1440]
    assert session["join_link"] == "https://zoom.example/j/42?pwd=forum"
    [audit] = await audited(db, "session.published")
    assert audit["operator_id"] == page.operator.operator.id and audit["object_id"] == session_id

    await keep(db, event)  # sessions.js looks again by itself and shows the session once kept
    await page.wait_for_selector("#session-title", timeout=30_000)
    assert await page.locator("#session-title").inner_text() == "Forum on land evictions"
    assert "pwd=forum" not in await page.content(), "the join link is never shown on a page"


async def test_an_editor_drafts_and_only_a_publisher_publishes_it(
    console_page: Any, db: Any, events: Any
) -> None:
    editor = await console_page(Role.editor)
    await editor.goto("/sessions/new")
    assert await editor.locator("#publish").count() == 0, "an editor sees no publish button"
    await field(editor, "texts.en.title").fill("Strategic planning")
    await field(editor, "texts.km.title").fill("វគ្គរៀបចំផែនការយុទ្ធសាស្ត្រ")
    await field(editor, "starts_at").fill("2027-04-01T09:00")
    await field(editor, "ends_at").fill("2027-04-01T11:00")
    await submit(editor, editor.locator("#save-draft"))
    assert "/sessions/drafts/ss_" in editor.url and "done=drafted" in editor.url
    draft_id = editor.url.split("/sessions/drafts/")[1].split("?")[0]
    assert await editor.locator("#done").count() == 1
    await field(editor, "texts.en.description").fill("Bring your ideas.")
    await submit(editor, editor.locator("#save-draft"))
    await editor.goto("/sessions")
    assert await editor.locator(f'[data-draft="{draft_id}"]').count() == 1
    assert await drain(events) == [], "a draft is not published"

    publish = await editor.request.post(
        f"/sessions/drafts/{draft_id}", form={"csrf_token": await csrf_token(editor), "action": "publish"}
    )
    assert publish.status == 403 and "may not do this" in await publish.text()
    assert await drain(events) == []

    publisher = await console_page(Role.publisher)
    await publisher.goto("/sessions")
    await publisher.locator(f'[data-draft="{draft_id}"] a').click()
    await publisher.wait_for_url(f"**/sessions/drafts/{draft_id}")
    assert await field(publisher, "texts.en.description").input_value() == "Bring your ideas."
    await submit(publisher, publisher.locator("#publish"))
    assert publisher.url.endswith(f"/sessions/{draft_id}?done=published")
    [event] = await drain(events)
    assert event["data"]["session"]["session_id"] == draft_id
    assert event["actor"] == publisher.operator.operator.id
    assert event["data"]["session"]["texts"]["en"]["description"] == "Bring your ideas."
    assert [e["operator_id"] for e in await audited(db, "session.drafted")] == [editor.operator.operator.id]
    await publisher.goto("/sessions")
    assert await publisher.locator("#drafts").count() == 0, "published: no longer a draft"


# ---- the session's page --------------------------------------------------------------------------


async def test_a_publisher_reschedules_then_cancels_with_a_confirmation(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(db)
    page = await console_page(Role.publisher)
    await page.goto(SEEDED)
    assert await field(page, "starts_at").input_value() == "2027-03-06T12:00"
    await field(page, "time_zone").select_option("Asia/Phnom_Penh")
    await field(page, "starts_at").fill("2027-03-13T19:00")
    await field(page, "ends_at").fill("2027-03-13T18:00")
    answer = await submit(page, page.locator("#reschedule"))
    assert answer.status == 422
    assert "must end after it starts" in await error_of(page, "ends_at").inner_text()
    assert await field(page, "starts_at").input_value() == "2027-03-13T19:00"
    assert await drain(events) == []

    await field(page, "ends_at").fill("2027-03-13T21:00")
    await submit(page, page.locator("#reschedule"))
    assert page.url.endswith(f"{SEEDED}?done=rescheduled")
    [moved] = await drain(events)
    assert moved["data"]["change"] == "rescheduled" and moved["actor"] == page.operator.operator.id
    assert datetime.fromisoformat(moved["data"]["session"]["starts_at"]) == datetime(
        2027, 3, 13, 12, tzinfo=UTC
    )
    assert datetime.fromisoformat(moved["data"]["previous_starts_at"]) == START
    await keep(db, moved)

    await page.goto(SEEDED)
    answer = await submit(page, page.locator("#cancel"))
    assert answer.status == 422 and "Tick the box" in await error_of(page, "confirm").inner_text()
    assert await drain(events) == [], "not cancelled without the confirmation"
    await page.locator('[id="confirm"]').check()
    await submit(page, page.locator("#cancel"))
    assert page.url.endswith(f"{SEEDED}?done=cancelled")
    [cancelled] = await drain(events)
    assert cancelled["data"]["change"] == "cancelled" and cancelled["data"]["session"]["version"] == 3
    trail = [(e["action"], e["detail"]["change"]) for e in await audited(db, "session.changed")]
    assert trail == [("session.changed", "rescheduled")]
    assert len(await audited(db, "session.cancelled")) == 1
    await keep(db, cancelled)
    await page.goto(SEEDED)
    assert await page.locator("#status").get_attribute("data-status") == "cancelled"
    assert await page.locator("#reschedule-form, #cancel-form, #plan-form, #edit").count() == 0


async def test_changing_a_detail_saves_it_without_moving_the_session(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(
        db, starts_at=START + timedelta(seconds=30), ends_at=START + timedelta(hours=2, seconds=30)
    )
    page = await console_page(Role.publisher)
    await page.goto(SEEDED)
    await page.locator("#edit").click()
    await page.wait_for_url(f"**{SEEDED}/edit")
    assert await field(page, "starts_at").input_value() == "2027-03-06T12:00:30"
    assert await field(page, "join_link").input_value() == "https://zoom.example/j/999?pwd=hidden"
    await field(page, "texts.en.title").fill("Forum on land evictions, with the families")
    await field(page, "capacity").fill("0")
    answer = await submit(page, page.locator("#save"))
    assert answer.status == 422 and "Between 1 and 100,000" in await error_of(page, "capacity").inner_text()
    await field(page, "capacity").fill("")
    await submit(page, page.locator("#save"))
    assert page.url.endswith(f"{SEEDED}?done=changed")
    [edited] = await drain(events)
    assert edited["data"]["change"] == "updated", "the same times: not rescheduled"
    assert edited["data"]["session"]["texts"]["en"]["title"] == "Forum on land evictions, with the families"
    assert edited["data"]["session"]["join_link"] == "https://zoom.example/j/999?pwd=hidden"


async def test_registrations_show_state_language_and_channels_never_names_or_contacts(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    page = await console_page(Role.publisher)
    await page.goto(SEEDED)
    rows = page.locator("#registrations tbody tr")
    assert await rows.count() == 3
    assert [await rows.nth(i).locator("td").nth(1).get_attribute("data-state") for i in range(3)] == [
        "registered",
        "registered",
        "waitlisted",
    ]
    assert "Khmer" in await rows.nth(1).inner_text() and "Signal" in await rows.nth(1).inner_text()
    assert (await rows.nth(0).locator("time").inner_text()).endswith(" UTC")  # labelled with the zone
    assert await page.locator('[data-count="registered"]').inner_text() == "2"
    assert await page.locator('[data-count="waitlisted"]').inner_text() == "1"
    html = await page.content()
    for personal in NAMES_AND_CONTACTS:
        assert personal not in html, personal
    [read] = await audited(db, "registrations.read")
    assert read["operator_id"] == page.operator.operator.id and read["detail"]["count"] == 3

    export = await page.request.get(await page.locator("#ideas-export").get_attribute("href"))
    assert export.status == 200 and export.headers["content-type"] == "text/csv; charset=utf-8"
    table = list(csv.reader(io.StringIO((await export.body()).decode("utf-8-sig"))))
    assert [row[5] for row in table[1:]] == ['\'=HYPERLINK("http://evil")', "ដីធ្លីរបស់សហគមន៍"]
    assert len(await audited(db, "ideas.read")) == 1

    token = await csrf_token(page)
    unconfirmed = await page.request.post(
        f"{SEEDED}/registrations/rg_1/cancel", form={"csrf_token": token}, max_redirects=0
    )
    assert unconfirmed.status == 303 and unconfirmed.headers["location"].endswith(
        "/registrations/rg_1/cancel"
    )
    await rows.nth(0).get_by_role("link", name="Cancel registration 1").click()  # a page to confirm on
    await page.wait_for_url(f"**{SEEDED}/registrations/rg_1/cancel?n=1")
    assert await page.locator("h1").inner_text() == "Cancel registration 1?"
    assert await axe_check(page) == []
    await shot(page, "sessions-cancel-registration", "en")
    await page.locator("#keep").click()
    await page.wait_for_url(f"**{SEEDED}#registrations")
    assert await drain(events) == []  # nothing cancelled without the confirmation
    await rows.nth(0).get_by_role("link").click()
    await page.locator("#confirm").click()
    await page.wait_for_url(f"**{SEEDED}?done=registration")
    assert (await page.goto(f"{SEEDED}/registrations/rg_none/cancel")).status == 404
    await db.registrations.update_one({"_id": "rg_2"}, {"$set": {"state": "cancelled"}})
    await page.goto(f"{SEEDED}/registrations/rg_2/cancel")  # cancelled already: nothing to confirm
    await page.wait_for_url(f"**{SEEDED}")
    [cancelled] = await drain(events)
    assert cancelled["type"] == "registration.cancelled.v1" and cancelled["data"]["registration_id"] == "rg_1"
    await shot(page, "sessions-session", "en")


async def test_a_viewer_sees_counts_but_no_registrations_and_may_not_change_anything(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    page = await console_page(Role.viewer)
    await page.goto("/sessions")
    assert await page.locator("#new-session").count() == 0
    await page.locator('[data-session="ss_seeded"] a').click()
    await page.wait_for_url(f"**{SEEDED}")
    assert await page.locator('[data-count="registered"]').inner_text() == "2"
    assert await page.locator("#registrations, #actions, #ideas-export").count() == 0
    token = await csrf_token(page)
    for path, form in (
        (f"{SEEDED}/cancel", {"confirm": "true"}),
        (
            f"{SEEDED}/reschedule",
            {"time_zone": "UTC", "starts_at": "2027-05-01T10:00", "ends_at": "2027-05-01T12:00"},
        ),
        (f"{SEEDED}/plan", {"texts.en": "x", "texts.km": "x"}),
        ("/sessions/new", {"action": "draft", "texts.en.title": "x"}),
    ):
        refused = await page.request.post(path, form={"csrf_token": token, **form})
        assert refused.status == 403, path
    for path in ("/sessions/new", f"{SEEDED}/edit"):
        assert (await page.goto(path)).status == 403
    assert await drain(events) == []
    assert await audited(db, "registrations.read") == []
    assert len(await audited(db, "permission.denied")) == 6


async def test_marked_held_then_the_plan_of_action_is_uploaded_as_a_pdf_and_sent(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(db)
    page = await console_page(Role.publisher)
    await page.goto(SEEDED)
    await submit(page, page.locator("#complete"))
    assert page.url.endswith(f"{SEEDED}?done=completed")
    [held] = await drain(events)
    assert held["data"]["change"] == "completed" and held["actor"] == page.operator.operator.id
    await keep(db, held)
    await page.goto(SEEDED)
    assert await page.locator("#reschedule-form, #cancel-form, #complete-form").count() == 0
    await field(page, "texts.en").fill("We will write to the UN Special Rapporteur.")
    await page.set_input_files(
        "#pdf", files=[{"name": "plan.html", "mimeType": "text/html", "buffer": b"<html>"}]
    )
    answer = await submit(page, page.locator("#send-plan"))
    assert answer.status == 422
    assert await error_of(page, "texts.km").count() == 1
    assert await field(page, "texts.en").input_value() == "We will write to the UN Special Rapporteur."
    await field(page, "texts.km").fill("យើងនឹងសរសេរទៅអ្នករាយការណ៍ពិសេសរបស់អង្គការសហប្រជាជាតិ។")
    await page.set_input_files(
        "#pdf", files=[{"name": "plan.html", "mimeType": "text/html", "buffer": b"<html>"}]
    )
    answer = await submit(page, page.locator("#send-plan"))
    assert answer.status == 422 and "PDF" in await error_of(page, "pdf").inner_text()
    assert await drain(events) == []

    await page.set_input_files(
        "#pdf", files=[{"name": "plan.pdf", "mimeType": "application/pdf", "buffer": PDF}]
    )
    await submit(page, page.locator("#send-plan"))
    assert page.url.endswith(f"{SEEDED}?done=plan")
    [event] = await drain(events)
    assert event["type"] == "session.plan_published.v1" and event["actor"] == page.operator.operator.id
    assert event["data"]["texts"]["km"].startswith("យើងនឹង")
    stored = await db["session_files.files"].find_one({"_id": ObjectId(event["data"]["pdf_file_id"])})
    assert stored is not None and stored["length"] == len(PDF)
    [audit] = await audited(db, "session.plan_of_action")
    assert audit["detail"] == {"pdf": True}
    assert await page.locator("#plans-sent li").count() == 1


async def test_the_page_says_what_each_registrant_receives_and_when(console_page: Any, db: Any) -> None:
    await seed_session(db, join_link_release_at=START - timedelta(hours=2))
    page = await console_page(Role.editor)
    await page.goto(SEEDED)
    rows = page.locator("#schedule tbody tr")
    kinds = [await rows.nth(i).get_attribute("data-message") for i in range(await rows.count())]
    assert kinds == [
        "confirmation", "reminder", "reminder", "join-link", "reminder",
        "promoted", "rescheduled", "cancelled", "plan-of-action", "registration-cancelled",
    ]  # fmt: skip
    texts = [await rows.nth(i).inner_text() for i in range(await rows.count())]
    assert "7 days before the start" in texts[1] and shown(START - timedelta(days=7)) in texts[1]
    assert "1 day before" in texts[2] and "with the join link" not in texts[2], "before the release"
    assert shown(START - timedelta(hours=2)) in texts[3]
    assert "1 hour before" in texts[4] and "with the join link" in texts[4]
    assert "Waiting list" in texts[5] and "Registered and waiting list" in texts[6]


async def test_the_pages_read_in_khmer_and_pass_the_accessibility_check(console_page: Any, db: Any) -> None:
    await seed_session(db)
    await seed_session(
        db,
        "ss_past",
        starts_at=datetime(2026, 1, 10, 3, tzinfo=UTC),
        ends_at=datetime(2026, 1, 10, 5, tzinfo=UTC),
    )
    await seed_registrations(db)
    for lang in ("en", "km"):
        page = await console_page(Role.admin, lang=lang)
        await page.goto("/sessions")
        assert await page.get_attribute("html", "lang") == lang
        assert await page.locator('#upcoming [data-session="ss_seeded"]').count() == 1
        assert await page.locator('#past [data-session="ss_past"]').count() == 1
        heading = "វគ្គកន្លងមក" if lang == "km" else "Past sessions"
        assert await page.locator("#past-heading").inner_text() == heading
        assert await axe_check(page) == []
        await shot(page, "sessions-calendar", lang)
        await page.goto(SEEDED)
        assert await axe_check(page) == []
        await shot(page, "sessions-page", lang)
        await page.goto("/sessions/new")
        assert await axe_check(page) == []
        await shot(page, "sessions-form", lang)
        await page.locator("#publish").click()
        await page.wait_for_load_state()
        assert await page.locator("#error-summary").count() == 1
        assert await axe_check(page) == []
        if lang == "km":
            assert "សូមសរសេរចំណងជើងជាភាសានេះ។" in await error_of(page, "texts.km.title").inner_text()
        await shot(page, "sessions-form-errors", lang)


async def test_without_the_broker_the_form_comes_back_filled_and_nothing_is_recorded(
    make_console: Any, dead_broker_url: str, chromium: Any, db: Any
) -> None:
    publisher = await new_operator(db, Role.publisher)
    async with make_console(wait_ready=False, amqp_url=dead_broker_url) as url:
        context = await chromium.new_context(base_url=url, locale="en-GB")
        try:
            await context.add_cookies(
                [{"name": COOKIE, "value": await session_token(db, publisher.operator.id), "url": url}]
            )
            page = await context.new_page()
            await page.goto("/sessions/new")
            await field(page, "texts.en.title").fill("Forum on land evictions")
            await field(page, "texts.km.title").fill("វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី")
            await field(page, "starts_at").fill("2027-03-06T12:00")
            await field(page, "ends_at").fill("2027-03-06T14:00")
            answer = await submit(page, page.locator("#publish"))
            assert answer.status == 503
            assert "nothing was done" in await page.locator("#error-summary").inner_text()
            assert await field(page, "texts.km.title").input_value() == "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី"
        finally:
            await context.close()
    assert await audited(db, "session.published") == []


async def test_a_5_mb_plan_pdf_is_taken_from_the_page_and_a_larger_one_refused_on_its_field(
    console_page: Any, db: Any, events: Any
) -> None:
    await seed_session(db)
    page = await console_page(Role.publisher)
    await page.goto(SEEDED)
    token = await csrf_token(page)
    head = b"%PDF-1.7\n"

    def upload(size: int) -> dict[str, Any]:
        pdf = {"name": "plan.pdf", "mimeType": "application/pdf", "buffer": head + b"0" * (size - len(head))}
        return {"csrf_token": token, "texts.en": "The plan.", "texts.km": "ផែនការ។", "pdf": pdf}

    too_big = await page.request.post(f"{SEEDED}/plan", multipart=upload(5_000_001), max_redirects=0)
    assert too_big.status == 422 and "at most 5 MB" in await too_big.text()
    assert await drain(events) == []
    taken = await page.request.post(f"{SEEDED}/plan", multipart=upload(5_000_000), max_redirects=0)
    assert taken.status == 303 and taken.headers["location"] == f"{SEEDED}?done=plan"
    [event] = await drain(events)
    stored = await db["session_files.files"].find_one({"_id": ObjectId(event["data"]["pdf_file_id"])})
    assert stored is not None and stored["length"] == 5_000_000


async def test_the_counts_follow_registrations_without_a_reload_and_stand_without_javascript(
    console: str, console_page: Any, db: Any
) -> None:
    await seed_session(db)
    await seed_registrations(db)
    page = await console_page(Role.viewer)
    await page.goto(SEEDED)
    registered = page.locator('[data-count="registered"]')
    assert await registered.inner_text() == "2"
    await db.registrations.insert_one(
        {"_id": "rg_4", "session_id": "ss_seeded", "state": "registered", "ideas": "",
         "submitted_at": START - timedelta(hours=5),
         "registrant": {"name": "Keo", "language": "km", "country": "KH", "channels": ["email"],
                        "contact": {"email": "keo@example.org"}}}
    )  # fmt: skip
    await db.registrations.update_one({"_id": "rg_3"}, {"$set": {"state": "cancelled"}})
    await expect(registered).to_have_text("3", timeout=60_000)  # the page asks every few seconds
    assert await page.locator('[data-count="waitlisted"]').inner_text() == "0"
    assert await page.locator('[data-count="cancelled"]').inner_text() == "1"
    answer = await page.request.get(f"{SEEDED}/counts")
    assert answer.status == 200 and answer.headers["cache-control"] == "no-store"
    shown = await answer.json()
    assert {k: shown[k] for k in ("registered", "waitlisted", "cancelled")} == {
        "registered": "3",
        "waitlisted": "0",
        "cancelled": "1",
    }
    assert shown["seats"] == await page.locator('[data-count="seats"]').inner_text()
    assert "keo@example.org" not in await answer.text()
    async with httpx.AsyncClient(base_url=console) as anonymous:  # the page's rule: signed in first
        assert (await anonymous.get(f"{SEEDED}/counts")).status_code in (303, 401)

    still = await console_page(Role.viewer, javascript=False)
    await still.goto(SEEDED)
    assert await still.locator('[data-count="registered"]').inner_text() == "3"
