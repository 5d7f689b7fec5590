"""Scheduling a session and publishing its Plan of Action in the browser, on the whole running
system (issue #16's acceptance): an operator who has never used a terminal signs in on the
console's /sign-in page (password and TOTP), schedules a session with the form, a member
registers on the public site, the operator sees the registration (no name, no contact), marks
the session held and sends the Plan of Action with its PDF from the session's page — and the
registrant's inbox (the SMTP sink) receives it, once, with the PDF attached."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import FilePayload

from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import new_operator, signed_in
from tests.e2e.waiting import inbox, wait_for
from tests.support.console_browser import SHOTS

pytestmark = pytest.mark.timeout(300)

PDF = b"%PDF-1.4\n% the Plan of Action agreed at the forum\n%%EOF\n"
REGISTRANT = "sophea.forum@example.org"


def test_an_operator_schedules_a_session_and_sends_its_plan_of_action_in_the_browser(
    stack: RunningStack, browser: Any
) -> None:
    operator = new_operator(stack, "organiser.sessions@samleng.test", "Organiser")
    SHOTS.mkdir(exist_ok=True)
    page = signed_in(browser, stack, operator, "/sessions")  # on the page, with an authenticator app's code

    # Schedule the session with the form.
    starts = (datetime.now(UTC) + timedelta(days=2)).replace(second=0, microsecond=0)
    page.get_by_role("link", name="Schedule a session").click()
    page.get_by_label("Kind of session").select_option("forum")
    page.get_by_label("Title (English)").fill("Forum on land evictions")
    page.get_by_label("Title (Khmer)").fill("វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី")
    page.get_by_label("Description (English)").fill("Families of Boeung Kak speak.")
    page.get_by_label("Time zone of these times").select_option("UTC")
    page.get_by_label("Starts", exact=True).fill(starts.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Ends", exact=True).fill((starts + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("How people take part").select_option("online")
    page.get_by_label("Join link", exact=True).fill("https://zoom.example/j/777?pwd=forum")
    page.get_by_label("Seats", exact=True).fill("30")
    page.screenshot(path=str(SHOTS / "console-sessions-e2e-form-en.png"), full_page=True)
    page.get_by_role("button", name="Publish").click()
    page.wait_for_url("**/sessions/ss_*?done=published")
    session_id = page.url.split("/sessions/")[1].split("?")[0]
    # The event-scheduler keeps it within moments; the page looks again by itself (sessions.js).
    page.wait_for_selector("#session-title", timeout=60_000)
    assert page.locator("#session-title").inner_text() == "Forum on land evictions"

    # A member registers on the public site.
    public = browser.new_page()
    public.goto(f"{stack.intake_url}/sessions/{session_id}?lang=en")
    public.get_by_label("Your name").fill("Chan Sophea")
    public.get_by_label("Country where you live").select_option("US")
    public.locator("#email").fill(REGISTRANT)
    public.get_by_label("First choice").select_option("email")
    public.locator("#consent").check()
    public.get_by_role("button", name="Register").click()
    assert public.locator("#registration-state").get_attribute("data-state") == "registered"
    public.close()
    wait_for(lambda: inbox(stack, REGISTRANT, "Registered"), what="the confirmation email")

    # The operator sees the registration: its state, language and channel, never who it is.
    def registered() -> bool:
        page.goto(f"/sessions/{session_id}")
        return bool(page.locator('[data-count="registered"]').inner_text() == "1")

    wait_for(registered, what="the registration on the session's page")
    row = page.locator("#registrations tbody tr")
    assert row.count() == 1 and "Email" in row.inner_text() and "English" in row.inner_text()
    assert "Chan Sophea" not in page.content() and REGISTRANT not in page.content()
    schedule = page.locator("#schedule").inner_text()
    assert "Reminder, 1 day before the start" in schedule and "How to join" in schedule

    # After the session: mark it held, then send the Plan of Action with its PDF.
    page.get_by_role("button", name="Mark as held").click()
    page.wait_for_url(f"**/sessions/{session_id}?done=completed")
    page.get_by_label("Plan of Action (English)").fill("We will write to the UN Special Rapporteur.")
    page.get_by_label("Plan of Action (Khmer)").fill("យើងនឹងសរសេរទៅអ្នករាយការណ៍ពិសេសរបស់អង្គការសហប្រជាជាតិ។")
    page.set_input_files("#pdf", files=[FilePayload(name="plan.pdf", mimeType="application/pdf", buffer=PDF)])
    page.get_by_role("button", name="Send the Plan of Action").click()
    page.wait_for_url(f"**/sessions/{session_id}?done=plan")
    assert page.locator("#plans-sent li").count() == 1
    page.screenshot(path=str(SHOTS / "console-sessions-e2e-session-en.png"), full_page=True)

    [plan] = wait_for(lambda: inbox(stack, REGISTRANT, "Plan of Action"), what="the Plan of Action email")
    body = plan.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    assert "We will write to the UN Special Rapporteur." in text
    attached = [(p.get_filename(), p.get_content()) for p in plan.iter_attachments()]
    assert attached == [("plan-of-action.pdf", PDF)]
    time.sleep(2)
    assert len(inbox(stack, REGISTRANT, "Plan of Action")) == 1, "sent once"

    page.goto(f"/sessions/{session_id}?lang=km")
    page.screenshot(path=str(SHOTS / "console-sessions-e2e-session-km.png"), full_page=True)
    page.context.close()
