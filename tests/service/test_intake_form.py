"""The HTML form without a browser: CSRF, honeypot, errors tied to fields, no-JS submission."""

from __future__ import annotations

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
