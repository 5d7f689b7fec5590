"""An operator's account in the browser, on the whole running system (issue #16): an admin creates
an operator on /admin/operators and hands over the password and authenticator key shown once;
the new operator signs in on /sign-in with them, changes their password and re-enrols their
second factor on /account, signs out, and signs back in with the new password and a code of the
new key — and the old password no longer works.

TOTP codes are single use per operator (a time step once spent signs in no more) and the console
accepts the step before and after the current one: each code here is of a step later than the
last one spent, waiting for the next 30 s step only when none is left (at most about a minute)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import pyotp
import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import new_operator, sign_in, signed_in

pytestmark = pytest.mark.timeout(300)

NEW_PASSWORD = "seven brown kettles sing loudly at dawn"
STEP = 30


@dataclass
class Authenticator:
    """An authenticator app holding one key, which never gives a code of a spent step."""

    secret: str
    last_step: int = -1

    def code(self) -> str:
        now = time.time()
        current = int(now // STEP)
        step = max(current, self.last_step + 1)
        if step > current + 1:  # the next step is spent too: wait (bounded: one step at most)
            time.sleep(min((step - 1) * STEP - now + 0.5, STEP + 1))
        self.last_step = step
        return pyotp.TOTP(self.secret).at(step * STEP)

    def spent(self, other: Authenticator) -> None:
        """The operator's last spent step was one of `other`'s codes (steps are per operator)."""
        self.last_step = max(self.last_step, other.last_step)


def key_of(otpauth_uri: str) -> Authenticator:
    return Authenticator(pyotp.parse_uri(otpauth_uri).secret)


def test_a_new_operator_signs_in_changes_password_and_key_and_signs_in_with_the_new_ones(
    stack: RunningStack, browser: Browser
) -> None:
    admin = new_operator(stack, f"admin.{uuid.uuid4().hex[:6]}@samleng.test", "Admin", role="admin")
    admin_page = signed_in(browser, stack, admin, "/admin/operators")
    email = f"volunteer.{uuid.uuid4().hex[:6]}@samleng.test"
    admin_page.locator("#operator-form #display_name").fill("Volunteer Chanthou")
    admin_page.locator("#operator-form #email").fill(email)
    admin_page.locator("#operator-form select#role").select_option("editor")
    admin_page.locator("#operator-form button").click()
    admin_page.wait_for_url("**/admin/operators?shown=*")
    password = admin_page.locator("#shown-password").inner_text()
    first_key = key_of(admin_page.locator("#shown-uri").inner_text())
    admin_page.context.close()

    context = browser.new_context(base_url=stack.console_url, locale="en-GB")
    page = context.new_page()
    sign_in(page, email, password, first_key.code())
    page.wait_for_url("**/dashboard*")

    page.goto("/account")
    page.locator("#current_password").fill(password)
    page.locator("#new_password").fill(NEW_PASSWORD)
    page.locator("#repeat_password").fill(NEW_PASSWORD)
    page.locator("#password-form button").click()
    page.wait_for_url("**/account?done=password*")

    page.locator("#totp_password").fill(NEW_PASSWORD)
    page.locator("#totp-form button").click()
    page.wait_for_url("**/account?shown=*")
    new_key = key_of(page.locator("#totp-uri").inner_text())
    new_key.spent(first_key)
    page.locator("#code").fill(new_key.code())
    page.locator("#totp-confirm-form button").click()
    page.wait_for_url("**/account?done=totp*")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/sign-in*")
    assert page.goto("/account") is not None and "/sign-in" in page.url  # signed out

    first_key.spent(new_key)
    sign_in(page, email, password, first_key.code())  # the old password and key: refused
    page.locator("#sign-in-failed").wait_for()
    assert "/sign-in" in page.url

    new_key.spent(first_key)
    sign_in(page, email, NEW_PASSWORD, new_key.code())
    page.wait_for_url("**/dashboard*")
    page.goto("/account")
    assert page.locator("#my-name").inner_text() == "Volunteer Chanthou"
    context.close()
