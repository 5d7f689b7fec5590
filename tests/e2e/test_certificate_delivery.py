"""A pledge's certificate travelling through the whole running system: intake -> pledge-intake ->
certificate-renderer -> alert-dispatcher -> email and post channels -> SMTP sink and letters
sandbox; then the email's one-click unsubscribe in a real browser, and nothing more is sent.

Delivery states are read as an operator reads them (the console's `/api/v1/operator/deliveries`,
with the local admin's API token the stack writes into .run/secrets.env): the public status of a
pledge says only received / recorded / rejected, whether its contact was known or not."""

from __future__ import annotations

import email
import email.policy
import time
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.console_signin import operator_token
from tests.e2e.waiting import wait_for, write_to_us

pytestmark = pytest.mark.timeout(300)

PLEDGE: dict[str, Any] = {
    "name": "Chan Sophea",
    "country": "US",
    "certificate_language": "en",
    "channels": ["email", "post"],
    "email": "sophea@example.org",
    "postal_address": {
        "street_address": "1600 Main Street",
        "city": "Long Beach",
        "country_area": "CA",
        "postal_code": "90802",
    },
    "consent": True,
}


def test_email_and_post_both_reach_sent_with_the_certificate_then_one_click_unsubscribe_stops_mail(
    stack: RunningStack, browser: Any
) -> None:
    intake = stack.intake_url
    mail_api = f"http://127.0.0.1:{stack.port('SAMLENG_MAIL_UI_PORT')}/api/v1"
    sandbox = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    created = httpx.post(
        f"{intake}/api/v1/pledges", json=PLEDGE, headers={"Idempotency-Key": "e2e-delivery-1"}
    )
    assert created.status_code == 202, created.text
    pledge_id = created.json()["pledge_id"]

    def delivered() -> Any:
        deliveries = operator_deliveries(stack, pledge_id)
        states = {d["channel"]: d["state"] for d in deliveries}
        return deliveries if states == {"email": "sent", "post": "sent"} else None

    [number] = {d["source_id"] for d in wait_for(delivered, what="email and post sent")}
    public = httpx.get(f"{intake}/api/v1/pledges/{pledge_id}").json()
    assert public["state"] == "recorded" and number not in str(public), "the number goes to the contact only"

    messages = httpx.get(f"{mail_api}/messages").json()["messages"]
    [summary] = [m for m in messages if m["To"][0]["Address"] == "sophea@example.org"]
    raw = httpx.get(f"{mail_api}/message/{summary['ID']}/raw").content
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    [pdf] = list(message.iter_attachments())
    assert pdf.get_filename() == f"{number}.pdf" and pdf.get_content().startswith(b"%PDF")
    unsubscribe_url = str(message["List-Unsubscribe"]).strip().split(",")[0].strip("<> ")
    assert unsubscribe_url.startswith(f"{intake}/u/")

    letters = httpx.get(f"{sandbox}/lob/v1/letters", auth=("test_e2e_check", "")).json()["data"]
    [letter] = [x for x in letters if x["to"]["name"] == "Chan Sophea"]
    assert letter["to"]["address_zip"] == "90802" and letter["pages"] == 1

    page = browser.new_page()
    page.goto(f"{intake}/pledge/{pledge_id}?lang=en")
    assert number not in page.content() and page.locator("#deliveries").count() == 0
    page.goto(unsubscribe_url + "?lang=en")
    assert page.locator("#unsubscribe-message").get_attribute("data-state") == "ask"
    page.get_by_role("button", name="Stop all messages").click()
    assert page.locator("#unsubscribe-message").get_attribute("data-state") == "done"
    page.close()

    # A re-issued certificate (new number) is not mailed to someone who unsubscribed.
    operator = {"Authorization": f"Bearer {operator_token(stack)}"}

    def reissued() -> Any:
        response = httpx.post(
            f"{stack.console_url}/api/v1/operator/certificates/{number}/reissue",
            json={"corrected_name": "Chan Sopheap", "reason": "name misspelt"},
            headers=operator,
        )
        assert response.status_code == 202, response.text
        return True

    time.sleep(1.0)  # pledge-intake records the withdrawal before the operator acts
    reissued()

    def new_deliveries() -> Any:
        listing = httpx.get(
            f"{stack.console_url}/api/v1/operator/deliveries",
            params={"pledge_id": pledge_id},
            headers=operator,
        ).json()["deliveries"]
        fresh = [d for d in listing if d["source_id"] != number]
        return fresh if len(fresh) == 2 else None

    fresh = wait_for(new_deliveries, what="deliveries of the re-issued certificate")
    assert {(d["channel"], d["state"], d["reason"]) for d in fresh} == {
        ("email", "skipped", "unsubscribed"),
        ("post", "skipped", "unsubscribed"),
    }
    to_sophea = [
        m
        for m in httpx.get(f"{mail_api}/messages").json()["messages"]
        if m["To"][0]["Address"] == "sophea@example.org"
    ]
    assert len(to_sophea) == 1


