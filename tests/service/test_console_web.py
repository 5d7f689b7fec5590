"""The console's web frame in a real browser against the console on a real socket (real Mongo-wire
server and RabbitMQ): signing in with password and TOTP, signing out, the way back after
sign-in, refused forms, the page language, security headers and accessibility."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pyotp
import pytest

from services.console.permissions import Role
from tests.support.console_browser import axe_check, new_operator, shot

pytestmark = pytest.mark.service


async def test_a_page_asks_for_sign_in_and_comes_back_to_it(console: str) -> None:
    async with httpx.AsyncClient(base_url=console) as client:
        answer = await client.get("/?lang=km")
        assert answer.status_code == 303
        target = urlparse(answer.headers["location"])
        assert target.path == "/sign-in"
        assert parse_qs(target.query) == {"next": ["/?lang=km"]}
        api = await client.get("/api/v1/operator/me")
        assert api.status_code == 401 and api.json() == {"detail": "operator credentials required"}
        missing = await client.get("/no-such-page")
        assert missing.status_code == 404 and "Not found" in missing.text


async def test_sign_in_with_password_and_code_then_sign_out(console: str, db: Any, chromium: Any) -> None:
    created = await new_operator(db, Role.publisher)
    context = await chromium.new_context(base_url=console, locale="en-GB")
    page = await context.new_page()
    try:
        await page.goto("/sign-in?next=/%3Flang%3Den")
        assert await axe_check(page) == []
        await shot(page, "sign-in", "en")
        await page.get_by_label("Email").fill(created.operator.email)
        await page.get_by_label("Password").fill(created.password)
        await page.get_by_label("Code from your authenticator app").fill("000000")
        await page.get_by_role("button", name="Sign in").click()
        assert "Sign-in failed" in await page.locator("#sign-in-failed").inner_text()
        assert await page.get_by_label("Email").input_value() == created.operator.email
        assert await page.get_by_label("Password").input_value() == ""  # never sent back

        await page.get_by_label("Password").fill(created.password)
        await page.get_by_label("Code from your authenticator app").fill(
            pyotp.TOTP(pyotp.parse_uri(created.otpauth_uri).secret).now()
        )
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_url("**/dashboard?lang=en")  # / sends a signed-in operator there
        cookies = {c["name"]: c for c in await context.cookies()}
        session = cookies["samleng_console"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"

        await page.goto("/")
        await page.get_by_role("button", name="Sign out").click()
        await page.wait_for_url("**/sign-in?signed_out=true")
        assert "You are signed out." in await page.inner_text("main")
        async with httpx.AsyncClient(base_url=console) as client:
            gone = await client.get(
                "/api/v1/operator/me", headers={"Authorization": f"Bearer {session['value']}"}
            )
            assert gone.status_code == 401  # the session itself ended, not only the cookie
    finally:
        await context.close()


async def test_an_empty_sign_in_names_each_missing_field(console: str, chromium: Any) -> None:
    context = await chromium.new_context(base_url=console, locale="km-KH")
    page = await context.new_page()
    try:
        await page.goto("/sign-in")
        assert await page.get_attribute("html", "lang") == "km"
        await page.locator("button[type=submit]").click()
        summary = page.locator("#error-summary")
        assert await summary.locator("li").count() == 3
        assert await page.locator("#email-error").count() == 1
        assert await page.locator("#totp[aria-invalid=true]").count() == 1
        assert await axe_check(page) == []
        await shot(page, "sign-in-errors", "km")
    finally:
        await context.close()


async def test_after_sign_in_only_this_consoles_paths_are_followed(
    console: str, db: Any, chromium: Any
) -> None:
    created = await new_operator(db, Role.viewer)
    context = await chromium.new_context(base_url=console)
    page = await context.new_page()
    try:
        await page.goto("/sign-in?next=//evil.example/steal")
        await page.get_by_label("Email").fill(created.operator.email)
        await page.get_by_label("Password").fill(created.password)
        await page.get_by_label("Code from your authenticator app").fill(
            pyotp.TOTP(pyotp.parse_uri(created.otpauth_uri).secret).now()
        )
        await page.get_by_role("button", name="Sign in").click()
        await page.wait_for_load_state()
        assert urlparse(page.url).netloc == urlparse(console).netloc
    finally:
        await context.close()


async def test_a_form_without_its_token_does_nothing(console: str, db: Any, console_page: Any) -> None:
    page = await console_page(Role.admin)
    answer = await page.request.post("/sign-out", form={"csrf_token": "forged"})
    assert answer.status == 403
    assert "The form had expired" in await answer.text()
    still = await page.request.get("/api/v1/operator/me")
    assert still.status == 200  # not signed out


async def test_the_page_language_is_remembered_and_pages_carry_security_headers(console_page: Any) -> None:
    page = await console_page(Role.viewer)
    answer = await page.goto("/?lang=km")
    assert answer is not None
    assert await page.get_attribute("html", "lang") == "km"
    headers = answer.headers
    assert "script-src 'self'" in headers["content-security-policy"]
    assert (
        headers["x-frame-options"] == "DENY" or "frame-ancestors 'none'" in headers["content-security-policy"]
    )
    await page.goto("/")
    assert await page.get_attribute("html", "lang") == "km"  # the cookie remembers it
    assert await page.get_by_role("button", name="ចាកចេញ").count() == 1


async def test_the_menu_shows_each_role_the_areas_it_may_open(console_page: Any) -> None:
    expected = {
        Role.viewer: ["Dashboard", "Alerts", "Sessions", "Dead letters", "My account"],
        Role.publisher: [
            "Dashboard",
            "Alerts",
            "Sessions",
            "Replies",
            "Members",
            "Dead letters",
            "My account",
        ],
        Role.admin: [
            "Dashboard",
            "Alerts",
            "Sessions",
            "Replies",
            "Members",
            "Dead letters",
            "Operators",
            "Partner keys",
            "Audit trail",
            "My account",
        ],
    }
    for role, items in expected.items():
        page = await console_page(role)
        await page.goto("/dashboard")
        menu = page.get_by_role("navigation", name="Main")
        assert await menu.get_by_role("link").all_inner_texts() == items, role
        current = menu.locator("[aria-current=page]")
        assert await current.inner_text() == "Dashboard"


TOUR = (
    "/dashboard",
    "/alerts",
    "/alerts/new",
    "/sessions",
    "/sessions/new",
    "/replies",
    "/members",
    "/dead-letters",
    "/account",
    "/admin/operators",
    "/admin/partner-keys",
    "/admin/audit",
)


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_every_area_opens_in_both_languages_and_passes_axe(console_page: Any, lang: str) -> None:
    """Each area's first page as an admin, in English and in Khmer: it answers, reads in that
    language, has no serious accessibility violation, and leaves a screenshot for review (the
    pages behind an id are toured by their areas' own tests)."""
    page = await console_page(Role.admin, lang=lang)
    for path in TOUR:
        answer = await page.goto(f"{path}?lang={lang}")
        assert answer is not None and answer.status == 200, (path, answer.status if answer else None)
        assert await page.get_attribute("html", "lang") == lang, path
        assert await axe_check(page) == [], path
        await shot(page, f"tour{path.replace('/', '-')}", lang)
