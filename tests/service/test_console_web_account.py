"""My account in a real browser (Playwright on Debian's Chromium) against the console on a real
socket (real Mongo-wire server and RabbitMQ): who I am, changing my password (field errors, my
other sign-ins ended), re-enrolling my second factor (a QR code shown once, confirmed with a code
of the new key), my API tokens (the secret shown once, not on reload; revoked at once after a confirm step) — each
audited; accessible (axe) and drawn in English and Khmer."""

from __future__ import annotations

import base64
import os
from typing import Any

import httpx
import pyotp
import pytest

from services.console.credentials import SHOWN_ONCE
from services.console.operators import OperatorStore, password_matches
from services.console.permissions import Role
from shared.personal_data import open_vault
from tests.support.console_browser import axe_check, session_token, shot

pytestmark = pytest.mark.service
NEW_PASSWORD = "seven brown kettles sing loudly"


async def me(console: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=console) as client:
        answer = await client.get("/api/v1/operator/me", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


async def error_of(page: Any, field: str) -> str:
    text: str = await page.locator(f"#{field}-error").inner_text()
    return text


async def actions(db: Any, operator_id: str) -> list[tuple[str, str]]:
    events = await db.audit_events.find({"operator_id": operator_id}).sort("at", 1).to_list(None)
    return [(e["action"], e["outcome"]) for e in events]


async def test_my_account_shows_who_i_am_and_changes_my_password(
    console: str, db: Any, console_page: Any
) -> None:
    page = await console_page(Role.editor)
    operator = page.operator.operator
    elsewhere = await session_token(db, operator.id)
    await page.goto("/account")
    assert await page.locator("#my-name").inner_text() == operator.display_name
    assert await page.locator("#my-role").inner_text() == "editor"
    permissions = await page.locator("#my-permissions li").all_inner_texts()
    assert "draft alerts" in permissions and "manage operators and their roles" not in permissions
    assert await axe_check(page) == []
    await shot(page, "account", "en")

    form = page.locator("#password-form")
    await page.fill("#current_password", "not my password")
    await page.fill("#new_password", "too short")
    await page.fill("#repeat_password", "too short")
    async with page.expect_response("**/account/password") as sent:
        await form.get_by_role("button", name="Change password").click()
    assert (await sent.value).status == 422
    assert "At least 12 characters." in await error_of(page, "new_password")
    assert await page.locator("#current_password").input_value() == ""  # never sent back

    await page.fill("#current_password", "not my password")
    await page.fill("#new_password", NEW_PASSWORD)
    await page.fill("#repeat_password", NEW_PASSWORD + "!")
    await form.get_by_role("button", name="Change password").click()
    assert "The two new passwords differ." in await error_of(page, "repeat_password")

    await page.fill("#current_password", "not my password")
    await page.fill("#new_password", NEW_PASSWORD)
    await page.fill("#repeat_password", NEW_PASSWORD)
    await form.get_by_role("button", name="Change password").click()
    assert "This is not your current password." in await error_of(page, "current_password")
    assert await page.locator("#error-summary").count() == 1
    assert await axe_check(page) == []
    await shot(page, "account-password-errors", "en")

    await page.fill("#current_password", page.operator.password)
    await page.fill("#new_password", operator.email)
    await page.fill("#repeat_password", operator.email)
    await form.get_by_role("button", name="Change password").click()
    assert "Your email address cannot be your password." in await error_of(page, "new_password")

    await page.fill("#current_password", page.operator.password)
    await page.fill("#new_password", NEW_PASSWORD)
    await page.fill("#repeat_password", NEW_PASSWORD)
    await form.get_by_role("button", name="Change password").click()
    await page.wait_for_url("**/account?done=password&ended=1")
    assert "Other sign-ins ended: 1." in await page.locator("#done").inner_text()
    assert await me(console, elsewhere) == 401
    stored = await db.operators.find_one({"_id": operator.id})
    assert password_matches(stored["password_hash"], NEW_PASSWORD)
    assert (await actions(db, operator.id)).count(("operator.password_changed", "failed")) == 1
    assert (await actions(db, operator.id)).count(("operator.password_changed", "ok")) == 1


async def test_i_re_enrol_my_second_factor_with_a_qr_code_shown_once(
    console: str, db: Any, console_page: Any
) -> None:
    page = await console_page(Role.viewer, lang="km")
    operator = page.operator.operator
    old_secret = pyotp.parse_uri(page.operator.otpauth_uri).secret
    await page.goto("/account")
    form = page.locator("#totp-form")
    await page.fill("#totp_password", "wrong")
    await form.locator("button").click()
    assert "នេះមិនមែនជាពាក្យសម្ងាត់បច្ចុប្បន្នរបស់អ្នកទេ។" in await error_of(page, "totp_password")

    await page.fill("#totp_password", page.operator.password)
    await form.locator("button").click()
    await page.wait_for_url("**/account?shown=*")
    qr = await page.locator("#new-key img.qr").get_attribute("src")
    assert qr is not None and qr.startswith("data:image/svg+xml")
    uri = await page.locator("#totp-uri").inner_text()
    new_secret = pyotp.parse_uri(uri).secret
    assert new_secret != old_secret
    assert await axe_check(page) == []
    await shot(page, "account-new-key", "km")

    await page.reload()
    assert await page.locator("#totp-uri").count() == 0 and new_secret not in await page.content()
    assert await page.locator("#totp-pending").count() == 1  # still waiting for a code

    await page.fill("#code", pyotp.TOTP(old_secret).now())
    await page.locator("#totp-confirm-form button").click()
    assert "មិនមែនជាលេខកូដនៃធាតុថ្មី" in await error_of(page, "code")
    await page.fill("#code", pyotp.TOTP(new_secret).now())
    await page.locator("#totp-confirm-form button").click()
    await page.wait_for_url("**/account?done=totp*")
    assert await page.locator("#totp-pending").count() == 0

    vault = await open_vault(db)
    try:
        stored = await OperatorStore(db, vault).get(operator.id)
    finally:
        if vault is not None:
            await vault.close()
    assert stored is not None and stored.totp_secret == new_secret and stored.totp_pending_secret is None
    assert [a for a in await actions(db, operator.id) if a[0].startswith("operator.totp")] == [
        ("operator.totp_enrolment_started", "failed"),
        ("operator.totp_enrolment_started", "ok"),
        ("operator.totp_changed", "failed"),
        ("operator.totp_changed", "ok"),
    ]


@pytest.mark.parametrize(("lang", "javascript"), [("en", False), ("km", True)])
async def test_my_api_token_is_shown_once_works_and_is_revoked_with_or_without_javascript(
    console: str, db: Any, console_page: Any, lang: str, javascript: bool
) -> None:
    page = await console_page(Role.publisher, lang=lang, javascript=javascript)
    await page.goto("/account")
    assert await page.locator("#no-tokens").count() == 1
    await page.fill("#name", "")
    await page.fill("#expires_in_days", "0")
    async with page.expect_response("**/account/tokens") as sent:
        await page.locator("#token-form button").click()
    assert (await sent.value).status == 422
    assert (
        await page.locator("#name-error").count() == 1
        and await page.locator("#expires_in_days-error").count() == 1
    )
    assert await page.locator("#expires_in_days").input_value() == "0"  # the form comes back filled
    if lang == "en":
        assert "This field is required." in await error_of(page, "name")
        assert "Enter 1 or more." in await error_of(page, "expires_in_days")

    await page.fill("#name", "nightly import")
    await page.fill("#expires_in_days", "30")
    await page.locator("#token-form button").click()
    await page.wait_for_url("**/account?shown=*")
    token = await page.locator("#token-secret").inner_text()
    assert token.startswith("sk_op_") and await me(console, token) == 200
    if javascript:  # axe-core runs in the page
        assert await axe_check(page) == []
    await shot(page, "account-new-token", lang)

    shown_at = page.url
    await page.reload()
    assert await page.locator("#token-secret").count() == 0 and token not in await page.content()
    await page.goto(shown_at)
    assert token not in await page.content()
    assert await page.locator("#token-list tbody tr").count() == 1
    assert "nightly import" in await page.locator("#token-list").inner_text()
    moments = await page.locator("#token-list time").all_inner_texts()  # created, expires, used
    assert len(moments) == 3 and all(moment.endswith(" UTC") for moment in moments)  # with the zone
    await shot(page, "account-tokens", lang)

    await page.locator("#token-list button").click()  # not confirmed: the page that asks
    await page.wait_for_url("**/account/tokens/*/revoke")
    assert "nightly import" in await page.locator("h1").inner_text()
    if javascript:
        assert await axe_check(page) == []
    await shot(page, "account-token-confirm", lang)
    await page.locator("#keep").click()  # go back: nothing changes
    await page.wait_for_url("**/account#tokens")
    assert await me(console, token) == 200
    assert await page.locator("#token-list tbody tr").count() == 1
    await page.locator("#token-list button").click()
    await page.wait_for_url("**/account/tokens/*/revoke")
    await page.locator("#confirm").click()
    await page.wait_for_url("**/account?done=token_revoked*")
    assert await me(console, token) == 401
    assert await page.locator("#no-tokens").count() == 1
    operator_id = page.operator.operator.id
    assert [a for a in await actions(db, operator_id) if a[0].startswith("token.")] == [
        ("token.created", "ok"),
        ("token.revoked", "ok"),
    ]


@pytest.fixture
def vault_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vault's keys (asked for before `console`, so the console starts with its vault on)."""
    monkeypatch.setenv("SAMLENG_MASTER_KEY", base64.b64encode(os.urandom(96)).decode())
    monkeypatch.setenv("SAMLENG_BLIND_INDEX_KEY", os.urandom(32).hex())


async def test_with_the_vault_on_a_secret_shown_once_is_kept_sealed_and_read_once(
    vault_env: None, console: str, db: Any, console_page: Any
) -> None:
    page = await console_page(Role.editor)
    await page.goto("/account")
    locations: list[str] = []

    async def hold(route: Any) -> None:  # the browser does not follow: the secret stays kept
        answer = await route.fetch(max_redirects=0)
        locations.append(answer.headers["location"])
        await route.fulfill(status=200, content_type="text/plain", body="held")

    await page.route("**/account/tokens", hold)
    await page.fill("#name", "sealed import")
    await page.fill("#expires_in_days", "30")
    async with page.expect_response("**/account/tokens"):
        await page.locator("#token-form button").click()
    location = locations[0].split("#", 1)[0]
    shown_id = location.split("shown=", 1)[1]
    kept = await db[SHOWN_ONCE].find_one({"_id": shown_id})
    assert kept is not None and "sealed" in kept and "shown" not in kept
    assert "sealed import" not in str(kept) and "sk_op_" not in str(kept)

    await page.goto(location)
    token = await page.locator("#token-secret").inner_text()
    assert token.startswith("sk_op_") and token not in str(kept) and await me(console, token) == 200
    assert await db[SHOWN_ONCE].find_one({"_id": shown_id}) is None
    await page.goto(location)
    assert await page.locator("#token-secret").count() == 0 and token not in await page.content()
