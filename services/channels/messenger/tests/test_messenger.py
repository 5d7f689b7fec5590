"""The Messenger channel against the Send API sandbox (in-process), and its webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any
from unittest import mock

import httpx
import pytest
from fastapi import FastAPI
from itsdangerous import URLSafeTimedSerializer

from devstack.sandbox.providers.messenger import MessengerState, create_router
from services.channels.messenger.adapter import MessengerAdapter, MessengerSettings
from shared.channels import OutboundMessage, PermanentDeliveryError
from shared.contracts import utcnow
from tests.support.channel_contract import ChannelContract, Failure, message_for, notice_for, reminder_for

PSID = "6543210987654321"
SECRET = "messenger-app-secret-for-tests"
REF_SECRET = "the-intake-secret-key-for-tests"


class MessengerHarness:
    def __init__(self, certificate_tag: str | None = "ACCOUNT_UPDATE") -> None:
        self.state = MessengerState(environ={})
        app = FastAPI()
        app.include_router(create_router(self.state), prefix="/messenger")
        self.app = httpx.ASGITransport(app=app)
        self.next_failure: Failure | None = None
        settings = MessengerSettings(
            _env_file=None,
            api_url="http://sandbox/messenger",
            page_access_token="page-token",
            app_secret=SECRET,
            verify_token="verify-me",
            ref_secret=REF_SECRET,
            certificate_tag=certificate_tag,
        )
        self.adapter = MessengerAdapter(settings, transport=httpx.MockTransport(self.handle))

    async def opt_in(self) -> None:
        async with httpx.AsyncClient(transport=self.app, base_url="http://sandbox") as client:
            response = await client.post("/messenger/_optin", json={"ref": "x", "psid": PSID})
            assert response.status_code == 201, response.text

    async def handle(self, request: httpx.Request) -> httpx.Response:
        failure = self.next_failure if request.url.path.endswith("/messages") else None
        self.next_failure = None if failure else self.next_failure
        if failure == "permanent":
            error = {"message": "No matching user found", "code": 100, "error_subcode": 2018001}
            return httpx.Response(400, json={"error": error})
        if failure == "retryable":
            return httpx.Response(503, json={"error": {"message": "temporarily unavailable", "code": 2}})
        response = await self.app.handle_async_request(request)
        await response.aread()
        if failure == "unknown":
            raise httpx.ReadTimeout("timed out", request=request)
        return response

    def received(self) -> int:
        return len(self.state.messages)

    def fail_next(self, failure: Failure) -> None:
        self.next_failure = failure


def inside_window(message: OutboundMessage) -> OutboundMessage:
    recipient = message.recipient.model_copy(
        update={"last_inbound_at": {"messenger": utcnow() - timedelta(hours=1)}}
    )
    return OutboundMessage(message.delivery.model_copy(update={"recipient": recipient}), message.attachments)


class TestMessengerChannel(ChannelContract):
    adapter_cls = MessengerAdapter

    @pytest.fixture
    async def harness(self) -> AsyncIterator[MessengerHarness]:
        harness = MessengerHarness()
        await harness.opt_in()
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()

    def test_waits_a_day_for_the_opt_in_by_default(self) -> None:
        assert MessengerAdapter.address_wait_seconds == 86_400

    async def test_inside_the_window_it_answers_with_the_certificate_image(
        self, harness: MessengerHarness
    ) -> None:
        await harness.adapter.send(inside_window(message_for(MessengerAdapter)))
        [stored] = harness.state.messages
        assert (
            stored["messaging_type"] == "RESPONSE"
            and stored["psid"] == PSID
            and stored["mime"] == "image/png"
        )

    async def test_outside_the_window_only_the_configured_tag_is_used_else_it_falls_back(self) -> None:
        tagged = MessengerHarness("ACCOUNT_UPDATE")
        untagged = MessengerHarness(None)
        for harness in (tagged, untagged):
            await harness.opt_in()
            await harness.adapter.start()
        try:
            await tagged.adapter.send(message_for(MessengerAdapter))
            assert [(m["messaging_type"], m["tag"]) for m in tagged.state.messages] == [
                ("MESSAGE_TAG", "ACCOUNT_UPDATE")
            ]
            with pytest.raises(PermanentDeliveryError) as error:
                await untagged.adapter.send(message_for(MessengerAdapter))
            assert error.value.reason == "outside-24h-window" and untagged.received() == 0
        finally:
            for harness in (tagged, untagged):
                await harness.adapter.close()

    async def test_the_webhook_links_the_psid_from_a_signed_reference_and_keeps_replies(
        self, harness: MessengerHarness
    ) -> None:
        recorded: dict[str, list[Any]] = {"linked": [], "messages": []}

        class Recorder:
            log = __import__("structlog").get_logger()

            async def linked(self, kind: str, address: str, pledge_id: str) -> None:
                recorded["linked"].append((kind, address, pledge_id))

            async def message(
                self, kind: str, sender: str, text: str, provider_id: Any = None, at: Any = None
            ) -> None:
                recorded["messages"].append((kind, sender, text))

        app = FastAPI()
        app.include_router(harness.adapter.inbound_router(Recorder()), prefix="/webhooks/messenger")
        good_ref = URLSafeTimedSerializer(REF_SECRET, salt="messenger-ref").dumps("pl_signed")
        forged_ref = URLSafeTimedSerializer("another-secret", salt="messenger-ref").dumps("pl_forged")

        def event(psid: str, **item: Any) -> dict[str, Any]:
            body = {"sender": {"id": psid}, "recipient": {"id": "1"}, "timestamp": 1700000000000, **item}
            return {"object": "page", "entry": [{"id": "1", "time": 1700000000000, "messaging": [body]}]}

        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://samleng"
        ) as client:
            for payload in (
                event("111", referral={"ref": good_ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}),
                event("222", referral={"ref": forged_ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}),
                event("111", message={"mid": "m_1", "text": "ឈប់"}),
            ):
                raw = json.dumps(payload).encode()
                signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
                response = await client.post(
                    "/webhooks/messenger", content=raw, headers={"X-Hub-Signature-256": signature}
                )
                assert response.status_code == 200
            unsigned = await client.post("/webhooks/messenger", content=b"{}")
        assert unsigned.status_code == 401
        assert recorded["linked"] == [("psid", "111", "pl_signed")]
        assert recorded["messages"] == [("psid", "111", "ឈប់")]


async def test_session_messages_outside_the_window_use_the_event_update_tag_but_a_plan_of_action_falls_back() -> (
    None
):
    harness = MessengerHarness(None)
    await harness.opt_in()
    await harness.adapter.start()
    try:
        await harness.adapter.send(reminder_for(MessengerAdapter, "reminder"))
        [stored] = harness.state.messages
        assert (stored["messaging_type"], stored["tag"]) == ("MESSAGE_TAG", "CONFIRMED_EVENT_UPDATE")
        assert "Commission of Inquiry hearing" in json.dumps(stored, ensure_ascii=False)
        with pytest.raises(PermanentDeliveryError) as error:
            await harness.adapter.send(reminder_for(MessengerAdapter, "plan-of-action"))
        assert error.value.reason == "outside-24h-window" and harness.received() == 1
    finally:
        await harness.adapter.close()


async def test_a_notice_outside_the_window_goes_with_the_account_update_tag() -> None:
    harness = MessengerHarness(None)
    await harness.opt_in()
    await harness.adapter.start()
    try:
        await harness.adapter.send(notice_for(MessengerAdapter))
        [stored] = harness.state.messages
        assert (stored["messaging_type"], stored["tag"]) == ("MESSAGE_TAG", "ACCOUNT_UPDATE")
        assert "/m/confirm/contract-token-0123456789" in json.dumps(stored, ensure_ascii=False)
    finally:
        await harness.adapter.close()


def test_a_pledge_pages_reference_expires() -> None:
    harness = MessengerHarness(None)
    signer = URLSafeTimedSerializer(REF_SECRET, salt="messenger-ref")
    fresh = signer.dumps("pl_fresh")
    assert harness.adapter.pledge_of(fresh) == "pl_fresh"
    signed_long_ago = time.time() - (harness.adapter.own.ref_max_age_days + 1) * 86_400
    with mock.patch("time.time", return_value=signed_long_ago):  # itsdangerous stamps time.time()
        old = signer.dumps("pl_old")
    assert harness.adapter.pledge_of(old) is None
    assert harness.adapter.pledge_of(fresh + "x") is None
