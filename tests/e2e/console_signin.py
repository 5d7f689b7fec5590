"""Signing in to the console on the running system as a person does: an admin made the account
(email, password and the TOTP enrolment, shown once, through the operator API with the local
admin's token that `make run` writes); the operator types them on the real /sign-in page with a
code from an authenticator app."""

from __future__ import annotations

from typing import Any

import httpx
import pyotp
from playwright.sync_api import Browser, Page

from tests.e2e.conftest import RunningStack


def operator_token(stack: RunningStack) -> str:
    """The local admin's operator API token (`sk_op_…`), as `make run` writes it for the CLI."""
    for line in (stack.run_dir / "secrets.env").read_text().splitlines():
        if line.startswith("SAMLENG_OPERATOR_TOKEN="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise AssertionError("no operator API token in the run's secrets")


def new_operator(
    stack: RunningStack, email_address: str, name: str, role: str = "publisher"
) -> dict[str, Any]:
    """A new operator as the operator API answers its creation: `operator`, `password`,
    `otpauth_uri`."""
    created = httpx.post(
        f"{stack.console_url}/api/v1/operator/operators",
        headers={"Authorization": f"Bearer {operator_token(stack)}"},
        json={"email": email_address, "display_name": name, "role": role},
    )
    assert created.status_code in (200, 201), created.text
    answer: dict[str, Any] = created.json()
    return answer


def sign_in(page: Page, email: str, password: str, code: str, next_path: str | None = None) -> None:
    """The /sign-in form filled and sent (sent on to `next_path` when one is given)."""
    page.goto(f"/sign-in?next={next_path}" if next_path else "/sign-in")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_label("Code from your authenticator app").fill(code)
    page.get_by_role("button", name="Sign in").click()


def signed_in(browser: Browser, stack: RunningStack, operator: dict[str, Any], next_path: str) -> Page:
    """A page in a new browser context, signed in on /sign-in and sent on to `next_path`."""
    context = browser.new_context(base_url=stack.console_url, locale="en-GB")
    page = context.new_page()
    code = pyotp.TOTP(pyotp.parse_uri(operator["otpauth_uri"]).secret).now()
    sign_in(page, operator["operator"]["email"], operator["password"], code, next_path)
    page.wait_for_url(f"**{next_path}")
    return page
