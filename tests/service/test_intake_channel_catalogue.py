"""The public forms draw their channels from the channel catalogue (shared/channels/catalogue.py):
a channel the repository does not have ("sms", a phone channel declared only in this test) appears
on the pledge form, the subscribe page and the session registration form, asks for a mobile
number, is accepted by the forms and the APIs, and gets the "write to our number" box with our
number (INTAKE_SMS_NUMBER) and its declared link; a name the catalogue does not list gets a 422
naming the `channels` field; what a declaration says about countries and discreet messages is
enforced with a message naming the channel. Real broker and Mongo-wire server, real HTTP."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.broker import RabbitNode
from shared.channels.catalogue import ChannelSpec
from tests.service.test_intake_api import take_submitted
from tests.support.catalogue import with_channel
from tests.support.forms import csrf
from tests.support.handed_over import drain, watched
from tests.support.seeds import seed_session

SMS = ChannelSpec(
    name="sms",
    labels={"en": "Text message (SMS)", "km": "សារ SMS"},
    order=45,
    address_kind="phone",
    purposes=frozenset({"certificate", "alert", "reminder"}),
    contact_link="sms:{number}",
)
OUR_NUMBER = "+15550002222"
PERSON = {"name": "Sok Dara", "country": "US", "consent": "yes"}
PHONE = "+1 202 555 0143"


@pytest.fixture
def sms() -> Iterator[ChannelSpec]:
    with with_channel(SMS):
        yield SMS


@pytest.fixture
async def site(sms: ChannelSpec, make_intake: Callable[..., Any], submitted_queue: Any) -> AsyncIterator[str]:
    async with make_intake(sms_number=OUR_NUMBER) as url:  # INTAKE_SMS_NUMBER, as for any phone channel
        yield url


@pytest.fixture
async def handed_over(rabbit: RabbitNode) -> AsyncIterator[Any]:
    async with watched(
        rabbit.url, "test-catalogue-forms", ("subscription.requested.v1", "registration.submitted.v1")
    ) as queue:
        yield queue


async def test_the_pledge_form_offers_a_new_channel_asks_for_its_phone_and_hands_it_over(
    site: str, submitted_queue: Any
) -> None:
    async with httpx.AsyncClient(base_url=site) as client:
        english, khmer = (await client.get("/?lang=en")).text, (await client.get("/?lang=km")).text
        token = await csrf(client, "/?lang=en")
        no_phone = await client.post("/", data={**PERSON, **token, "lang": "en", "channels": ["sms"]})
        signed = await client.post(
            "/", data={**PERSON, **token, "lang": "en", "channels": ["sms"], "phone": PHONE}
        )
        status = await client.get(signed.headers["location"])
    assert 'id="channel-sms" name="channels" value="sms"' in english
    assert ">Text message (SMS)</label>" in english and ">សារ SMS</label>" in khmer
    assert english.index('id="channel-whatsapp"') < english.index('id="channel-sms"'), "declared order"
    assert "Mobile number (for Signal, WhatsApp or Text message (SMS))" in english
    assert no_phone.status_code == 422
    assert 'id="phone-error"' in no_phone.text and "Text message (SMS) was chosen" in no_phone.text
    assert signed.status_code == 303 and "chat=sms" in signed.headers["location"]
    submitted = await take_submitted(submitted_queue)
    assert submitted.data.channels == ["sms"] and submitted.data.contact.phone == "+12025550143"
    assert 'id="confirm-number-sms"' in status.text and "+1 555 000 2222" in status.text
    assert f'href="sms:{OUR_NUMBER}"' in status.text, "the link the channel declares"


async def test_the_pledge_api_accepts_a_new_channel_and_names_the_field_of_an_unknown_one(
    site: str, submitted_queue: Any
) -> None:
    pledge = {"name": "Sok Dara", "country": "US", "phone": PHONE, "consent": True}
    async with httpx.AsyncClient(base_url=site) as client:
        accepted = await client.post("/api/v1/pledges", json={**pledge, "channels": ["sms"]})
        unknown = await client.post("/api/v1/pledges", json={**pledge, "channels": ["carrier_pigeon"]})
        no_phone = await client.post("/api/v1/pledges", json={**pledge, "phone": None, "channels": ["sms"]})
    assert accepted.status_code == 202, accepted.text
    assert (await take_submitted(submitted_queue)).data.channels == ["sms"]
    assert unknown.status_code == 422
    assert [(p["field"], p["code"]) for p in unknown.json()["detail"]] == [("channels", "channel_unknown")]
    assert no_phone.status_code == 422
    assert [(p["field"], p["code"]) for p in no_phone.json()["detail"]] == [("phone", "phone_required")]
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_the_subscribe_page_and_api_offer_a_new_alert_channel(site: str, handed_over: Any) -> None:
    subscriber = {**PERSON, "email": "dara@example.org", "language": "en", "time_zone": "UTC"}
    async with httpx.AsyncClient(base_url=site) as client:
        page = (await client.get("/subscribe?lang=km")).text
        token = await csrf(client, "/subscribe")
        no_phone = await client.post("/subscribe", data={**subscriber, **token, "channel_1": "sms"})
        sent = await client.post(
            "/subscribe", data={**subscriber, **token, "channel_1": "sms", "phone": PHONE}
        )
        api = {**subscriber, "consent": True}
        unknown = await client.post("/api/v1/subscriptions", json={**api, "channels": ["carrier_pigeon"]})
    assert '<option value="sms">សារ SMS</option>' in page
    assert no_phone.status_code == 422 and 'id="phone-error"' in no_phone.text
    assert sent.status_code == 200 and 'data-state="sent"' in sent.text
    assert 'id="confirm-number-sms"' in sent.text
    assert unknown.status_code == 422
    assert {p["field"] for p in unknown.json()["detail"]} == {"channels"}
    [subscription] = [e["data"] for e in await drain(handed_over, settle=0.2)]
    assert subscription["preferences"]["channels"] == ["sms"]


async def test_the_registration_form_and_api_offer_a_new_reminder_channel(
    site: str, handed_over: Any, db: Any
) -> None:
    await seed_session(db)
    registrant = {**PERSON, "language": "en", "time_zone": "UTC"}
    async with httpx.AsyncClient(base_url=site) as client:
        page = (await client.get("/sessions/ss_seeded?lang=en")).text
        token = await csrf(client, "/sessions/ss_seeded")
        no_phone = await client.post(
            "/sessions/ss_seeded/register", data={**registrant, **token, "channel_1": "sms"}
        )
        registered = await client.post(
            "/sessions/ss_seeded/register", data={**registrant, **token, "channel_1": "sms", "phone": PHONE}
        )
        unknown = await client.post(
            "/api/v1/sessions/ss_seeded/registrations",
            json={**registrant, "consent": True, "phone": PHONE, "channels": ["carrier_pigeon"]},
        )
    assert '<option value="sms">Text message (SMS)</option>' in page
    assert no_phone.status_code == 422 and 'id="phone-error"' in no_phone.text
    assert registered.status_code == 200 and 'data-state="registered"' in registered.text
    assert 'id="confirm-number-sms"' in registered.text
    assert unknown.status_code == 422
    assert {p["field"] for p in unknown.json()["detail"]} == {"channels"}
    [registration] = [e["data"] for e in await drain(handed_over, settle=0.2)]
    assert registration["registrant"]["channels"] == ["sms"]


async def test_what_a_declaration_says_about_countries_and_discreet_messages_is_enforced(
    make_intake: Callable[..., Any], submitted_queue: Any
) -> None:
    limited = SMS.model_copy(update={"unavailable_countries": frozenset({"US"}), "carries_discreet": False})
    pledge = {"name": "Sok Dara", "phone": "+44 7911 123456", "consent": True, "channels": ["sms"]}
    with with_channel(limited):
        async with make_intake() as url, httpx.AsyncClient(base_url=url) as client:
            form = (await client.get("/?lang=en")).text
            in_us = await client.post("/api/v1/pledges", json={**pledge, "country": "US", "phone": PHONE})
            discreet = await client.post(
                "/api/v1/pledges", json={**pledge, "country": "GB", "discreet": True}
            )
            fine = await client.post("/api/v1/pledges", json={**pledge, "country": "GB"})
    assert "Text message (SMS) (not available in United States)" in form
    assert 'data-unavailable="US" data-discreet="no" data-fields="phone"' in form, "for the page's script"
    [problem] = in_us.json()["detail"]
    assert (problem["field"], problem["code"]) == ("channels", "channel_not_in_country")
    assert "Text message (SMS) cannot reach people living in United States" in problem["message"]
    [problem] = discreet.json()["detail"]
    assert (problem["field"], problem["code"]) == ("channels", "channel_not_discreet")
    assert fine.status_code == 202
    assert (await take_submitted(submitted_queue)).data.channels == ["sms"]


async def test_in_a_browser_the_form_hides_a_declared_channel_where_it_cannot_serve_and_sends_it(
    chromium: Any, make_intake: Callable[..., Any], submitted_queue: Any
) -> None:
    """The page's script reads the row's declaration (countries, discreet), not a channel name."""
    limited = SMS.model_copy(update={"unavailable_countries": frozenset({"US"}), "carries_discreet": False})
    with with_channel(limited):
        async with make_intake(sms_number=OUR_NUMBER) as url:
            context = await chromium.new_context(locale="en-GB")
            try:
                page = await context.new_page()
                await page.goto(f"{url}/?lang=en")
                sms = page.locator("#channel-sms")
                await page.select_option("#country", "US")
                assert not await sms.is_visible()
                await page.select_option("#country", "GB")
                assert await sms.is_visible() and await page.locator("#channel-email").is_visible()
                await page.check("#discreet-on")
                assert not await sms.is_visible(), "it cannot carry discreet messages"
                await page.check("#discreet-off")
                await page.fill("#name", "Sok Dara")
                await sms.check()
                assert not await page.locator("#postal_address").is_visible(), "it asks for no address"
                await page.fill("#phone", "+44 7911 123456")
                await page.check("#consent")
                await page.click("#submit")
                await page.wait_for_selector("#confirm-number-sms")
                assert (
                    await page.locator("#confirm-number-open-sms").get_attribute("href")
                    == f"sms:{OUR_NUMBER}"
                )
            finally:
                await context.close()
    assert (await take_submitted(submitted_queue)).data.channels == ["sms"]
