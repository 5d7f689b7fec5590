"""The Messenger channel against the Send API sandbox (in-process), and its webhook."""

from __future__ import annotations

import contextlib
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
from prometheus_client import REGISTRY
from structlog.testing import capture_logs

from services.channels.messenger.adapter import MessengerAdapter, MessengerSettings
from services.channels.messenger.sandbox import MessengerState, create_router
from shared.channels import OutboundMessage, PermanentDeliveryError
from shared.channels.inbound import SPENT_REFERENCES, SPENT_RETENTION, Inbound
from shared.contracts import utcnow
from shared.contracts.envelope import Event
from shared.contracts.inbound import ContactLinked, InboundMessage
from shared.retention import Sweeper
from tests.support.channel_contract import ChannelContract, Failure, message_for, notice_for, reminder_for

PSID = "6543210987654321"
SECRET = "messenger-app-secret-for-tests"
REF_SECRET = "the-intake-secret-key-for-tests"
SIGNER = URLSafeTimedSerializer(REF_SECRET, salt="messenger-ref")  # as intake signs a pledge page's


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


class RecordingInbound(Inbound):
    """The real inbound helper (its spent references in the real Mongo-wire server), recording what
    it would publish and the reasons it refused links with."""

    def __init__(self, harness: MessengerHarness, db: Any) -> None:
        self.published: list[Event[Any]] = []
        self.refused: list[str] = []
        outer = self

        class Recorder:  # stands in for the broker's publisher
            async def publish(self, event: Event[Any]) -> None:
                outer.published.append(event)

        publisher: Any = Recorder()
        super().__init__(
            "messenger", publisher, db.sends_messenger, harness.adapter.own, db[SPENT_REFERENCES]
        )

    def refuse_link(self, reason: str) -> None:
        super().refuse_link(reason)
        self.refused.append(reason)

    def linked_to(self) -> list[tuple[str, str]]:
        return [(e.data.address, e.data.pledge_id) for e in self.published if isinstance(e, ContactLinked)]

    def messages(self) -> list[tuple[str, str, str]]:
        return [
            (e.data.sender_kind, e.data.sender, e.data.text)
            for e in self.published
            if isinstance(e, InboundMessage)
        ]


def event(psid: str, **item: Any) -> dict[str, Any]:
    body = {"sender": {"id": psid}, "recipient": {"id": "1"}, "timestamp": 1700000000000, **item}
    return {"object": "page", "entry": [{"id": "1", "time": 1700000000000, "messaging": [body]}]}


def referral(psid: str, ref: str) -> dict[str, Any]:
    return event(psid, referral={"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"})


class Webhook:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client

    async def __call__(self, payload: dict[str, Any]) -> None:
        raw = json.dumps(payload).encode()
        signature = "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        response = await self.client.post(
            "/webhooks/messenger", content=raw, headers={"X-Hub-Signature-256": signature}
        )
        assert response.status_code == 200, response.text


@contextlib.asynccontextmanager
async def webhook(harness: MessengerHarness, inbound: Inbound) -> AsyncIterator[Webhook]:
    app = FastAPI()
    app.include_router(harness.adapter.inbound_router(inbound), prefix="/webhooks/messenger")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://samleng") as client:
        yield Webhook(client)


def refused_count(reason: str) -> float:
    sample = REGISTRY.get_sample_value(
        "samleng_channel_links_refused_total", {"channel": "messenger", "reason": reason}
    )
    return sample or 0.0


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
        self, harness: MessengerHarness, db: Any
    ) -> None:
        good_ref = SIGNER.dumps("pl_signed")
        forged_ref = URLSafeTimedSerializer("another-secret", salt="messenger-ref").dumps("pl_forged")
        inbound = RecordingInbound(harness, db)
        async with webhook(harness, inbound) as post:
            await post(referral("111", good_ref))
            await post(referral("222", forged_ref))
            await post(event("111", message={"mid": "m_1", "text": "ឈប់"}))
            unsigned = await post.client.post("/webhooks/messenger", content=b"{}")
        assert unsigned.status_code == 401
        assert inbound.linked_to() == [("111", "pl_signed")]
        assert inbound.refused == ["reference-bad-signature"]
        assert inbound.messages() == [("psid", "111", "ឈប់")]


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


def signed_days_ago(pledge_id: str, days: float) -> str:
    with mock.patch("time.time", return_value=time.time() - days * 86_400):  # itsdangerous stamps time.time()
        return SIGNER.dumps(pledge_id)


