"""The box "send any message to our number" (services/intake/confirm_number.py) on intake, over real
HTTP against the real broker and Mongo-wire server: Signal and WhatsApp carry nothing to a number
its owner has not written to us from (services/dispatcher/numbers.py), so the pages a person lands
on after choosing one — the pledge's status page, a session's "registered", the subscribe page's
"almost done" — and the member's own page tell them how, with our number (INTAKE_SIGNAL_NUMBER,
INTAKE_WHATSAPP_NUMBER) and a link that opens the app; never their own number. Seen in Chromium
in English and Khmer, with axe."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.contracts import pledge_ids, utcnow
from shared.member_links import link_token
from tests.service.conftest import SECRET
from tests.support.console_browser import SHOTS, axe_check
from tests.support.forms import csrf, post_form
from tests.support.handed_over import watched
from tests.support.seeds import seed_session

SIGNAL = "+15550001234"
WHATSAPP = "+15550001111"
SIGNAL_LINK = 'href="https://signal.me/#p/+15550001234"'
WHATSAPP_LINK = 'href="https://wa.me/15550001111?text=Hello"'
THEIR_PHONE = "+85512345678"

PLEDGE = {
    "name": "Chan Sophea",
    "country": "KH",
    "certificate_language": "km",
    "email": "sophea@example.org",
    "phone": THEIR_PHONE,
    "consent": "yes",
    "website": "",
}
PERSON = {
    "name": "Chan Sophea",
    "country": "KH",
    "email": "sophea@example.org",
    "phone": THEIR_PHONE,
    "language": "en",
    "time_zone": "Asia/Phnom_Penh",
    "consent": "yes",
}
MEMBER_SECRET = "sec_" + "n" * 28


@pytest.fixture
async def ours(
    make_intake: Callable[..., Any], submitted_queue: Any, rabbit: RabbitNode
) -> AsyncIterator[str]:
    """Intake with the network's own Signal and WhatsApp numbers configured."""
    topics = ("registration.submitted.v1", "subscription.requested.v1", "preferences.changed.v1")
    async with (
        watched(rabbit.url, "test-confirm-number", topics),
        make_intake(signal_number=SIGNAL, whatsapp_number=WHATSAPP) as url,
    ):
        yield url


def box(page: httpx.Response) -> str:
    """The box's markup ('' when the page has none)."""
    found = re.search(r'<section class="notice confirm-number".*?</section>', page.text, re.S)
    return found.group(0) if found else ""


async def pledge(client: httpx.AsyncClient, channels: list[str], lang: str = "en") -> httpx.Response:
    token = await csrf(client, f"/?lang={lang}")
    sent = await client.post("/", data={**PLEDGE, **token, "channels": channels, "lang": lang})
    assert sent.status_code == 303, sent.text
    return await client.get(sent.headers["location"])


async def test_the_pledge_page_shows_our_numbers_for_the_chat_channels_chosen_and_no_others(
    ours: str,
) -> None:
    async with httpx.AsyncClient(base_url=ours) as client:
        signal = await pledge(client, ["email", "signal"])
        both = await pledge(client, ["whatsapp", "signal"])
        khmer = await pledge(client, ["signal"], lang="km")
        email = await pledge(client, ["email"])
        unknown = await client.get("/pledge/pl_nope?chat=signal")
    found = box(signal)
    assert "send any message (for example “Hello”) from your phone to our Signal number +1 555 000 1234" in (
        html.unescape(found)
    )
    assert "until you do, we send nothing there" in found
    assert SIGNAL_LINK in found and "wa.me" not in found
    assert 'rel="noopener noreferrer"' in found
    assert 'href="?lang=km&amp;chat=signal"' in signal.text, "the language switch keeps the box"
    assert SIGNAL_LINK in box(both) and WHATSAPP_LINK in box(both)
    assert 'id="confirm-number-either"' in box(both), "one message on either app is enough"
    assert "ផ្ញើសារណាមួយ" in box(khmer) and "+1 555 000 1234" in box(khmer) and SIGNAL_LINK in box(khmer)
    assert box(email) == "" and 'data-state="received"' in email.text
    assert unknown.status_code == 404 and box(unknown) == ""
    for page in (signal, both, khmer):
        assert THEIR_PHONE not in page.text and "12 345 678" not in page.text, "never their own number"


