"""The operator console in a real browser (Playwright's async API on Debian's Chromium), for the
service-tier page tests: an operator of a given role already signed in (a session opened through
the console's own stores, as the sign-in page does), axe-core's accessibility check, and where
screenshots go for people to look at.

    page = await console_page(Role.publisher)          # tests/service/conftest.py
    await page.goto("/alerts")
    assert await axe_check(page) == []
    await shot(page, "alerts-list", "en")
"""

from __future__ import annotations

import asyncio
import tempfile
import uuid
from pathlib import Path
from typing import Any

from services.console.credentials import Credentials
from services.console.operators import NewOperator, OperatorStore
from services.console.permissions import Role
from shared.personal_data import open_vault

CHROMIUM = "/usr/lib/chromium/chromium"
SHOTS = Path(tempfile.gettempdir()) / "samleng-screens"  # for people to look at; not asserted
SERIOUS = frozenset({"serious", "critical"})
AXE_SECONDS = 90  # generous: a busy machine is slow, a page without JavaScript never answers


async def new_operator(db: Any, role: Role, email: str | None = None) -> NewOperator:
    """An operator of `role` written through the console's store (password and TOTP URI in the
    answer, as `samleng operator add` prints them)."""
    vault = await open_vault(db)
    try:
        return await OperatorStore(db, vault).create(
            email or f"{role.value}-{uuid.uuid4().hex[:8]}@samleng.test", f"Test {role.value}", role
        )
    finally:
        if vault is not None:
            await vault.close()


async def session_token(db: Any, operator_id: str) -> str:
    """A live session of the operator (the `samleng_console` cookie's value)."""
    token, _, _ = await Credentials(db).open_session(operator_id, 1)
    return token


async def axe_check(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations on the page as it is now (id, impact, help and
    the first offending elements) — `[]` when the page passes. axe runs as a script in the page:
    check a page opened with JavaScript on (with it off, the script never answers)."""
    from axe_playwright_python.async_playwright import Axe

    try:
        results = await asyncio.wait_for(Axe().run(page), AXE_SECONDS)
    except TimeoutError:
        raise AssertionError(
            f"axe did not answer within {AXE_SECONDS} s: is JavaScript off on this page?"
        ) from None
    return [
        {
            "id": violation["id"],
            "impact": violation["impact"],
            "help": violation["help"],
            "nodes": [node["target"] for node in violation["nodes"][:3]],
        }
        for violation in results.response["violations"]
        if violation.get("impact") in SERIOUS
    ]


async def shot(page: Any, name: str, lang: str) -> Path:
    """A full-page screenshot `console-<name>-<lang>.png` for review."""
    SHOTS.mkdir(exist_ok=True)
    path = SHOTS / f"console-{name}-{lang}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