def operator_deliveries(stack: RunningStack, pledge_id: str) -> list[dict[str, Any]]:
    listing = httpx.get(
        f"{stack.console_url}/api/v1/operator/deliveries",
        params={"pledge_id": pledge_id},
        headers={"Authorization": f"Bearer {operator_token(stack)}"},
    )
    assert listing.status_code == 200, listing.text
    return list(listing.json()["deliveries"])


def test_a_cambodian_signer_who_writes_to_us_gets_a_discreet_message_on_signal_and_whatsapp_and_no_post(
    stack: RunningStack,
) -> None:
    intake = stack.intake_url
    sandbox = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    pledge = {
        "name": "សុខ ចាន់ធី",
        "country": "KH",
        "certificate_language": "km",
        "channels": ["signal", "whatsapp"],
        "phone": "012 777 888",
        "consent": True,
    }
    created = httpx.post(f"{intake}/api/v1/pledges", json=pledge, headers={"Idempotency-Key": "e2e-kh-chat"})
    assert created.status_code == 202, created.text
    pledge_id = created.json()["pledge_id"]

    def states() -> dict[str, str]:
        return {d["channel"]: d["state"] for d in operator_deliveries(stack, pledge_id)}

    # Nothing goes to a number before its owner wrote to us from it.
    wait_for(lambda: states() == {"signal": "waiting", "whatsapp": "waiting"}, what="waiting for the number")
    assert httpx.get(f"{sandbox}/signal/_messages", params={"recipient": "+85512777888"}).json()["count"] == 0
    write_to_us(stack, "+85512777888")

    def delivered() -> Any:
        deliveries = operator_deliveries(stack, pledge_id)
        states = {d["channel"]: d["state"] for d in deliveries}
        return deliveries if states == {"signal": "delivered", "whatsapp": "delivered"} else None

    assert all(d["source_id"] for d in wait_for(delivered, what="signal and whatsapp delivered"))
    # A resident of Cambodia: a discreet message (the neutral line and a link), no certificate image.
    [signal] = httpx.get(f"{sandbox}/signal/_messages", params={"recipient": "+85512777888"}).json()[
        "messages"
    ]
    assert not signal["attachments"] and f"{intake}/d/" in signal["message"]
    assert "សុខ ចាន់ធី" not in signal["message"] and "KCAP" not in signal["message"]
    [whatsapp] = httpx.get(f"{sandbox}/whatsapp/_messages", params={"to": "85512777888"}).json()["messages"]
    assert whatsapp["media_mime"] is None and "សុខ ចាន់ធី" not in str(whatsapp)
    webhooks = httpx.get(f"{sandbox}/whatsapp/_webhooks").json()["webhooks"]
    assert any(w["ok"] for w in webhooks), "the delivered state came from a signed status webhook"

    refused = httpx.post(
        f"{intake}/api/v1/pledges",
        json={
            **pledge,
            "channels": ["post"],
            "postal_address": {"street_address": "No. 12, Street 271", "city": "Phnom Penh"},
        },
    )
    assert refused.status_code == 422
    assert any(e["field"] == "channels" for e in refused.json()["detail"])


def test_messenger_is_delivered_once_the_signer_opens_the_m_me_link(stack: RunningStack) -> None:
    intake = stack.intake_url
    sandbox = f"http://127.0.0.1:{stack.port('SAMLENG_SANDBOX_PORT')}"
    pledge = {
        "name": "Keo Sophal",
        "country": "KH",
        "certificate_language": "en",
        "channels": ["messenger"],
        "email": "sophal@example.org",
        "consent": True,
        "discreet": False,  # chose ordinary messages: the certificate image itself
    }
    created = httpx.post(
        f"{intake}/api/v1/pledges", json=pledge, headers={"Idempotency-Key": "e2e-messenger"}
    )
    assert created.status_code == 202, created.text
    body = created.json()
    ref = body["messenger_link"].split("ref=", 1)[1]

    def waiting() -> Any:
        deliveries = operator_deliveries(stack, body["pledge_id"])
        return deliveries if [d["state"] for d in deliveries] == ["waiting"] else None

    wait_for(waiting, what="the Messenger delivery waiting for the opt-in")
    psid = httpx.post(f"{sandbox}/messenger/_optin", json={"ref": ref}).json()["psid"]

    def sent() -> Any:
        deliveries = operator_deliveries(stack, body["pledge_id"])
        return deliveries if [d["state"] for d in deliveries] == ["sent"] else None

    wait_for(sent, what="Messenger delivery sent")
    [message] = httpx.get(f"{sandbox}/messenger/_messages", params={"psid": psid}).json()["messages"]
    assert message["mime"] == "image/png"