async def test_without_our_numbers_the_box_names_the_number_the_network_gave(
    intake: str, submitted_queue: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await pledge(client, ["signal"])
    found = html.unescape(box(page))
    assert "to the Signal number the network gave you — until you do, we send nothing there" in found
    assert "signal.me" not in found and "<a " not in found


async def test_a_session_registration_with_signal_shows_the_box_and_one_by_email_does_not(
    ours: str, db: Any
) -> None:
    await seed_session(db)
    async with httpx.AsyncClient(base_url=ours) as client:
        token = await csrf(client, "/sessions/ss_seeded")
        by_signal = await client.post(
            "/sessions/ss_seeded/register", data={**PERSON, **token, "channel_1": "signal"}
        )
        by_email = await client.post(
            "/sessions/ss_seeded/register",
            data={**PERSON, **token, "email": "dara@example.org", "phone": "", "channel_1": "email"},
        )
    assert 'data-state="registered"' in by_signal.text and SIGNAL_LINK in box(by_signal)
    assert '<h3 id="confirm-number-title">' in box(by_signal), "under the page's Register heading"
    assert 'data-state="registered"' in by_email.text and box(by_email) == ""
    assert THEIR_PHONE not in by_signal.text.replace(f'value="{THEIR_PHONE}"', "")


async def test_a_subscription_with_whatsapp_shows_the_box_and_one_by_email_does_not(ours: str) -> None:
    async with httpx.AsyncClient(base_url=ours) as client:
        whatsapp = await post_form(
            client, "/subscribe", {**PERSON, "channel_1": "email", "channel_2": "whatsapp"}
        )
        email = await post_form(client, "/subscribe", {**PERSON, "phone": "", "channel_1": "email"})
    assert 'data-state="sent"' in whatsapp.text and WHATSAPP_LINK in box(whatsapp)
    assert "our WhatsApp number +1 555 000 1111" in html.unescape(box(whatsapp))
    assert "signal.me" not in box(whatsapp)
    assert 'data-state="sent"' in email.text and box(email) == ""


def own_page(member_id: str) -> str:
    return "/p/" + link_token(MEMBER_SECRET, member_id, "preferences", utcnow() + timedelta(days=30))


async def test_the_own_page_shows_the_box_while_the_channels_include_signal_or_whatsapp(
    ours: str, db: Any
) -> None:
    member = {
        "unsubscribe_token": MEMBER_SECRET, "email": "sophea@example.org", "phone": THEIR_PHONE,
        "country": "FR", "language": "en", "alerts_opt_in": True, "time_zone": "UTC",
    }  # fmt: skip
    await db.members.insert_many([
        {**member, "_id": "mb_signal", "channels": ["email", "signal"]},
        {**member, "_id": "mb_email", "channels": ["email"]},
    ])  # fmt: skip
    async with httpx.AsyncClient(base_url=ours) as client:
        signal = await client.get(own_page("mb_signal"))
        khmer = await client.get(own_page("mb_signal"), params={"lang": "km"})
        email = await client.get(own_page("mb_email"))
        saved = await post_form(
            client,
            own_page("mb_email"),
            {"alerts": "yes", "channel_1": "whatsapp", "language": "en", "time_zone": "UTC"},
        )
    assert SIGNAL_LINK in box(signal) and "our Signal number +1 555 000 1234" in html.unescape(box(signal))
    assert "ទៅលេខ Signal របស់យើង" in box(khmer)
    assert email.status_code == 200 and box(email) == ""
    assert 'data-state="saved"' in saved.text and WHATSAPP_LINK in box(saved), "as just chosen"


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_box_reads_right_in_a_browser(chromium: Any, ours: str, db: Any, lang: str) -> None:
    pledge_id = pledge_ids.new_pledge_id(SECRET.encode())
    await db.members.insert_one({
        "_id": "mb_signal", "unsubscribe_token": MEMBER_SECRET, "phone": THEIR_PHONE, "country": "KH",
        "language": lang, "alerts_opt_in": True, "channels": ["signal"], "time_zone": "Asia/Phnom_Penh",
    })  # fmt: skip
    context = await chromium.new_context(locale="km-KH" if lang == "km" else "en-GB")
    try:
        page = await context.new_page()
        opened = await page.goto(f"{ours}/pledge/{pledge_id}?lang={lang}&chat=signal&chat=whatsapp")
        assert opened is not None and opened.status == 200
        assert await page.locator("#confirm-number").is_visible()
        signal = page.locator("#confirm-number-open-signal")
        assert await signal.is_visible() and await signal.get_attribute("href") == (
            "https://signal.me/#p/+15550001234"
        )
        assert await page.locator("#confirm-number-open-whatsapp").get_attribute("href") == (
            "https://wa.me/15550001111?text=Hello"
        )
        assert await axe_check(page) == []
        SHOTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"confirm-number-pledge-{lang}.png"), full_page=True)
        await page.click("#switch-lang")
        assert await page.locator("#confirm-number-open-signal").is_visible(), "kept in the other language"

        opened = await page.goto(f"{ours}{own_page('mb_signal')}?lang={lang}")
        assert opened is not None and opened.status == 200
        assert await page.locator("#confirm-number-open-signal").is_visible()
        assert await axe_check(page) == []
        await page.screenshot(path=str(SHOTS / f"confirm-number-preferences-{lang}.png"), full_page=True)
    finally:
        await context.close()
