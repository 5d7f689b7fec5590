"""Publishing an urgent alert end to end in the browser, on the whole running system (issue #16's
first acceptance point): members pledge on the public API; an operator who has never used a
terminal signs in on the console's /sign-in page, composes the urgent alert with the form,
previews it, sends it to themself (it reaches their inbox, the SMTP sink), reads the summary;
a second publisher approves it; the operator publishes it and watches its page reach `sent` for
every member without reloading it."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import new_operator, signed_in
from tests.e2e.waiting import inbox, wait_for, write_to_us
from tests.integration.test_alerts import ALERT
from tests.support.console_browser import SHOTS

pytestmark = pytest.mark.timeout(360)

NUMBER = "UA 81/26"
PHONES = ("012 555 101", "012 555 102", "012 555 103")
NAMES = ("Sok Dara", "Chan Sophea", "Keo Vanna")


def pledge_members(stack: RunningStack) -> None:
    """Members who want alerts by Signal, in full (they chose ordinary messages), and who wrote
    to our Signal number, which confirms theirs."""
    for index, (phone, name) in enumerate(zip(PHONES, NAMES, strict=True)):
        answer = httpx.post(
            f"{stack.intake_url}/api/v1/pledges",
            json={
                "name": name,
                "country": "KH",
                "channels": ["signal"],
                "phone": phone,
                "consent": True,
                "alerts_opt_in": True,
                "discreet": False,
            },
            headers={"Idempotency-Key": f"e2e-console-alerts-{index}"},
        )
        assert answer.status_code == 202, answer.text
        write_to_us(stack, "+855" + phone.replace(" ", "")[1:])


def test_an_operator_publishes_an_urgent_alert_in_the_browser_and_watches_it_reach_every_member(
    stack: RunningStack, browser: Any
) -> None:
    pledge_members(stack)
    author = new_operator(stack, "organiser.alerts@samleng.test", "Organiser")
    second = new_operator(stack, "second.alerts@samleng.test", "Second publisher")
    SHOTS.mkdir(exist_ok=True)

    # Compose, with the form.
    page = signed_in(browser, stack, author, "/alerts")
    page.get_by_role("link", name="Write a new alert").click()
    page.get_by_label("Number").fill(NUMBER)
    page.get_by_label("Urgent").check()
    page.get_by_label("Political prisoners").check()
    for lang in ("en", "km"):
        text = ALERT["texts"][lang]
        page.fill(f"[id='texts.{lang}.title']", text["title"])
        page.fill(f"[id='texts.{lang}.summary']", text["summary"])
        page.fill(f"[id='texts.{lang}.actions']", "\n".join(text["actions"]))
        page.fill(f"[id='texts.{lang}.letter_subject']", text["letter_subject"])
        page.fill(f"[id='texts.{lang}.letter']", text["letter"])
    page.fill("[id='officials.0.name']", "Minister of Justice")
    page.fill("[id='officials.0.email']", "minister@justice.example")
    page.fill("[id='officials.0.salutation']", "Your Excellency")
    page.get_by_role("button", name="Save the draft").click()
    page.wait_for_url("**/alerts/al_*?done=saved")
    alert_id = page.url.split("/alerts/")[1].split("?")[0]

    # Preview: what Signal will carry.
    page.get_by_role("link", name="Preview").click()
    signal = page.locator("#preview-en pre.chat[data-channel='signal']").inner_text()
    assert signal.startswith(f"Urgent Action {NUMBER}: Release Sok Vanna")
    page.screenshot(path=str(SHOTS / "console-alerts-e2e-preview-en.png"), full_page=True)

    # Send to myself, by email.
    page.goto(f"/alerts/{alert_id}")
    page.get_by_label("Channel", exact=True).select_option("email")
    page.get_by_role("button", name="Send", exact=True).click()
    page.wait_for_url("**?done=test&channel=email")
    [mine] = wait_for(
        lambda: inbox(stack, author["operator"]["email"], f"URGENT: Urgent Action {NUMBER}"),
        timeout=90.0,
        what="the test email",
    )
    html = mine.get_body(("html",))
    assert html is not None and "Release Sok Vanna" in html.get_content()

    # The summary: the members who will receive it; no publishing without a second publisher.
    def counted() -> bool:
        page.goto(f"/alerts/{alert_id}/summary")
        cell = page.locator("#summary-table tr[data-channel='signal'] [data-count='members']")
        return cell.count() == 1 and int(cell.inner_text().replace(",", "")) >= len(PHONES)

    wait_for(counted, timeout=90.0, what="the pledged members in the summary")
    assert page.locator("#publish").count() == 0 and page.locator("#approve").count() == 0
    page.screenshot(path=str(SHOTS / "console-alerts-e2e-summary-en.png"), full_page=True)

    # A second publisher approves it.
    other = signed_in(browser, stack, second, f"/alerts/{alert_id}/summary")
    other.get_by_role("button", name="Approve this content").click()
    other.wait_for_url("**?done=approved")
    other.context.close()

    # Publish, and watch the progress reach `sent` for every member (the page updates itself).
    page.reload()
    assert "Second publisher" in page.locator("#approval-state").inner_text()
    page.get_by_role("button", name="Publish now").click()
    page.wait_for_url(f"**/alerts/{alert_id}?done=published")

    def reached() -> bool:
        total = page.locator("table[data-sequence='0'] tfoot")
        if total.count() == 0:
            return False
        cells = {
            stage: int(total.locator(f"td[data-stage='{stage}']").inner_text())
            for stage in ("requested", "sent", "delivered")
        }
        return cells["requested"] >= len(PHONES) and cells["sent"] + cells["delivered"] == cells["requested"]

    deadline = time.monotonic() + 120
    while not reached():  # no reload: static/alerts.js brings the numbers
        assert time.monotonic() < deadline, page.locator("#progress").inner_text()
        if page.locator("#no-deliveries").count() and time.monotonic() > deadline - 60:
            page.reload()  # the dispatcher had not kept it when the page was drawn
        time.sleep(0.5)
    page.screenshot(path=str(SHOTS / "console-alerts-e2e-alert-en.png"), full_page=True)
    sandbox = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    for phone in PHONES:
        number = "+855" + phone.replace(" ", "")[1:]
        received = httpx.get(f"{sandbox}/signal/_messages", params={"recipient": number}).json()["messages"]
        assert sum(NUMBER in m["message"] for m in received) == 1, number
    page.goto(f"/alerts/{alert_id}?lang=km")
    page.screenshot(path=str(SHOTS / "console-alerts-e2e-alert-km.png"), full_page=True)
    page.context.close()
