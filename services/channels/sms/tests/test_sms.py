"""The SMS channel against its Twilio-shaped sandbox (in process) and the real Mongo-wire server
(opt-outs): the shared contract, segments, signatures, status callbacks, STOP and START."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from devstack.sandbox.app import create_app
from devstack.sandbox.providers import Provider
from services.channels.sms.adapter import SANDBOX_NUMBER, SmsAdapter, SmsSettings
from services.channels.sms.sandbox import SmsSandbox, create_router
from services.channels.sms.signature import signature
from shared.channels import OutboundMessage, PermanentDeliveryError, RetryableDeliveryError
from shared.contracts.delivery import NoticeRef
from tests.support.channel_contract import ChannelContract, Failure, message_for, notice_for, reminder_for

ACCOUNT = "AC0123456789abcdef0123456789abcdef"
TOKEN = "sms-auth-token-for-tests"
WEBHOOKS = "https://pledge.example.org/webhooks/sms"
PHONE = "+15625550123"


class Reports:
    """What the inbound process would publish (shared.channels.inbound.Inbound's two calls)."""

    def __init__(self) -> None:
        self.statuses: list[tuple[str, str, str | None]] = []
        self.messages: list[tuple[str, str, str, str | None]] = []

    async def status(self, provider_message_id: str, state: str, reason: str | None = None) -> bool:
        self.statuses.append((provider_message_id, state, reason))
        return True

    async def message(
        self, kind: str, sender: str, text: str, provider_message_id: str | None = None
    ) -> None:
        self.messages.append((kind, sender, text, provider_message_id))


class SmsHarness:
    def __init__(self, mongo_uri: str, db_name: str, **settings: Any) -> None:
        self.sandbox = SmsSandbox()
        self.sandbox.callback_delay = 0.0
        self.sandbox.retry_base = 0.01
        sandbox_app = FastAPI()
        sandbox_app.include_router(create_router(self.sandbox), prefix="/sms")
        self.api = httpx.ASGITransport(app=sandbox_app)
        self.next_failure: Failure | None = None
        values: dict[str, Any] = {
            "api_url": "http://sandbox/sms",
            "account_sid": ACCOUNT,
            "api_token": TOKEN,
            "from_number": "+15550002222",
            "webhook_base_url": WEBHOOKS,
            "MONGODB_URI": mongo_uri,
            "MONGODB_DATABASE": db_name,
        }
        self.settings = SmsSettings(_env_file=None, **{**values, **settings})
        self.adapter = SmsAdapter(self.settings, transport=httpx.MockTransport(self.handle))
        # The sandbox's status callbacks reach the inbound routes in process, as they would reach
        # sms-inbound at SMS_WEBHOOK_BASE_URL.
        self.reports = Reports()
        inbound_app = FastAPI()
        inbound_app.include_router(self.adapter.inbound_router(self.reports), prefix="/webhooks/sms")
        self.inbound = httpx.ASGITransport(app=inbound_app)
        self.sandbox.transport = self.inbound

    async def handle(self, request: httpx.Request) -> httpx.Response:
        creating = request.method == "POST" and request.url.path.endswith("/Messages.json")
        failure = self.next_failure if creating else None
        self.next_failure = None if failure else self.next_failure
        if failure == "permanent":
            error = {"code": 21211, "message": "The 'To' number is not a valid phone number.", "status": 400}
            return httpx.Response(400, json=error)
        if failure == "retryable":
            return httpx.Response(
                429, json={"code": 20429, "message": "Too Many Requests"}, headers={"Retry-After": "2"}
            )
        response = await self.api.handle_async_request(request)
        await response.aread()
        if failure == "unknown":
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def received(self) -> int:
        return len(self.sandbox.messages)

    def fail_next(self, failure: Failure) -> None:
        self.next_failure = failure

    async def text_us(self, sender: str, body: str, *, token: str = TOKEN) -> httpx.Response:
        """A person texts our number: Twilio's signed webhook to sms-inbound."""
        params = {"MessageSid": "SM" + "1" * 32, "From": sender, "To": "+15550002222", "Body": body}
        headers = {"X-Twilio-Signature": signature(token, f"{WEBHOOKS}/inbound", params.items())}
        async with httpx.AsyncClient(transport=self.inbound, base_url="http://sms-inbound") as client:
            return await client.post("/webhooks/sms/inbound", data=params, headers=headers)

    async def settled(self) -> None:
        for _ in range(200):
            if not self.sandbox.tasks:
                return
            await asyncio.sleep(0.01)


@pytest.fixture
async def harness(mongo_uri: str, db_name: str) -> AsyncIterator[SmsHarness]:
    harness = SmsHarness(mongo_uri, db_name)
    await harness.adapter.start()
    yield harness
    await harness.adapter.close()


class TestSmsChannel(ChannelContract):
    adapter_cls = SmsAdapter

    @pytest.fixture
    async def harness(self, mongo_uri: str, db_name: str) -> AsyncIterator[SmsHarness]:
        harness = SmsHarness(mongo_uri, db_name)
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()


def with_text_only(message: OutboundMessage, **certificate: Any) -> OutboundMessage:
    assert message.delivery.certificate is not None
    ref = message.delivery.certificate.model_copy(update=certificate)
    return OutboundMessage(message.delivery.model_copy(update={"certificate": ref}), ())


# ---- what is sent -------------------------------------------------------------------------------


async def test_a_khmer_certificate_goes_as_a_ucs2_text_with_its_links_and_no_file(
    harness: SmsHarness,
) -> None:
    result = await harness.adapter.send(message_for(SmsAdapter))
    [sent] = harness.sandbox.messages
    assert sent["to"] == PHONE and sent["from"] == "+15550002222"
    assert "វិញ្ញាបនបត្រ KCAP-2026-000042" in sent["body"]
    assert "https://pledge.example.org/v/KCAP-2026-000042" in sent["body"]
    assert sent["encoding"] == "UCS-2" and int(sent["num_segments"]) >= 3
    assert sent["status_callback"] == f"{WEBHOOKS}/status"
    assert result.provider_message_id == sent["sid"] and result.details["encoding"] == "UCS-2"


async def test_without_a_sender_a_local_run_sends_from_the_sandbox_number_and_production_waits(
    mongo_uri: str, db_name: str
) -> None:
    local = SmsHarness(mongo_uri, db_name, api_url=None, sandbox_url="http://sandbox", from_number=None)
    production = SmsHarness(mongo_uri, db_name, from_number=None)  # a provider API, no sender set
    for harness in (local, production):
        await harness.adapter.start()
    try:
        await local.adapter.send(message_for(SmsAdapter))
        [sent] = local.sandbox.messages
        assert sent["from"] == SANDBOX_NUMBER
        with pytest.raises(RetryableDeliveryError) as refused:
            await production.adapter.send(message_for(SmsAdapter))
        assert refused.value.reason == "sms-no-sender" and production.sandbox.messages == []
    finally:
        for harness in (local, production):
            await harness.adapter.close()


async def test_a_certificate_carries_the_personal_download_link_when_the_dispatcher_gives_one(
    harness: SmsHarness,
) -> None:
    link = "https://pledge.example.org/c/download/personal-token-0123456789"
    await harness.adapter.send(with_text_only(message_for(SmsAdapter), download_url=link))
    [sent] = harness.sandbox.messages
    assert link in sent["body"] and "https://pledge.example.org/v/KCAP-2026-000042" in sent["body"]


async def test_an_english_session_reminder_is_gsm7(harness: SmsHarness) -> None:
    await harness.adapter.send(reminder_for(SmsAdapter, "reminder", "en"))
    [sent] = harness.sandbox.messages
    assert sent["body"].startswith("Reminder: Commission of Inquiry hearing")
    assert sent["encoding"] == "GSM-7"


async def test_a_discreet_notice_is_only_its_neutral_line_and_link(harness: SmsHarness) -> None:
    message = notice_for(SmsAdapter)
    neutral = NoticeRef(
        kind="discreet",
        subject="",
        body="New message for you:",
        link_url="https://pledge.example.org/m/d/contract-token-0123456789",
        link_label="",
    )
    discreet = message.delivery.model_copy(
        update={"notice": neutral, "recipient": message.recipient.model_copy(update={"discreet": True})}
    )
    await harness.adapter.send(OutboundMessage(discreet, ()))
    [sent] = harness.sandbox.messages
    assert sent["body"] == "New message for you:\nhttps://pledge.example.org/m/d/contract-token-0123456789"


async def test_a_text_over_the_segment_limit_is_refused_permanently_before_the_provider(
    mongo_uri: str, db_name: str
) -> None:
    harness = SmsHarness(mongo_uri, db_name, max_segments=2)  # the Khmer certificate needs more
    await harness.adapter.start()
    try:
        with pytest.raises(PermanentDeliveryError) as refused:
            await harness.adapter.send(message_for(SmsAdapter))
        assert refused.value.reason == "too-many-segments"
        assert harness.received() == 0
    finally:
        await harness.adapter.close()


async def test_provider_errors_map_to_the_error_tree(harness: SmsHarness) -> None:
    with pytest.raises(PermanentDeliveryError) as invalid:
        await harness.adapter.send(
            OutboundMessage(
                message_for(SmsAdapter).delivery.model_copy(
                    update={"recipient": message_for(SmsAdapter).recipient.model_copy(update={"phone": "+1"})}
                ),
                (),
            )
        )
    assert invalid.value.reason == "sms-21211"
    harness.fail_next("retryable")
    with pytest.raises(RetryableDeliveryError) as busy:
        await harness.adapter.send(message_for(SmsAdapter))
    assert busy.value.reason == "sms-20429" and busy.value.retry_after == 2.0


async def test_a_wrong_auth_token_is_retried_not_fallen_back_from(harness: SmsHarness) -> None:
    harness.sandbox.auth_token = "the-real-token"
    with pytest.raises(RetryableDeliveryError) as refused:
        await harness.adapter.send(message_for(SmsAdapter))
    assert refused.value.reason == "sms-20003"


async def test_reconcile_resends_what_the_api_never_took(harness: SmsHarness) -> None:
    message = message_for(SmsAdapter, "dl_sms_never_taken_000001")
    with pytest.raises(RetryableDeliveryError) as never:
        await harness.adapter.reconcile(message.delivery)
    assert never.value.reason == "not-sent"


# ---- status callbacks and signatures ------------------------------------------------------------


async def test_status_callbacks_signed_by_the_sandbox_become_delivery_statuses(harness: SmsHarness) -> None:
    result = await harness.adapter.send(message_for(SmsAdapter))
    await harness.settled()
    assert harness.reports.statuses == [
        (result.provider_message_id, "sent", None),
        (result.provider_message_id, "delivered", None),
    ]
    assert all(c["ok"] for c in harness.sandbox.callbacks)


async def test_an_undelivered_message_fails_permanently_with_its_error_code(harness: SmsHarness) -> None:
    harness.sandbox.fail_receipts = "undelivered"
    result = await harness.adapter.send(message_for(SmsAdapter))
    await harness.settled()
    assert harness.reports.statuses[-1] == (result.provider_message_id, "failed_permanent", "sms-30003")


async def test_held_receipts_send_only_sent_until_released(harness: SmsHarness) -> None:
    harness.sandbox.hold_receipts = True
    result = await harness.adapter.send(message_for(SmsAdapter))
    await harness.settled()
    assert [s[1] for s in harness.reports.statuses] == ["sent"]
    async with httpx.AsyncClient(transport=harness.api, base_url="http://sandbox") as client:
        assert (await client.post("/sms/_receipts", json={})).json() == {"released": 1}
    await harness.settled()
    assert harness.reports.statuses[-1] == (result.provider_message_id, "delivered", None)


async def test_a_webhook_with_a_bad_or_missing_signature_is_refused(harness: SmsHarness) -> None:
    params = {"MessageSid": "SM" + "2" * 32, "MessageStatus": "delivered"}
    good = signature(TOKEN, f"{WEBHOOKS}/status", params.items())
    forged = signature("another-token", f"{WEBHOOKS}/status", params.items())
    async with httpx.AsyncClient(transport=harness.inbound, base_url="http://sms-inbound") as client:
        for headers in ({}, {"X-Twilio-Signature": forged}, {"X-Twilio-Signature": good[:-2] + "AA"}):
            refused = await client.post("/webhooks/sms/status", data=params, headers=headers)
            assert refused.status_code == 403
        tampered = {**params, "MessageStatus": "failed"}
        refused = await client.post(
            "/webhooks/sms/status", data=tampered, headers={"X-Twilio-Signature": good}
        )
        assert refused.status_code == 403
        taken = await client.post("/webhooks/sms/status", data=params, headers={"X-Twilio-Signature": good})
        assert taken.status_code == 204
    assert harness.reports.statuses == [(params["MessageSid"], "delivered", None)]


def test_the_signature_is_twilios() -> None:
    """Twilio's own example (TwilioDevEd/api-snippets, security/signature_validation)."""
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Caller": "+14158675310",
        "Digits": "1234",
        "From": "+14158675310",
        "To": "+18005551212",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert signature("12345", url, params.items()) == "GvWf1cFY/Q7PnoempGyD5oXAezc="
    assert signature("12345", url, reversed(list(params.items()))) == "GvWf1cFY/Q7PnoempGyD5oXAezc="


async def test_without_a_base_url_the_signature_covers_the_url_as_received(
    mongo_uri: str, db_name: str
) -> None:
    harness = SmsHarness(mongo_uri, db_name, webhook_base_url=None)
    params = {"MessageSid": "SM" + "3" * 32, "MessageStatus": "sent"}
    url = "http://sms-inbound/webhooks/sms/status"
    async with httpx.AsyncClient(transport=harness.inbound, base_url="http://sms-inbound") as client:
        signed = {"X-Twilio-Signature": signature(TOKEN, url, params.items())}
        assert (await client.post("/webhooks/sms/status", data=params, headers=signed)).status_code == 204
    assert harness.reports.statuses == [(params["MessageSid"], "sent", None)]


# ---- texts from people: STOP, START, confirmation -----------------------------------------------


@pytest.mark.parametrize("stop", ["STOP", "stop.", "Unsubscribe", "QUIT", "ឈប់"])
async def test_stop_stops_this_channel_and_start_resumes_it(harness: SmsHarness, stop: str) -> None:
    assert (await harness.text_us(PHONE, stop)).status_code == 200
    with pytest.raises(PermanentDeliveryError) as refused:
        await harness.adapter.send(message_for(SmsAdapter))
    assert refused.value.reason == "sms-opted-out" and harness.received() == 0
    await harness.text_us(PHONE, "START")
    await harness.adapter.send(message_for(SmsAdapter))
    assert harness.received() == 1
    assert [m[2] for m in harness.reports.messages] == [stop, "START"]  # both reach pledge-intake


async def test_any_text_is_reported_as_an_inbound_message_which_confirms_the_number(
    harness: SmsHarness,
) -> None:
    answer = await harness.text_us(PHONE, "Hello, it is me")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/xml")
    assert "<Response>" in answer.text
    assert harness.reports.messages == [("phone", PHONE, "Hello, it is me", "SM" + "1" * 32)]


async def test_a_text_with_a_forged_signature_changes_nothing(harness: SmsHarness) -> None:
    assert (await harness.text_us(PHONE, "STOP", token="not-our-token")).status_code == 403
    await harness.adapter.send(message_for(SmsAdapter))
    assert harness.received() == 1 and harness.reports.messages == []


# ---- the sandbox as the local stack serves it -----------------------------------------------------


async def test_the_sandbox_lists_fetches_and_honours_fault_injection(harness: SmsHarness) -> None:
    app = create_app([Provider(name="sms", router=create_router(harness.sandbox))])
    harness.api = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=harness.api, base_url="http://sandbox") as client:
        fault = {
            "provider": "sms",
            "path_prefix": "/2010-04-01",
            "method": "POST",
            "mode": "ambiguous",
            "status": 503,
        }
        assert (await client.post("/_sandbox/faults", json=fault)).status_code == 201
        with pytest.raises(RetryableDeliveryError):
            await harness.adapter.send(message_for(SmsAdapter))
        assert harness.received() == 1  # the ambiguous fault let it through: a real duplicate risk
        auth = (ACCOUNT, TOKEN)
        base = f"/sms/2010-04-01/Accounts/{ACCOUNT}"
        listed = (await client.get(f"{base}/Messages.json", params={"To": PHONE}, auth=auth)).json()
        [item] = listed["messages"]
        fetched = await client.get(f"{base}/Messages/{item['sid']}.json", auth=auth)
        assert fetched.json()["body"] == item["body"]
        assert (await client.get(f"{base}/Messages.json", auth=(ACCOUNT, ""))).status_code == 401
        recorded = (await client.get("/_sandbox/requests", params={"provider": "sms"})).json()
        assert recorded["count"] >= 3
        assert TOKEN not in str(recorded)  # the Basic auth header is redacted


async def test_the_sandbox_refuses_what_twilio_refuses(harness: SmsHarness) -> None:
    auth = (ACCOUNT, TOKEN)
    url = f"/sms/2010-04-01/Accounts/{ACCOUNT}/Messages.json"
    async with httpx.AsyncClient(transport=harness.api, base_url="http://sandbox") as client:
        cases = [
            ({"To": "12345", "From": "+15550002222", "Body": "x"}, 21211),
            ({"To": PHONE, "From": "+15550002222"}, 21602),
            ({"To": PHONE, "Body": "x"}, 21603),
            ({"To": PHONE, "From": "+15550002222", "Body": "x" * 1601}, 21617),
        ]
        for form, code in cases:
            answer = await client.post(url, data=form, auth=auth)
            assert answer.status_code == 400 and answer.json()["code"] == code, form
        await client.post("/sms/_inbound", json={"from": PHONE, "body": "STOP"})
        opted_out = await client.post(url, data={"To": PHONE, "From": "+1555", "Body": "x"}, auth=auth)
        assert opted_out.json()["code"] == 21610
