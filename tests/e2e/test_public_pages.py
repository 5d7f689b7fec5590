"""The public alert and sessions pages read right in a real browser (Debian's Chromium), in English
and Khmer, against the whole running system: the letter as a reader would write it (no raw
`{placeholder}`), the calendar with upcoming sessions by month and past ones apart."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from babel.dates import format_datetime
from pymongo import MongoClient

from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import operator_token
from tests.e2e.test_pledge_form import SHOTS
from tests.integration.test_alerts import ALERT

pytestmark = pytest.mark.timeout(300)
ZONE = "Asia/Phnom_Penh"


def operator(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {operator_token(stack)}"}


def test_the_alert_letter_reads_as_a_reader_would_write_it(stack: RunningStack, browser: Any) -> None:
    body = copy.deepcopy(ALERT)
    body["number"] = "UA 61/26"
    body["texts"]["en"]["letter"] += "\n\nYours sincerely,\n{name}\n{town}"
    created = httpx.post(f"{stack.console_url}/api/v1/operator/alerts", headers=operator(stack), json=body)
    assert created.status_code == 202, created.text
    deadline = time.monotonic() + 30
    while httpx.get(f"{stack.intake_url}/a/UA-61-26").status_code != 200:
        assert time.monotonic() < deadline, "the dispatcher never kept the alert"
        time.sleep(0.5)

    page = browser.new_page()
    SHOTS.mkdir(exist_ok=True)
    page.goto(f"{stack.intake_url}/a/UA-61-26?lang=en")
    letter = page.locator("#alert-letter")
    assert letter.inner_text().startswith("Your Excellency,\n\nI am [your name] and I call for the release")
    assert letter.locator("mark.fill-in").all_inner_texts() == ["[your name]", "[your name]", "[town]"]
    assert "{" not in letter.inner_text() and "}" not in letter.inner_text()
    mailto = page.get_by_role("link", name="write an email").get_attribute("href") or ""
    assert "Your%20Excellency" in mailto and "%7B" not in mailto
    page.screenshot(path=str(SHOTS / "alert-en.png"), full_page=True)

    page.goto(f"{stack.intake_url}/a/UA-61-26?lang=km")
    letter = page.locator("#alert-letter")
    assert letter.inner_text().startswith("ឯកឧត្តម/លោកជំទាវ,\n\nខ្ញុំឈ្មោះ [ឈ្មោះរបស់អ្នក] សូមអំពាវនាវ")
    assert "{" not in page.locator("main").inner_text()
    page.screenshot(path=str(SHOTS / "alert-km.png"), full_page=True)
    page.close()


def create_session(stack: RunningStack, en: str, km: str, starts: datetime) -> str:
    created = httpx.post(
        f"{stack.console_url}/api/v1/operator/sessions",
        headers=operator(stack),
        json={
            "kind": "forum",
            "texts": {"en": {"title": en}, "km": {"title": km}},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "mode": "online",
            "join_link": "https://zoom.example/j/777?pwd=e2e",
        },
    )
    assert created.status_code == 202, created.text
    return str(created.json()["session_id"])


def stored(sessions: Any, session_id: str, status: str) -> None:
    deadline = time.monotonic() + 30
    while (sessions.find_one({"_id": session_id}) or {}).get("status") != status:
        assert time.monotonic() < deadline, f"the event-scheduler never stored {session_id} as {status}"
        time.sleep(0.3)


def test_the_calendar_lists_upcoming_sessions_by_month_and_past_ones_apart(
    stack: RunningStack, browser: Any
) -> None:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    soon = create_session(
        stack, "Forum on land evictions", "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី", now + timedelta(days=3)
    )
    later = create_session(stack, "Hearing on Boeung Kak", "សវនាការអំពីបឹងកក់", now + timedelta(days=45))
    called_off = create_session(stack, "Planning in Siem Reap", "ផែនការនៅសៀមរាប", now + timedelta(days=10))
    held = create_session(stack, "Forum on press freedom", "វេទិកាស្តីពីសេរីភាពសារព័ត៌មាន", now + timedelta(days=1))
    last_week = create_session(stack, "UN review briefing", "ការប្រជុំពិនិត្យរបស់អ.ស.ប", now + timedelta(days=2))
    for session_id, path in ((called_off, "cancel"), (held, "complete")):
        answer = httpx.post(
            f"{stack.console_url}/api/v1/operator/sessions/{session_id}/{path}", headers=operator(stack)
        )
        assert answer.status_code == 202, answer.text
    mongo: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{stack.port('SAMLENG_MONGO_PORT')}"
    )
    try:
        sessions = mongo["samleng"].sessions
        for session_id, status in (
            (soon, "scheduled"),
            (later, "scheduled"),
            (last_week, "scheduled"),
            (called_off, "cancelled"),
            (held, "completed"),
        ):
            stored(sessions, session_id, status)
        for session_id, days in ((held, 2), (last_week, 7)):  # as time passes
            starts = now - timedelta(days=days)
            sessions.update_one(
                {"_id": session_id}, {"$set": {"starts_at": starts, "ends_at": starts + timedelta(hours=2)}}
            )
    finally:
        mongo.close()

    page = browser.new_page()
    for language, past_heading in (("en", "Past sessions"), ("km", "វគ្គកន្លងមក")):
        page.goto(f"{stack.intake_url}/sessions?lang={language}&tz={ZONE}")
        upcoming = page.locator("#upcoming")
        ours = {soon, called_off, later, held, last_week}  # the running system may hold others' sessions
        order = upcoming.locator("li").evaluate_all("els => els.map(e => e.dataset.session)")
        assert [s for s in order if s in ours] == [soon, called_off, later], "soonest first, cancelled kept"
        months = upcoming.locator("h3.month").all_inner_texts()
        expected = []
        for starts in (now + timedelta(days=3), now + timedelta(days=10), now + timedelta(days=45)):
            heading = format_datetime(starts, "LLLL y", tzinfo=ZoneInfo(ZONE), locale=language)
            if heading not in expected:
                expected.append(heading)
        assert [m for m in months if m in expected] == expected
        cancelled = upcoming.locator(f'li[data-session="{called_off}"] .status')
        assert cancelled.inner_text() == ("Cancelled" if language == "en" else "បានលុបចោល")
        past = page.locator("#past")
        assert past.locator("h2").inner_text() == past_heading
        past_order = past.locator("li").evaluate_all("els => els.map(e => e.dataset.session)")
        assert [s for s in past_order if s in ours] == [held, last_week], "most recent first"
        page.screenshot(path=str(SHOTS / f"sessions-{language}.png"), full_page=True)
    page.close()