# Long page-scoped ids: a short one like "111" turns up inside a hex digest by chance.
SIGNER_PSID = "7305918264417093"
OTHER_PSID = "5820337461905182"


async def test_a_reference_links_once_and_a_second_account_with_it_links_nothing(db: Any) -> None:
    harness = MessengerHarness(None)
    inbound = RecordingInbound(harness, db)
    ref = SIGNER.dumps("pl_once")
    before = refused_count("reference-spent")
    with capture_logs() as logs:
        async with webhook(harness, inbound) as post:
            await post(referral(SIGNER_PSID, ref))  # the signer opens their m.me link: linked
            await post(referral(OTHER_PSID, ref))  # someone else with the same (leaked) link: nothing
    assert inbound.linked_to() == [(SIGNER_PSID, "pl_once")]
    assert inbound.refused == ["reference-spent"]
    assert refused_count("reference-spent") == before + 1
    [refusal] = [entry for entry in logs if entry["event"] == "contact link refused"]
    assert refusal["reason"] == "reference-spent" and OTHER_PSID not in json.dumps(refusal, default=str)
    stored = json.dumps(await db[SPENT_REFERENCES].find({}).to_list(None), default=str)
    assert ref not in stored and SIGNER_PSID not in stored and "pl_once" not in stored  # keyed hashes only


async def test_the_same_account_bringing_the_same_reference_again_is_a_no_op(db: Any) -> None:
    harness = MessengerHarness(None)
    inbound = RecordingInbound(harness, db)
    ref = SIGNER.dumps("pl_twice")
    async with webhook(harness, inbound) as post:
        await post(referral("111", ref))
        await post(referral("111", ref))  # Messenger resends the referral, or the thread is reopened
    first, again = (e for e in inbound.published if isinstance(e, ContactLinked))
    assert first.event_id == again.event_id, "the same event: consumers take it once"
    assert inbound.refused == []


async def test_an_expired_reference_links_nothing(db: Any) -> None:
    harness = MessengerHarness(None)
    inbound = RecordingInbound(harness, db)
    before = refused_count("reference-expired")
    old = signed_days_ago("pl_old", harness.adapter.own.ref_max_age_days + 0.01)
    async with webhook(harness, inbound) as post:
        await post(referral("111", old))
    assert inbound.published == [] and inbound.refused == ["reference-expired"]
    assert refused_count("reference-expired") == before + 1
    assert await db[SPENT_REFERENCES].count_documents({}) == 0


async def test_another_page_view_of_a_linked_pledge_links_no_other_account(db: Any) -> None:
    """The pledge page signs a fresh reference at each view: a leaked page URL gives new ones."""
    harness = MessengerHarness(None)
    inbound = RecordingInbound(harness, db)
    async with webhook(harness, inbound) as post:
        await post(referral("111", signed_days_ago("pl_viewed", 1)))
        await post(referral("999", SIGNER.dumps("pl_viewed")))  # a later view, another account
        await post(referral("111", SIGNER.dumps("pl_viewed")))  # a later view, the same account
    assert inbound.linked_to() == [("111", "pl_viewed"), ("111", "pl_viewed")]
    assert inbound.refused == ["pledge-linked-elsewhere"]


async def test_a_spent_reference_is_kept_until_it_expires(db: Any) -> None:
    harness = MessengerHarness(None)
    inbound = RecordingInbound(harness, db)
    async with webhook(harness, inbound) as post:
        await post(referral("111", signed_days_ago("pl_kept", 2)))
    kept = await db[SPENT_REFERENCES].find({}).to_list(None)
    expected = utcnow() + timedelta(days=harness.adapter.own.ref_max_age_days - 2)
    assert len(kept) == 2 and all(abs(d["expires_at"] - expected) < timedelta(minutes=1) for d in kept)


async def test_a_spent_reference_is_swept_once_it_has_expired(db: Any) -> None:
    inbound = RecordingInbound(MessengerHarness(None), db)
    assert await inbound.spend("expired", "someone", utcnow() - timedelta(seconds=1))
    assert await inbound.spend("current", "someone", utcnow() + timedelta(days=1))
    sweeper = Sweeper()
    sweeper.rules[("test", SPENT_REFERENCES, SPENT_RETENTION.index_name)] = (
        db[SPENT_REFERENCES],
        SPENT_RETENTION,
    )
    assert await sweeper.sweep() == 1
    assert not await inbound.spent("expired") and await inbound.spent("current")
