"""The public pages (pledge form, subscribe, preferences) in a real browser (Debian's Chromium) against the whole running system."""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from dotenv import dotenv_values

from tests.e2e.conftest import RunningStack
from tests.e2e.test_certificate_delivery import operator_deliveries
from tests.support.sealed import opened_member

pytestmark = pytest.mark.timeout(300)
SHOTS = Path(tempfile.gettempdir()) / "samleng-screens"  # for people to look at; not asserted


def wait_recorded(page: Any, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = page.locator("#state").get_attribute("data-state")
        if state == "recorded":
            return state
        time.sleep(0.3)
        page.reload()
    raise AssertionError(f"pledge not recorded; last state {state}")


def test_english_form_with_a_latin_name_is_signed_and_recorded(stack: RunningStack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(stack.intake_url + "/?lang=en")
    page.get_by_label("Your name").fill("Sok Dara")
    assert "I, Sok Dara, pledge" not in page.content(), "the pledge text is filled only by the server"
    page.get_by_label("Country where you live").select_option("US")
    page.get_by_label("English").check()
    page.get_by_label("Email", exact=True).check()
    page.get_by_label("Email address").fill("dara@example.org")
    page.get_by_label("Send me Urgent Action alerts.").check()
    page.locator("#consent").check()
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "form-en.png"), full_page=True)
    page.get_by_role("button", name="Sign the pledge").click()
    page.wait_for_url(re.compile(r"/pledge/pl_"))
    assert page.locator("#thanks").inner_text() == "Thank you for signing the pledge"
    assert wait_recorded(page) == "recorded"
    pledge_id = page.url.split("/pledge/")[1].split("?")[0]
    status = httpx.get(f"{stack.intake_url}/api/v1/pledges/{pledge_id}").json()
    assert status["state"] == "recorded"

    # The number reaches the signer in the certificate message, never on the public status page.
    deadline = time.monotonic() + 60
    numbers: set[str] = set()
    while not numbers and time.monotonic() < deadline:
        time.sleep(0.3)
        numbers = {d["source_id"] for d in operator_deliveries(stack, pledge_id) if d["state"] == "sent"}
    [number] = numbers
    assert re.fullmatch(r"KCAP-\d{4}-\d{6}-[2-9A-HJ-NP-Z]{4}", number), number
    page.reload()
    assert number not in page.content()
    page.goto(f"{stack.intake_url}/v/{number}?lang=en")
    assert page.locator("#verdict").get_attribute("data-state") == "valid"
    assert page.locator("#signer").inner_text() == "S. D.", "initials only, as the signer did not opt in"
    assert "Sok Dara" not in page.content()
    page.screenshot(path=str(SHOTS / "verify.png"), full_page=True)
    page.close()


