"""The Signal channel against the signal-cli-rest-api sandbox (in-process) and the real
Mongo-wire server (send windows and receipts)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.channels.signal.adapter import SignalAdapter, SignalSettings
from services.channels.signal.sandbox import SignalState, create_router
from tests.support.channel_contract import ChannelContract, Failure, message_for, notice_for

ACCOUNT = "+15550001234"


class RecordingInbound:
    def __init__(self) -> None:
        self.statuses: list[tuple[str, str]] = []
        self.messages: list[tuple[str, str, str]] = []

    async def status(self, provider_message_id: str, state: str, reason: str | None = None) -> bool:
        self.statuses.append((provider_message_id, state))
        return True

    async def message(
        self, kind: str, sender: str, text: str, provider_message_id: str | None = None
    ) -> None:
        self.messages.append((kind, sender, text))


class SignalHarness:
    def __init__(self, mongo_uri: str, db_name: str) -> None:
        self.state = SignalState()
        app = FastAPI()
        app.include_router(create_router(self.state), prefix="/signal")
        self.app = httpx.ASGITransport(app=app)
        self.next_failure: Failure | None = None
        settings = SignalSettings(
            _env_file=None,
            api_url="http://sandbox/signal",
            number=ACCOUNT,
            reconcile_wait_seconds=2,
            MONGODB_URI=mongo_uri,
            MONGODB_DATABASE=db_name,
        )
        self.adapter = SignalAdapter(settings, transport=httpx.MockTransport(self.handle))
        self.inbound = RecordingInbound()

    async def handle(self, request: httpx.Request) -> httpx.Response:
        failure = self.next_failure if request.url.path.endswith("/v2/send") else None
        self.next_failure = None if failure else self.next_failure
        if failure == "permanent":
            return httpx.Response(400, json={"error": "Failed to send message: Unregistered user"})
        if failure == "retryable":
            raise httpx.ConnectError("connection refused", request=request)
        response = await self.app.handle_async_request(request)
        await response.aread()
        if failure == "unknown":  # delivered, but the API says 429 (signal-cli-rest-api #881)
            await self.adapter.poll_inbound(self.inbound)  # the inbound process collects the receipt
            return httpx.Response(429, json={"error": "Rate limit exceeded"})
        return response

    def received(self) -> int:
        return len(self.state.messages)

    def fail_next(self, failure: Failure) -> None:
        self.next_failure = failure


class TestSignalChannel(ChannelContract):
    adapter_cls = SignalAdapter

    @pytest.fixture
    async def harness(self, mongo_uri: str, db_name: str) -> AsyncIterator[SignalHarness]:
        harness = SignalHarness(mongo_uri, db_name)
        await harness.adapter.start()
        yield harness
        await harness.adapter.close()

    async def test_a_notice_is_its_text_and_link(self, harness: SignalHarness) -> None:
        await harness.adapter.send(notice_for(SignalAdapter))
        [stored] = harness.state.messages
        assert stored["recipient"] == "+15625550123" and not stored.get("attachments")
        assert stored["message"].startswith("Was it you?")
        assert (
            "Yes, it was me: https://pledge.example.org/m/confirm/contract-token-0123456789"
            in stored["message"]
        )

    async def test_the_png_travels_as_a_data_uri_with_a_text_in_the_members_language(
        self, harness: SignalHarness
    ) -> None:
        result = await harness.adapter.send(message_for(SignalAdapter))
        [stored] = harness.state.messages
        assert stored["recipient"] == "+15625550123" and stored["account"] == ACCOUNT
        assert stored["attachments"] == [
            {
                "filename": "KCAP-2026-000042.png",
                "content_type": "image/png",
                "size": stored["attachments"][0]["size"],
            }
        ]
        assert "វិញ្ញាបនបត្រ" in stored["message"] and "KCAP-2026-000042" in stored["message"]
        assert result.provider_message_id == str(stored["timestamp"])

    async def test_an_ambiguous_429_is_reconciled_from_the_delivery_receipt_without_resending(
        self, harness: SignalHarness
    ) -> None:
        from shared.channels import OutcomeUnknown

        message = message_for(SignalAdapter, "dl_signal_ambiguous_00001")
        harness.fail_next("unknown")
        with pytest.raises(OutcomeUnknown):
            await harness.adapter.send(message)
        settled = await harness.adapter.reconcile(message.delivery)
        assert settled is not None and settled.state == "delivered"
        assert harness.received() == 1

    async def test_without_a_receipt_the_delivery_is_held_not_resent(self, harness: SignalHarness) -> None:
        from shared.channels import OutcomeUnknown

        async def lost(request: httpx.Request) -> httpx.Response:
            raise httpx.ReadTimeout("timed out", request=request)

        message = message_for(SignalAdapter, "dl_signal_timeout_000001")
        harness.adapter._http._transport = httpx.MockTransport(lost)  # type: ignore[union-attr]
        with pytest.raises(OutcomeUnknown):
            await harness.adapter.send(message)
        assert await harness.adapter.reconcile(message.delivery) is None

    async def test_the_inbound_poll_reports_receipts_and_replies(self, harness: SignalHarness) -> None:
        result = await harness.adapter.send(message_for(SignalAdapter))
        await _inbound(harness, "+85512345678", "STOP")
        await harness.adapter.poll_inbound(harness.inbound)
        assert (result.provider_message_id, "delivered") in harness.inbound.statuses
        assert ("phone", "+85512345678", "STOP") in harness.inbound.messages


async def _inbound(harness: SignalHarness, sender: str, text: str) -> Any:
    async with httpx.AsyncClient(transport=harness.app, base_url="http://sandbox") as client:
        response = await client.post("/signal/_inbound", json={"from": sender, "to": ACCOUNT, "text": text})
        await asyncio.sleep(0)
        return response.json()
