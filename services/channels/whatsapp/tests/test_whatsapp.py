"""The WhatsApp channel against the Cloud API sandbox (in-process), and its webhook."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.channels.whatsapp.adapter import WhatsAppAdapter, WhatsAppSettings
from services.channels.whatsapp.sandbox import WhatsAppState, create_router
from shared.channels import OutboundMessage, PermanentDeliveryError, RetryableDeliveryError
from shared.contracts import utcnow
from tests.support.channel_contract import ChannelContract, Failure, message_for, notice_for, reminder_for

SECRET = "whatsapp-app-secret-for-tests"


class WhatsAppHarness:
    def __init__(self) -> None:
        self.state = WhatsAppState()
        self.state.webhook_url = None
        app = FastAPI()
        app.include_router(create_router(self.state), prefix="/whatsapp")
        self.app = httpx.ASGITransport(app=app)
        self.next_failure: Failure | None = None
        settings = WhatsAppSettings(
            _env_file=None,
            api_url="http://sandbox/whatsapp",
            access_token="token-for-tests",
            app_secret=SECRET,
            verify_token="verify-me",
        )
        self.adapter = WhatsAppAdapter(settings, transport=httpx.MockTransport(self.handle))

    async def handle(self, request: httpx.Request) -> httpx.Response:
        failure = self.next_failure if request.url.path.endswith("/messages") else None
        self.next_failure = None if failure else self.next_failure
        if failure == "permanent":
            error = {"message": "(#131026) Message undeliverable", "type": "OAuthException", "code": 131026}
            return httpx.Response(400, json={"error": error})
        if failure == "retryable":
            return httpx.Response(
                429, json={"error": {"message": "(#130429) Rate limit hit", "code": 130429}}
            )
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
        update={"last_inbound_at": {"whatsapp": utcnow() - timedelta(hours=2)}}
    )
    return OutboundMessage(message.delivery.model_copy(update={"recipient": recipient}), message.attachments)


class Recorder:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str, str | None]] = []
        self.messages: list[tuple[str, str, str]] = []

    async def status(self, provider_id: str, state: str, reason: str | None = None, at: Any = None) -> bool:
        self.statuses.append((provider_id, state, reason))
        return True

    async def message(
        self, kind: str, sender: str, text: str, provider_id: str | None = None, at: Any = None
    ) -> None:
        self.messages.append((kind, sender, text))


class TestWhatsAppChannel(ChannelContract):
    adapter_cls = WhatsAppAdapter

    @pytest.fixture
    async def harness(self) -> AsyncIterator[WhatsAppHarness]:
        harness = WhatsAppHarness()
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()

    async def test_outside_the_24h_window_only_the_approved_template_is_sent(
        self, harness: WhatsAppHarness
    ) -> None:
        await harness.adapter.send(message_for(WhatsAppAdapter))
        [stored] = harness.state.messages
        assert stored["type"] == "template"
        assert stored["template"] == {"name": "pledge_certificate", "language": "km"}
        assert stored["media_mime"] == "image/png"

    async def test_session_messages_use_the_session_template_outside_the_window_and_text_inside(
        self, harness: WhatsAppHarness
    ) -> None:
        await harness.adapter.send(reminder_for(WhatsAppAdapter, "reminder", language="km"))
        await harness.adapter.send(inside_window(reminder_for(WhatsAppAdapter, "join-link")))
        outside, inside = harness.state.messages
        assert outside["type"] == "template"
        assert outside["template"] == {"name": "samleng_session", "language": "km"}
        assert inside["type"] == "text" and "https://zoom.example/j/123?pwd=abc" in inside["text"]

    async def test_notices_use_the_account_notice_template_outside_the_window_and_text_inside(
        self, harness: WhatsAppHarness
    ) -> None:
        await harness.adapter.send(notice_for(WhatsAppAdapter, language="km"))
        await harness.adapter.send(inside_window(notice_for(WhatsAppAdapter)))
        outside, inside = harness.state.messages
        assert outside["type"] == "template"
        assert outside["template"] == {"name": "samleng_account_notice", "language": "km"}
        assert inside["type"] == "text" and "/m/confirm/contract-token-0123456789" in inside["text"]

    async def test_inside_the_window_an_image_with_a_caption_in_the_members_language(
        self, harness: WhatsAppHarness
    ) -> None:
        await harness.adapter.send(inside_window(message_for(WhatsAppAdapter)))
        [stored] = harness.state.messages
        assert stored["type"] == "image" and "វិញ្ញាបនបត្រ" in stored["caption"]

    async def test_throughput_errors_retry_and_undeliverable_is_permanent(
        self, harness: WhatsAppHarness
    ) -> None:
        harness.fail_next("retryable")
        with pytest.raises(RetryableDeliveryError) as retry:
            await harness.adapter.send(message_for(WhatsAppAdapter))
        assert retry.value.reason == "whatsapp-130429"
        harness.fail_next("permanent")
        with pytest.raises(PermanentDeliveryError) as permanent:
            await harness.adapter.send(message_for(WhatsAppAdapter))
        assert permanent.value.reason == "whatsapp-131026"

    async def test_the_webhook_checks_signatures_and_reports_statuses_and_replies(
        self, harness: WhatsAppHarness
    ) -> None:
        recorder = Recorder()
        app = FastAPI()
        app.include_router(harness.adapter.inbound_router(recorder), prefix="/webhooks/whatsapp")
        payload = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "changes": [
                        {
                            "value": {
                                "statuses": [
                                    {"id": "wamid.A", "status": "delivered", "timestamp": "1700000000"},
                                    {"id": "wamid.A", "status": "sent", "timestamp": "1699999999"},
                                    {
                                        "id": "wamid.B",
                                        "status": "failed",
                                        "timestamp": "1700000001",
                                        "errors": [{"code": 131047}],
                                    },
                                ],
                                "messages": [
                                    {
                                        "from": "85512345678",
                                        "id": "wamid.C",
                                        "timestamp": "1700000002",
                                        "text": {"body": "STOP"},
                                    }
                                ],
                            }
                        }
                    ]
                }
            ],
        }
        raw = json.dumps(payload).encode()
        good = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://samleng"
        ) as client:
            forged = await client.post(
                "/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": "sha256=00"}
            )
            accepted = await client.post(
                "/webhooks/whatsapp", content=raw, headers={"X-Hub-Signature-256": good}
            )
            handshake = await client.get(
                "/webhooks/whatsapp",
                params={"hub.mode": "subscribe", "hub.verify_token": "verify-me", "hub.challenge": "42"},
            )
            refused = await client.get(
                "/webhooks/whatsapp",
                params={"hub.mode": "subscribe", "hub.verify_token": "guess", "hub.challenge": "42"},
            )
        assert forged.status_code == 401 and accepted.status_code == 200
        assert handshake.text == "42" and refused.status_code == 403
        assert recorder.statuses == [
            ("wamid.A", "delivered", None),
            ("wamid.A", "sent", None),
            ("wamid.B", "failed_permanent", "whatsapp-131047"),
        ]
        assert recorder.messages == [("phone", "+85512345678", "STOP")]