def test_khmer_form_with_a_khmer_name_signal_and_email(stack: RunningStack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(stack.intake_url + "/?lang=km")
    assert page.locator("html").get_attribute("lang") == "km"
    page.get_by_label("ឈ្មោះរបស់អ្នក").fill("សុខ ចាន់ធី")
    page.get_by_label("ប្រទេសដែលអ្នករស់នៅ").select_option("KH")
    page.locator("#certificate_language-km").check()
    page.locator("#channel-email").check()
    page.locator("#channel-signal").check()
    page.get_by_label("អាសយដ្ឋានអ៊ីមែល").fill("chanthy@example.org")
    page.locator("#phone").fill("012 345 678")
    page.locator("#consent").check()
    page.screenshot(path=str(SHOTS / "form-km.png"), full_page=True)
    page.get_by_role("button", name="ចុះហត្ថលេខាលើការសន្យា").click()
    page.wait_for_url(re.compile(r"/pledge/pl_"))
    assert page.locator("#thanks").inner_text() == "សូមអរគុណសម្រាប់ការចុះហត្ថលេខាលើការសន្យា"
    assert wait_recorded(page) == "recorded"
    page.screenshot(path=str(SHOTS / "thanks-km.png"), full_page=True)
    page.close()


def test_messenger_choice_leads_to_the_m_me_step(stack: RunningStack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(stack.intake_url + "/?lang=en")
    page.get_by_label("Your name").fill("Chan Sophea")
    page.get_by_label("Country where you live").select_option("KH")
    page.locator("#channel-messenger").check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Sign the pledge").click()
    page.wait_for_url(re.compile(r"/pledge/pl_"))
    link = page.get_by_role("link", name="Open Messenger").get_attribute("href")
    assert link is not None and link.startswith("https://m.me/") and "ref=" in link
    page.close()


def test_post_disappears_when_cambodia_is_chosen(stack: RunningStack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(stack.intake_url + "/?lang=en")
    post = page.locator("#channel-post")
    page.get_by_label("Country where you live").select_option("US")
    post.check()
    assert post.is_visible()
    assert page.locator("#postal_address").is_visible(), "the address appears when post is chosen"
    page.get_by_label("Country where you live").select_option("KH")
    assert not post.is_visible()
    assert not post.is_checked(), "a hidden choice is not sent"
    page.get_by_label("Country where you live").select_option("FR")
    assert post.is_visible()
    page.locator("#discreet-on").check()
    assert not post.is_visible(), "nor with discreet messages on: a letter shows who writes"
    page.locator("#discreet-off").check()
    assert post.is_visible()
    page.get_by_label("Country where you live").select_option("KH")
    assert not post.is_visible(), "discreet messages off do not bring post to Cambodia"
    page.close()


def test_the_server_refuses_post_for_cambodia_when_forced(stack: RunningStack, browser: Any) -> None:
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    page.goto(stack.intake_url + "/?lang=en")
    page.get_by_label("Your name").fill("Keo Sina")
    page.get_by_label("Country where you live").select_option("KH")
    assert page.locator("#channel-post").is_visible(), "without JavaScript nothing hides it"
    page.locator("#channel-post").check()
    page.locator("#consent").check()
    page.get_by_role("button", name="Sign the pledge").click()
    summary = page.locator("#error-summary")
    assert "Post cannot reach people living in Cambodia" in summary.inner_text()
    assert page.get_by_label("Your name").input_value() == "Keo Sina", "what was typed is kept"
    describedby = page.locator("#channels").get_attribute("aria-describedby") or ""
    assert "channels-error" in describedby
    page.screenshot(path=str(SHOTS / "refused.png"), full_page=True)
    context.close()


def test_the_form_can_be_filled_and_sent_with_the_keyboard_alone(stack: RunningStack, browser: Any) -> None:
    page = browser.new_page()
    page.goto(stack.intake_url + "/?lang=en")
    page.keyboard.press("Tab")  # language switch link
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "name"
    page.keyboard.type("Sok Dara")
    order = []
    for _ in range(20):
        page.keyboard.press("Tab")
        order.append(page.evaluate("document.activeElement.id"))
    assert "website" not in order, "the honeypot is out of the tab order"
    assert (
        order.index("country")
        < order.index("channel-email")
        < order.index("email")
        < order.index("consent")
        < order.index("submit")
    )
    page.locator("#country").focus()
    page.keyboard.type("United States")
    page.locator("#channel-email").focus()
    page.keyboard.press("Space")
    page.locator("#email").focus()
    page.keyboard.type("dara@example.org")
    page.locator("#consent").focus()
    page.keyboard.press("Space")
    page.locator("#submit").focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/pledge/pl_"))
    assert page.locator("#thanks").is_visible()
    page.close()


def _mail_link(stack: RunningStack, address: str, path: str, timeout: float = 30.0) -> str:
    import email
    import email.policy

    base = f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for item in httpx.get(f"{base}/messages").json()["messages"]:
            if item["To"][0]["Address"] == address:
                raw = httpx.get(f"{base}/message/{item['ID']}/raw").content
                message = email.message_from_bytes(raw, policy=email.policy.default)
                text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
                found = re.search(rf"http://127\.0\.0\.1:\d+/{path}/[A-Za-z0-9_\-]+", text)
                if found:
                    return found.group(0)
        time.sleep(0.5)
    raise AssertionError(f"no /{path}/ link mailed to {address}")


def test_subscribe_confirm_and_change_preferences_in_the_browser(stack: RunningStack, browser: Any) -> None:
    from pymongo import MongoClient

    page = browser.new_page()
    page.goto(stack.intake_url + "/subscribe?lang=en")
    page.get_by_label("Your name").fill("Chan Sophea")
    page.get_by_label("Country where you live").select_option("AU")
    page.get_by_label("Email (we send a confirmation link)").fill("sophea.subscriber@example.org")
    page.get_by_label("Political prisoners").check()
    page.get_by_label("First choice").select_option("email")
    page.get_by_label("Your time zone").select_option("Australia/Melbourne")
    page.locator("#quiet_start").fill("22:00")
    page.locator("#quiet_end").fill("07:00")
    page.get_by_role("button", name="Subscribe").click()
    assert page.locator("#error-summary").is_visible()  # consent not given: said, nothing lost
    assert page.get_by_label("Your name").input_value() == "Chan Sophea"
    page.locator("#consent").check()
    page.get_by_role("button", name="Subscribe").click()
    assert page.locator("#subscribe-state").get_attribute("data-state") == "sent"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "subscribed.png"), full_page=True)

    page.goto(_mail_link(stack, "sophea.subscriber@example.org", "c"))
    page.get_by_role("button", name="Confirm").click()
    assert page.locator("#confirm-state").get_attribute("data-state") == "confirmed"

    mongo: MongoClient[dict[str, Any]] = MongoClient(
        f"mongodb://127.0.0.1:{stack.port('SAMLENG_MONGO_PORT')}"
    )
    try:
        keys = dotenv_values(stack.run_dir / "secrets.env")  # what `make run` generated
        env = {
            "MONGODB_URI": f"mongodb://127.0.0.1:{stack.port('SAMLENG_MONGO_PORT')}",
            "MONGODB_DATABASE": "samleng",
            "SAMLENG_MASTER_KEY": str(keys["SAMLENG_MASTER_KEY"]),
            "SAMLENG_BLIND_INDEX_KEY": str(keys["SAMLENG_BLIND_INDEX_KEY"]),
        }
        deadline = time.monotonic() + 20
        member = None
        while member is None and time.monotonic() < deadline:  # sealed at rest: opened to compare
            member = opened_member(env, email_confirmed="sophea.subscriber@example.org")
            time.sleep(0.3)
        assert member is not None, "the confirmed subscription made a member"
        from datetime import UTC, datetime, timedelta

        from shared.member_links import link_token  # the page link a message carries

        expires = datetime.now(UTC) + timedelta(days=30)
        link = link_token(member["unsubscribe_token"], member["_id"], "preferences", expires)
        page.goto(f"{stack.intake_url}/p/{link}?lang=km")
        assert page.locator("h1").inner_text() == "អ្វីដែលអ្នកទទួលពីយើង"
        assert page.locator("#topic-political-prisoners").is_checked()
        assert page.locator("#time_zone").input_value() == "Australia/Melbourne"
        page.locator("#topic-media-freedom").check()
        page.locator("#quiet_start").fill("")
        page.locator("#quiet_end").fill("")
        page.locator("#save").click()
        assert page.locator("#preferences-state").get_attribute("data-state") == "saved"
        page.screenshot(path=str(SHOTS / "preferences-km.png"), full_page=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            member = mongo.samleng.members.find_one({"_id": member["_id"]})
            if member and "media-freedom" in member.get("topics", []):
                break
            time.sleep(0.3)
        assert member is not None
        assert member["topics"] == ["political-prisoners", "media-freedom"] and member["quiet_hours"] is None
    finally:
        mongo.close()
    page.close()


def test_a_session_on_the_calendar_registration_in_the_browser_and_the_confirmation_email(
    stack: RunningStack, browser: Any
) -> None:
    import email
    import email.policy
    from datetime import UTC, datetime, timedelta

    from icalendar import Calendar

    from services.intake.sessions import shown
    from tests.e2e.console_signin import operator_token

    starts = (datetime.now(UTC) + timedelta(days=3)).replace(minute=0, second=0, microsecond=0)
    created = httpx.post(
        f"{stack.console_url}/api/v1/operator/sessions",
        headers={"Authorization": f"Bearer {operator_token(stack)}"},
        json={
            "kind": "forum",
            "texts": {"en": {"title": "Forum on land evictions"}, "km": {"title": "វេទិកាស្តីពីការបណ្តេញចេញពីដីធ្លី"}},
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=2)).isoformat(),
            "mode": "online",
            "join_link": "https://zoom.example/j/555?pwd=e2e",
        },
    )
    assert created.status_code == 202, created.text
    session_id = created.json()["session_id"]
    deadline = time.monotonic() + 30
    while session_id not in httpx.get(f"{stack.intake_url}/sessions").text:
        assert time.monotonic() < deadline, "the event-scheduler never stored the session"
        time.sleep(0.5)

    page = browser.new_page()
    page.goto(f"{stack.intake_url}/sessions?lang=en&tz=America/Los_Angeles")
    item = page.locator(f'li[data-session="{session_id}"]')
    assert item.locator(".starts").inner_text() == shown(starts, "America/Los_Angeles", "en")
    item.get_by_role("link", name="Forum on land evictions").click()
    page.get_by_label("Your name").fill("Sok Dara")
    page.get_by_label("Country where you live").select_option("US")
    page.locator("#email").fill("dara.session@example.org")
    page.get_by_label("First choice").select_option("email")
    page.get_by_label("Ideas or suggestions you would like to send in advance (optional)").fill(
        "Invite the UN rapporteur"
    )
    page.locator("#consent").check()
    page.get_by_role("button", name="Register").click()
    assert page.locator("#registration-state").get_attribute("data-state") == "registered"
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / "session-registered.png"), full_page=True)
    assert "zoom.example" not in page.content(), "the join link is not public"
    page.close()

    base = f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1"
    deadline = time.monotonic() + 30
    confirmation = None
    while confirmation is None and time.monotonic() < deadline:
        for item_ in httpx.get(f"{base}/messages").json()["messages"]:
            if item_["To"][0]["Address"] == "dara.session@example.org":
                confirmation = email.message_from_bytes(
                    httpx.get(f"{base}/message/{item_['ID']}/raw").content, policy=email.policy.default
                )
        time.sleep(0.5)
    assert confirmation is not None, "no confirmation email"
    assert confirmation["Subject"] == "Registered: Forum on land evictions"
    [invite] = [p for p in confirmation.iter_attachments() if p.get_content_type() == "text/calendar"]  # type: ignore[union-attr]
    [event] = Calendar.from_ical(invite.get_content()).walk("VEVENT")
    assert event.decoded("dtstart") == starts
