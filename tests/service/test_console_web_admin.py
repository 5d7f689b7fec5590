"""The admin pages in a real browser (Playwright on Debian's Chromium) against the console on a
real socket (real Mongo-wire server and RabbitMQ): operators (create with the password and key
shown once, change role, disable and enable, unlock, reset, the last admin kept), partner keys
(create with the secret shown once, revoke), the audit trail (filters, pages); an editor is
refused every admin page and sees no admin navigation; accessible (axe), in English and Khmer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pyotp
import pytest

from services.console.audit import AuditEvent, AuditLog
from services.console.operators import password_matches
from services.console.permissions import Role
from shared.partner_keys import PartnerKey
from tests.support.console_browser import axe_check, new_operator, session_token, shot

pytestmark = pytest.mark.service
ADMIN_PAGES = ("/admin/operators", "/admin/partner-keys", "/admin/audit")
T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


async def me(console: str, token: str) -> int:
    async with httpx.AsyncClient(base_url=console) as client:
        answer = await client.get("/api/v1/operator/me", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code


async def audited(db: Any, action: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await db.audit_events.find({"action": action}).sort("at", 1).to_list(None)
    return found


async def test_an_editor_is_refused_every_admin_page_and_sees_no_admin_navigation(
    console_page: Any, db: Any
) -> None:
    editor = await console_page(Role.editor)
    for path in ADMIN_PAGES:
        answer = await editor.goto(path)
        assert answer is not None and answer.status == 403, path
        assert "Not allowed" in await editor.inner_text("main")
    await editor.goto("/account")
    nav = await editor.locator("nav.main-nav").inner_text()
    assert "My account" in nav
    assert not {"Operators", "Partner keys", "Audit trail"} & set(nav.split("\n"))
    denied = [e["object_id"] for e in await audited(db, "permission.denied")]
    assert sorted(denied) == ["audit.read", "keys.manage", "operators.manage"]

    admin = await console_page(Role.admin)
    await admin.goto("/account")
    links = await admin.locator("nav.main-nav a").all_inner_texts()
    assert {"Operators", "Partner keys", "Audit trail"} <= set(links)


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_an_admin_creates_an_operator_whose_password_and_key_are_shown_once(
    console: str, db: Any, console_page: Any, lang: str
) -> None:
    page = await console_page(Role.admin, lang=lang)
    await page.goto("/admin/operators")
    assert await axe_check(page) == []
    await shot(page, "admin-operators", lang)

    await page.fill("#display_name", "")
    await page.fill("#email", "not an address")
    async with page.expect_response("**/admin/operators") as sent:
        await page.locator("#operator-form button").click()
    assert (await sent.value).status == 422
    assert await page.locator("#display_name-error").count() == 1
    assert await page.locator("#email-error").count() == 1
    assert await page.locator("#email").input_value() == "not an address"
    assert await axe_check(page) == []
    await shot(page, "admin-operators-errors", lang)

    await page.fill("#display_name", "Sokha")
    await page.fill("#email", page.operator.operator.email.upper())  # taken (any case)
    await page.locator("#operator-form button").click()
    assert await page.locator("#email-error").count() == 1
    if lang == "en":
        assert "An operator with this email exists." in await page.locator("#email-error").inner_text()

    await page.fill("#email", f"sokha-{lang}@samleng.test")
    await page.select_option("#role", "publisher")
    await page.locator("#operator-form button").click()
    await page.wait_for_url("**/admin/operators?shown=*")
    password = await page.locator("#shown-password").inner_text()
    secret = pyotp.parse_uri(await page.locator("#shown-uri").inner_text()).secret
    assert (await page.locator("#shown img.qr").get_attribute("src") or "").startswith("data:image/svg+xml")
    stored = await db.operators.find_one({"email": f"sokha-{lang}@samleng.test"})
    assert stored["role"] == "publisher" and password_matches(stored["password_hash"], password)
    async with httpx.AsyncClient(base_url=console) as client:
        signed = await client.post(
            "/api/v1/operator/sign-in",
            json={"email": stored["email"], "password": password, "totp": pyotp.TOTP(secret).now()},
        )
    assert signed.status_code == 200, signed.text
    assert await axe_check(page) == []
    await shot(page, "admin-operator-created", lang)

    await page.reload()
    assert await page.locator("#shown").count() == 0 and password not in await page.content()
    assert "Sokha" in await page.locator("#operators").inner_text()
    [created] = await audited(db, "operator.created")
    assert created["object_id"] == stored["_id"] and created["operator_id"] == page.operator.operator.id


async def test_an_admin_changes_roles_disables_enables_unlocks_and_resets_an_operator(
    console: str, db: Any, console_page: Any
) -> None:
    page = await console_page(Role.admin)
    target = await new_operator(db, Role.editor)
    target_id = target.operator.id
    their_session = await session_token(db, target_id)
    row = page.locator(f"tr[data-operator='{target_id}']")
    await page.goto("/admin/operators")

    await row.locator("select").select_option("publisher")
    await row.get_by_role("button", name="Change role").click()
    await page.wait_for_url(f"**/admin/operators?updated={target_id}")
    assert "Saved: Test editor." in await page.locator("#done").inner_text()
    assert (await db.operators.find_one({"_id": target_id}))["role"] == "publisher"

    token = await page.locator("input[name=csrf_token]").first.get_attribute("value") or ""
    for path, form, asking in (
        (f"/admin/operators/{target_id}", {"disabled": "true"}, f"/admin/operators/{target_id}/disable"),
        (f"/admin/operators/{target_id}/reset", {}, f"/admin/operators/{target_id}/reset"),
    ):
        unconfirmed = await page.request.post(  # one click without confirming: the page that asks
            path, form={"csrf_token": token, **form}, max_redirects=0
        )
        assert unconfirmed.status == 303 and unconfirmed.headers["location"] == asking, path
    await row.get_by_role("link", name="Disable").click()  # a page to confirm on, first
    await page.wait_for_url(f"**/admin/operators/{target_id}/disable")
    assert "Disable Test editor?" in await page.locator("h1").inner_text()
    assert (await db.operators.find_one({"_id": target_id}))["disabled"] is False
    assert await me(console, their_session) == 200 and await axe_check(page) == []
    await shot(page, "admin-operator-disable", "en")
    await page.locator("#keep").click()
    await page.wait_for_url("**/admin/operators")
    await row.get_by_role("link", name="Disable").click()
    await page.locator("#confirm").click()
    await page.wait_for_url("**/admin/operators?updated=*")
    assert "disabled" in await row.inner_text()
    assert await me(console, their_session) == 401
    await row.get_by_role("button", name="Enable").click()
    await page.wait_for_url("**/admin/operators?updated=*")
    assert (await db.operators.find_one({"_id": target_id}))["disabled"] is False

    await db.operators.update_one(
        {"_id": target_id}, {"$set": {"locked_until": datetime.now(UTC) + timedelta(hours=1)}}
    )
    await page.goto("/admin/operators")
    assert "locked until" in await row.inner_text()
    assert "UTC" in await row.locator(".tag").inner_text()  # locked until …, with the zone
    await row.get_by_role("button", name="Unlock").click()
    await page.wait_for_url("**/admin/operators?updated=*")
    assert (await db.operators.find_one({"_id": target_id}))["locked_until"] is None

    session = await session_token(db, target_id)
    await row.get_by_role("link", name="New password and key").click()
    await page.wait_for_url(f"**/admin/operators/{target_id}/reset")
    assert "Give Test editor a new password and key?" in await page.locator("h1").inner_text()
    assert await me(console, session) == 200  # nothing happens before the confirmation
    assert await axe_check(page) == []
    await shot(page, "admin-operator-reset", "en")
    await page.locator("#confirm").click()
    await page.wait_for_url("**/admin/operators?shown=*")
    assert "sign-ins and tokens ended: 1" in await page.locator("#shown").inner_text()
    password = await page.locator("#shown-password").inner_text()
    assert password != target.password and await me(console, session) == 401
    assert password_matches((await db.operators.find_one({"_id": target_id}))["password_hash"], password)

    own = page.locator(f"tr[data-operator='{page.operator.operator.id}']")
    assert await own.get_by_role("link", name="Disable").count() == 0  # not offered for oneself
    await own.locator("select").select_option("viewer")
    async with page.expect_response("**/admin/operators/*") as sent:
        await own.get_by_role("button", name="Change role").click()
    assert (await sent.value).status == 409
    assert "This is the last active admin" in await page.locator("#form").inner_text()
    assert (await db.operators.find_one({"_id": page.operator.operator.id}))["role"] == "admin"
    assert await axe_check(page) == []

    details = [e["detail"] for e in await audited(db, "operator.updated")]
    assert details == [{"role": "publisher"}, {"disabled": True}, {"disabled": False}, {"unlock": True}]
    assert len(await audited(db, "operator.credentials_reset")) == 1


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_an_admin_creates_a_partner_key_shown_once_and_revokes_it(
    db: Any, console_page: Any, lang: str
) -> None:
    page = await console_page(Role.admin, lang=lang)
    await page.goto("/admin/partner-keys")
    assert await page.locator("#no-keys").count() == 1
    await page.fill("#name", "")
    await page.fill("#rate_per_minute", "0")
    await page.fill("#origins", "https://youth.example.org/form")
    async with page.expect_response("**/admin/partner-keys") as sent:
        await page.locator("#key-form button").click()
    assert (await sent.value).status == 422
    for field in ("name", "rate_per_minute"):
        assert await page.locator(f"#{field}-error").count() == 1, field

    await page.fill("#name", "Youth network form")
    await page.fill("#rate_per_minute", "120")
    await page.locator("#key-form button").click()
    assert "https://youth.example.org/form" in await page.locator("#origins-error").inner_text()
    assert await page.locator("#name").input_value() == "Youth network form"
    assert await db.partner_keys.count_documents({}) == 0
    assert await axe_check(page) == []
    await shot(page, "admin-partner-keys-errors", lang)

    await page.fill("#origins", "https://youth.example.org\nhttps://Partner.example.org:8443")
    await page.locator("#key-form button").click()
    await page.wait_for_url("**/admin/partner-keys?shown=*")
    secret = await page.locator("#shown-secret").inner_text()
    stored = PartnerKey.model_validate(await db.partner_keys.find_one({}))
    assert stored.accepts(secret) and stored.rate_per_minute == 120
    assert stored.origins == ["https://youth.example.org", "https://partner.example.org:8443"]
    assert await axe_check(page) == []
    await shot(page, "admin-partner-key-created", lang)

    await page.reload()
    assert await page.locator("#shown-secret").count() == 0 and secret not in await page.content()
    await page.locator(f"tr[data-key='{stored.key_id}'] button").click()  # not confirmed: asked
    await page.wait_for_url(f"**/admin/partner-keys/{stored.key_id}/revoke")
    assert "Youth network form" in await page.locator("h1").inner_text()
    assert await axe_check(page) == []
    await shot(page, "admin-partner-key-confirm", lang)
    await page.locator("#keep").click()  # go back: nothing changes
    await page.wait_for_url("**/admin/partner-keys")
    assert (await db.partner_keys.find_one({"_id": stored.key_id}))["revoked_at"] is None
    assert await audited(db, "partner_key.revoked") == []
    await page.locator(f"tr[data-key='{stored.key_id}'] button").click()
    await page.wait_for_url(f"**/admin/partner-keys/{stored.key_id}/revoke")
    await page.locator("#confirm").click()
    await page.wait_for_url("**/admin/partner-keys?done=revoked")
    assert (await db.partner_keys.find_one({"_id": stored.key_id}))["revoked_at"] is not None
    assert await page.locator(f"tr[data-key='{stored.key_id}'] button").count() == 0
    key_row = await page.locator(f"tr[data-key='{stored.key_id}']").inner_text()
    assert key_row.count(" UTC") == 2, key_row  # created and revoked, labelled with the zone
    assert [e["object_id"] for e in await audited(db, "partner_key.revoked")] == [stored.key_id]
    await shot(page, "admin-partner-keys", lang)


@pytest.mark.parametrize("lang", ["en", "km"])
async def test_the_audit_trail_is_filtered_and_paged(db: Any, console_page: Any, lang: str) -> None:
    page = await console_page(Role.admin, lang=lang)
    someone = await new_operator(db, Role.editor)
    log = AuditLog(db)
    for n in range(60):  # one a minute on 20 November, then three on the 22nd
        await log.record(
            AuditEvent(
                operator_id=someone.operator.id,
                action="token.created",
                object_type="api_token",
                object_id=f"ot_{n:03d}",
                at=T0 + timedelta(minutes=n),
            )
        )
    for n in range(3):
        await log.record(
            AuditEvent(
                operator_id=someone.operator.id,
                action="operator.password_changed",
                object_type="operator",
                object_id=someone.operator.id,
                outcome="failed",
                detail={"reason": "current_password"},
                at=T0 + timedelta(days=2, minutes=n),
            )
        )

    await page.goto("/admin/audit")
    await page.select_option("#operator", someone.operator.id)
    await page.select_option("#action", "token.created")
    await page.locator("#audit-filters button").click()
    await page.wait_for_url("**/admin/audit?*")
    rows = page.locator("#events tbody tr")
    assert await rows.count() == 50
    assert await rows.first.get_attribute("data-event") is not None
    first_page = await page.locator("#events tbody td code").all_inner_texts()
    assert "ot_059" in first_page and "ot_009" not in first_page  # newest first
    assert await axe_check(page) == []
    await shot(page, "admin-audit", lang)

    await page.locator("#older").click()
    assert await rows.count() == 10
    older = await page.locator("#events tbody td code").all_inner_texts()
    assert "ot_009" in older and "ot_000" in older and "ot_010" not in older
    assert await page.locator("#older").count() == 0
    await page.locator("#newest").click()
    assert await rows.count() == 50

    await page.goto("/admin/audit")
    await page.select_option("#operator", someone.operator.id)
    await page.fill("#since", "2026-11-22")
    await page.fill("#until", "2026-11-22")
    await page.locator("#audit-filters button").click()
    assert await rows.count() == 3
    assert "current_password" in await page.locator("#events").inner_text()

    await page.fill("#since", "2026-11-23")
    async with page.expect_response("**/admin/audit?*") as sent:
        await page.locator("#audit-filters button").click()
    assert (await sent.value).status == 422
    assert await page.locator("#until-error").count() == 1
    assert await page.locator("#since").input_value() == "2026-11-23"
    assert await axe_check(page) == []
    await shot(page, "admin-audit-errors", lang)

    answer = await page.goto("/admin/audit?since=yesterday")
    assert answer is not None and answer.status == 422
    assert await page.locator("#since-error").count() == 1


async def same_instant_events(db: Any, operator_id: str, count: int) -> set[str]:
    """`count` events of one millisecond (ids in no particular order of time)."""
    log = AuditLog(db)
    for n in range(count):
        await log.record(
            AuditEvent(
                id=f"ae_same_{(n * 37) % count:03d}",
                operator_id=operator_id,
                action="token.revoked",
                object_type="api_token",
                object_id=f"ot_same_{n:03d}",
                at=T0,
            )
        )
    return {f"ot_same_{n:03d}" for n in range(count)}


async def test_the_audit_api_pages_events_of_the_same_instant_without_losing_any(
    console: str, db: Any, admin_token: str
) -> None:
    someone = await new_operator(db, Role.editor)
    expected = await same_instant_events(db, someone.operator.id, 7)
    seen: list[str] = []
    before: dict[str, str] = {}
    async with httpx.AsyncClient(
        base_url=console, headers={"Authorization": f"Bearer {admin_token}"}
    ) as client:
        for _ in range(10):
            answer = await client.get(
                "/api/v1/operator/audit", params={"operator": someone.operator.id, "limit": 3, **before}
            )
            assert answer.status_code == 200
            events = answer.json()
            seen += [event["object_id"] for event in events]
            if len(events) < 3:
                break
            before = {"before_id": events[-1]["id"]}
        assert len(seen) == len(expected) and set(seen) == expected
        unknown = await client.get("/api/v1/operator/audit", params={"before_id": "ae_nothing"})
        assert unknown.status_code == 422


async def test_the_audit_page_pages_events_of_the_same_instant_without_losing_any(
    db: Any, console_page: Any
) -> None:
    page = await console_page(Role.admin)
    someone = await new_operator(db, Role.editor)
    expected = await same_instant_events(db, someone.operator.id, 53)
    await page.goto(f"/admin/audit?operator={someone.operator.id}")
    rows = page.locator("#events tbody tr")
    assert await rows.count() == 50
    first = await page.locator("#events tbody td code").all_inner_texts()
    await page.locator("#older").click()
    await page.wait_for_url("**before=*")
    assert await rows.count() == 3
    second = await page.locator("#events tbody td code").all_inner_texts()
    shown = [text for text in first + second if text.startswith("ot_same_")]
    assert len(shown) == 53 and set(shown) == expected
    answer = await page.goto("/admin/audit?before=ae_nothing")
    assert answer is not None and answer.status == 422
