"""The HTML form without a browser: CSRF, honeypot, errors tied to fields, no-JS submission."""

from __future__ import annotations

import asyncio
import json
import re
from typing import Any

import httpx

FORM = {
    "name": "Sok Dara",
    "country": "US",
    "certificate_language": "en",
    "channels": ["email"],
    "email": "dara@example.org",
    "consent": "yes",
    "website": "",
}


async def fresh_form(client: httpx.AsyncClient, lang: str = "en") -> str:
    page = await client.get(f"/?lang={lang}")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "form carries a CSRF token"
    return match.group(1)


async def test_form_posts_without_javascript_and_redirects_to_the_confirmation(
    intake: str, submitted_queue: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await fresh_form(client)
        response = await client.post("/", data={**FORM, "csrf_token": token})
        assert response.status_code == 303
        assert response.headers["location"].startswith("/pledge/pl_")
        page = await client.get(response.headers["location"])
        assert page.status_code == 200
        assert 'data-state="received"' in page.text


async def test_missing_csrf_token_is_refused_but_keeps_what_was_typed(
    intake: str, submitted_queue: Any
) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        response = await client.post("/", data={**FORM, "csrf_token": "forged"})
    assert response.status_code == 403
    assert 'value="Sok Dara"' in response.text
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_filled_honeypot_is_refused_with_a_message(intake: str, submitted_queue: Any) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await fresh_form(client)
        response = await client.post(
            "/", data={**FORM, "csrf_token": token, "website": "http://spam.example"}
        )
    assert response.status_code == 400
    assert "automated" in response.text
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_errors_are_tied_to_their_fields_in_the_page_language(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await fresh_form(client, "km")
        response = await client.post(
            "/",
            data={
                **FORM,
                "csrf_token": token,
                "lang": "km",
                "email": "nope",
                "country": "KH",
                "channels": ["email", "post"],
            },
        )
    assert response.status_code == 422
    assert '<html lang="km">' in response.text
    assert 'id="email" name="email" type="email"' in response.text
    assert 'aria-describedby="email-error"' in response.text and 'aria-invalid="true"' in response.text
    assert 'id="email-error"' in response.text
    assert "កម្ពុជា" in response.text  # post refused for Cambodia, in Khmer


async def test_user_text_is_escaped_never_markup(intake: str) -> None:
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await fresh_form(client)
        response = await client.post(
            "/", data={**FORM, "csrf_token": token, "name": "<script>alert(1)</script>"}
        )
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;" in response.text


async def test_broker_down_the_form_says_so_and_keeps_every_answer(
    make_intake: Any, dead_broker_url: str
) -> None:
    async with (
        make_intake(wait_ready=False, amqp_url=dead_broker_url) as url,
        httpx.AsyncClient(base_url=url) as client,
    ):
        token = await fresh_form(client)
        response = await client.post("/", data={**FORM, "csrf_token": token})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "30"
    assert "could not save your pledge right now" in response.text
    assert 'value="Sok Dara"' in response.text and 'value="dara@example.org"' in response.text


async def take_data(queue: Any) -> dict[str, Any]:
    for _ in range(100):
        message = await queue.get(no_ack=True, fail=False)
        if message is not None:
            data: dict[str, Any] = json.loads(message.body)["data"]
            return data
        await asyncio.sleep(0.05)
    raise AssertionError("nothing was handed over")


async def test_the_form_offers_discreet_messages_and_hands_the_choice_over(
    intake: str, submitted_queue: Any
) -> None:
    """Automatic (the default: on for residents of Cambodia, as the hint says), on or off; the
    choice travels in `pledge.submitted.v1`; automatic is no choice (None)."""
    async with httpx.AsyncClient(base_url=intake) as client:
        page = await client.get("/?lang=en")
        km = await client.get("/?lang=km")
        token = await fresh_form(client)
        for choice in ("on", "off", "auto"):
            sent = await client.post("/", data={**FORM, "csrf_token": token, "discreet": choice})
            assert sent.status_code == 303, sent.text
        unsaid = await client.post("/", data={**FORM, "csrf_token": token})
        assert unsaid.status_code == 303
    assert 'id="discreet-auto" name="discreet" value="auto" checked' in page.text
    assert "on if you live in Cambodia" in page.text and "works once" in page.text
    assert "សារដោយសម្ងាត់" in km.text and "កម្ពុជា" in km.text
    assert [(await take_data(submitted_queue))["discreet"] for _ in range(4)] == [True, False, None, None]


async def test_post_with_discreet_messages_on_is_refused_naming_the_channels(
    intake: str, submitted_queue: Any
) -> None:
    address = {
        "street_address": "1 Main St",
        "city": "Springfield",
        "country_area": "IL",
        "postal_code": "62701",
    }
    async with httpx.AsyncClient(base_url=intake) as client:
        token = await fresh_form(client, "km")
        response = await client.post(
            "/",
            data={**FORM, **address, "csrf_token": token, "lang": "km", "channels": ["email", "post"],
                  "discreet": "on"},
        )  # fmt: skip
    assert response.status_code == 422
    assert 'id="channels-error"' in response.text and "ប្រៃសណីយ៍ មិនអាចប្រើជាមួយសារដោយសម្ងាត់" in response.text
    assert 'id="discreet-on" name="discreet" value="on" checked' in response.text, "the choice is kept"
    assert await submitted_queue.get(no_ack=True, fail=False) is None


async def test_the_messenger_step_shows_only_in_the_browser_that_signed(
    make_intake: Any, submitted_queue: Any
) -> None:
    # The m.me link carries the pledge's reference: whoever uses it first links their Messenger
    # account to the pledge. A shared or leaked page address must not hand it over.
    async with make_intake(messenger_page="SamlengTest") as intake:
        async with httpx.AsyncClient(base_url=intake) as signer:
            token = await fresh_form(signer)
            form = {**FORM, "channels": ["messenger", "email"], "csrf_token": token}
            response = await signer.post("/", data=form)
            assert response.status_code == 303
            page_url = response.headers["location"]
            assert "m=1" in page_url
            mine = await signer.get(page_url)
            assert 'id="messenger-step"' in mine.text and "https://m.me/SamlengTest?ref=" in mine.text
        async with httpx.AsyncClient(base_url=intake) as someone_else:
            theirs = await someone_else.get(page_url)
            assert theirs.status_code == 200 and "m.me" not in theirs.text
            assert 'id="messenger-elsewhere"' in theirs.text
            someone_else.cookies.set("samleng_pledge", "pl_x.forged.sig")
            assert "m.me" not in (await someone_else.get(page_url)).text
