"""The WhatsApp Cloud API sandbox: Graph endpoints in-process, webhooks to a real local receiver."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from devstack.sandbox.app import create_app
from devstack.sandbox.providers import Provider, discover
from services.channels.whatsapp.sandbox import WhatsAppState, create_router
from tests.support.http import serve
from tests.support.ports import free_port

SECRET = "test-app-secret"
TOKEN = "EAAG-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PHONE_ID = "109876543210"
BASE = f"/whatsapp/v21.0/{PHONE_ID}"
USER = "85512345678"
MB = 1024 * 1024


@dataclass
class Receiver:
    """A webhook endpoint that records every POST and can answer 500 to the first few."""

    url: str = ""
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    fail_next: int = 0
    verify_token: str = "let-me-in"

    def payloads(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.posts]

    def statuses(self, wamid: str | None = None) -> list[dict[str, Any]]:
        found = []
        for payload in self.payloads():
            for status in payload["entry"][0]["changes"][0]["value"].get("statuses", []):
                if wamid is None or status["id"] == wamid:
                    found.append(status)
        return found

    def app(self) -> Starlette:
        async def webhook(request: Request) -> Response:
            if request.method == "GET":
                params = request.query_params
                if (
                    params.get("hub.mode") == "subscribe"
                    and params.get("hub.verify_token") == self.verify_token
                ):
                    return PlainTextResponse(params.get("hub.challenge", ""))
                return PlainTextResponse("forbidden", status_code=403)
            body = await request.body()
            self.posts.append((dict(request.headers), body))
            if self.fail_next > 0:
                self.fail_next -= 1
                return PlainTextResponse("boom", status_code=500)
            return PlainTextResponse("EVENT_RECEIVED")

        return Starlette(routes=[Route("/webhook", webhook, methods=["GET", "POST"])])


@pytest.fixture(scope="module")
async def served_receiver() -> AsyncIterator[Receiver]:
    recv = Receiver()
    async with serve(recv.app()) as url:
        recv.url = f"{url}/webhook"
        yield recv


@pytest.fixture
def receiver(served_receiver: Receiver) -> Receiver:
    served_receiver.posts.clear()
    served_receiver.fail_next = 0
    return served_receiver


@pytest.fixture
def state(receiver: Receiver, monkeypatch: pytest.MonkeyPatch) -> WhatsAppState:
    monkeypatch.setenv("SANDBOX_WHATSAPP_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("SANDBOX_WHATSAPP_APP_SECRET", SECRET)
    monkeypatch.setenv("SANDBOX_WHATSAPP_ACCESS_TOKEN", TOKEN)
    created = WhatsAppState()
    created.webhook_delay = 0.005
    created.retry_base = 0.01
    return created


@pytest.fixture
async def client(state: WhatsAppState) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(providers=[Provider(name="whatsapp", router=create_router(state))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        yield c
    state.clear()


async def wait_until(check: Callable[[], bool], timeout: float = 3.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.005)


def assert_signed(headers: dict[str, str], body: bytes) -> None:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers["x-hub-signature-256"], expected)
    assert headers["content-type"] == "application/json"


def text_message(to: str = USER, body: str = "Thank you for your pledge") -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"body": body},
    }


def template_message(
    name: str = "samleng_update", code: str = "en", components: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": f"+{USER}",
        "type": "template",
        "template": {"name": name, "language": {"code": code}, "components": components or []},
    }


async def upload(
    client: httpx.AsyncClient, mime: str, size: int, filename: str = "cert.png"
) -> httpx.Response:
    return await client.post(
        f"{BASE}/media",
        headers=AUTH,
        data={"messaging_product": "whatsapp", "type": mime},
        files={"file": (filename, b"\x89PNG" + b"\0" * (size - 4), mime)},
    )


async def test_config_is_read_from_the_environment(state: WhatsAppState, receiver: Receiver) -> None:
    assert (state.webhook_url, state.app_secret, state.access_token) == (receiver.url, SECRET, TOKEN)
    assert state.messages_per_second == 80
    assert not state.out_of_order


def test_the_provider_is_discovered() -> None:
    assert "whatsapp" in [p.name for p in discover()]


async def test_media_upload_then_image_message_is_accepted_and_stored(client: httpx.AsyncClient) -> None:
    uploaded = await upload(client, "image/png", 2048)
    assert uploaded.status_code == 200
    media_id = uploaded.json()["id"]

    sent = await client.post(
        f"{BASE}/messages",
        headers=AUTH,
        json={
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": f"+{USER}",
            "type": "image",
            "image": {"id": media_id, "caption": "Your certificate"},
        },
    )
    assert sent.status_code == 200
    answer = sent.json()
    assert answer["messaging_product"] == "whatsapp"
    assert answer["contacts"] == [{"input": f"+{USER}", "wa_id": USER}]
    wamid = answer["messages"][0]["id"]
    assert wamid.startswith("wamid.")

    stored = (await client.get("/whatsapp/_messages", params={"to": USER})).json()
    assert stored["count"] == 1
    message = stored["messages"][0]
    assert message["id"] == wamid
    assert (message["to"], message["type"], message["caption"]) == (USER, "image", "Your certificate")
    assert (message["media_id"], message["media_mime"]) == (media_id, "image/png")
    assert isinstance(message["timestamp"], int)
    assert (await client.get("/whatsapp/_messages", params={"to": "1555"})).json()["count"] == 0


async def test_media_size_limits_depend_on_the_type(client: httpx.AsyncClient) -> None:
    too_big = await upload(client, "image/jpeg", 5 * MB + 1)
    assert too_big.status_code == 400
    error = too_big.json()["error"]
    assert error["code"] == 131053
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    document = await upload(client, "application/pdf", 6 * MB, "certificate.pdf")
    assert document.status_code == 200


async def test_unknown_media_id_is_rejected(client: httpx.AsyncClient) -> None:
    sent = await client.post(
        f"{BASE}/messages",
        headers=AUTH,
        json={"messaging_product": "whatsapp", "to": USER, "type": "document", "document": {"id": "42"}},
    )
    assert sent.status_code == 400
    assert sent.json()["error"]["code"] == 131009


async def test_template_outside_the_window_is_delivered_with_signed_webhooks(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    media_id = (await upload(client, "image/png", 1024)).json()["id"]
    header = {"type": "header", "parameters": [{"type": "image", "image": {"id": media_id}}]}
    sent = await client.post(
        f"{BASE}/messages", headers=AUTH, json=template_message("pledge_certificate", "km", [header])
    )
    assert sent.status_code == 200
    wamid = sent.json()["messages"][0]["id"]

    await wait_until(lambda: len(receiver.posts) >= 2)
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "delivered"]
    for headers, body in receiver.posts:
        assert_signed(headers, body)
    payload = receiver.payloads()[0]
    assert payload["object"] == "whatsapp_business_account"
    change = payload["entry"][0]["changes"][0]
    assert change["field"] == "messages"
    assert change["value"]["messaging_product"] == "whatsapp"
    assert change["value"]["metadata"] == {"display_phone_number": "15550001111", "phone_number_id": PHONE_ID}
    status = change["value"]["statuses"][0]
    assert status["recipient_id"] == USER
    assert status["timestamp"].isdigit()
    assert "errors" not in status

    stored = (await client.get("/whatsapp/_messages")).json()["messages"][0]
    assert stored["template"] == {"name": "pledge_certificate", "language": "km"}
    assert stored["status"] == "delivered"


async def test_free_form_text_needs_the_customer_service_window(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    outside = await client.post(f"{BASE}/messages", headers=AUTH, json=text_message())
    assert outside.status_code == 200
    failed_id = outside.json()["messages"][0]["id"]
    await wait_until(lambda: bool(receiver.statuses(failed_id)))
    await asyncio.sleep(0.05)
    [failed] = receiver.statuses(failed_id)
    assert failed["status"] == "failed"
    assert failed["errors"][0]["code"] == 131047
    assert failed["errors"][0]["title"] == "Re-engagement message"
    assert "24 hours" in failed["errors"][0]["error_data"]["details"]

    opened = await client.post("/whatsapp/_inbound", json={"from": f"+{USER}", "text": "hello"})
    assert opened.status_code == 201
    inside = await client.post(f"{BASE}/messages", headers=AUTH, json=text_message())
    delivered_id = inside.json()["messages"][0]["id"]
    await wait_until(lambda: len(receiver.statuses(delivered_id)) == 2)
    assert [s["status"] for s in receiver.statuses(delivered_id)] == ["sent", "delivered"]
    for headers, body in receiver.posts:
        assert_signed(headers, body)


async def test_the_window_closes_after_24_hours(client: httpx.AsyncClient, state: WhatsAppState) -> None:
    now = [1_800_000_000.0]
    state.clock = lambda: now[0]
    await client.post("/whatsapp/_inbound", json={"from": USER, "text": "hi"})
    now[0] += 24 * 3600 - 1
    assert state.window_open(USER)
    now[0] += 2
    assert not state.window_open(USER)
    sent = await client.post(f"{BASE}/messages", headers=AUTH, json=text_message())
    assert sent.status_code == 200
    await wait_until(lambda: state.messages[0]["status"] == "failed")


async def test_unapproved_templates_are_rejected(client: httpx.AsyncClient) -> None:
    for name, code in [("no_such_template", "en"), ("samleng_update", "fr")]:
        sent = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message(name, code))
        assert sent.status_code == 400
        error = sent.json()["error"]
        assert error["code"] == 132001
        assert "Template name does not exist in the translation" in error["message"]


async def test_an_image_header_template_needs_its_image(client: httpx.AsyncClient) -> None:
    sent = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message("pledge_certificate"))
    assert sent.status_code == 400
    assert sent.json()["error"]["code"] == 132012


async def test_a_bearer_token_is_required(client: httpx.AsyncClient, state: WhatsAppState) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic abc"}):
        sent = await client.post(f"{BASE}/messages", headers=headers, json=text_message())
        assert sent.status_code == 401
        assert sent.json()["error"]["code"] == 190
    state.access_token = None  # unset: any non-empty token
    anything = await client.post(
        f"{BASE}/messages", headers={"Authorization": "Bearer anything"}, json=text_message()
    )
    assert anything.status_code == 200
    assert len(state.messages) == 1


async def test_throughput_over_the_limit_answers_429(client: httpx.AsyncClient, state: WhatsAppState) -> None:
    now = [1_800_000_000.0]
    state.clock = lambda: now[0]
    configured = await client.post("/whatsapp/_config", json={"messages_per_second": 2})
    assert configured.json()["messages_per_second"] == 2
    codes = [
        (await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())).status_code
        for _ in range(3)
    ]
    assert codes == [200, 200, 429]
    limited = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())
    error = limited.json()["error"]
    assert (limited.status_code, error["code"]) == (429, 130429)
    assert "Rate limit hit" in error["message"]
    assert len(state.messages) == 2
    now[0] += 1.0
    again = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())
    assert again.status_code == 200


async def test_out_of_order_sends_delivered_before_sent(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    assert (await client.post("/whatsapp/_config", json={"out_of_order": True})).json()["out_of_order"]
    sent = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())
    wamid = sent.json()["messages"][0]["id"]
    await wait_until(lambda: len(receiver.statuses(wamid)) == 2)
    assert [s["status"] for s in receiver.statuses(wamid)] == ["delivered", "sent"]
    stored = (await client.get("/whatsapp/_messages")).json()["messages"][0]
    assert stored["status"] == "delivered"


async def test_held_receipts_send_only_sent_until_released(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    assert (await client.post("/whatsapp/_config", json={"hold_receipts": True})).json()["hold_receipts"]
    first = (await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())).json()
    other = {**template_message(), "to": "85599999999"}
    second = (await client.post(f"{BASE}/messages", headers=AUTH, json=other)).json()
    wamids = [first["messages"][0]["id"], second["messages"][0]["id"]]
    await wait_until(lambda: all(receiver.statuses(w) for w in wamids))
    await asyncio.sleep(0.05)
    assert [s["status"] for s in receiver.statuses()] == ["sent", "sent"]

    released = await client.post("/whatsapp/_receipts", json={"to": f"+{USER}"})
    assert released.json() == {"released": 1}
    await wait_until(lambda: len(receiver.statuses(wamids[0])) == 2)
    assert [s["status"] for s in receiver.statuses(wamids[0])] == ["sent", "delivered"]
    assert (await client.post("/whatsapp/_receipts", json={})).json() == {"released": 1}
    await wait_until(lambda: len(receiver.statuses(wamids[1])) == 2)
    assert (await client.post("/whatsapp/_receipts", json={})).json() == {"released": 0}


async def test_an_inbound_message_produces_a_messages_webhook(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    created = await client.post(
        "/whatsapp/_inbound", json={"from": f"+{USER}", "text": "សួស្តី", "phone_number_id": PHONE_ID}
    )
    assert created.status_code == 201
    wamid = created.json()["id"]
    await wait_until(lambda: len(receiver.posts) == 1)
    headers, body = receiver.posts[0]
    assert_signed(headers, body)
    assert body.isascii()  # Meta escapes non-ASCII: verify the raw bytes, never a re-serialisation
    value = json.loads(body)["entry"][0]["changes"][0]["value"]
    assert value["metadata"]["phone_number_id"] == PHONE_ID
    assert value["contacts"] == [{"profile": {"name": "Sandbox User"}, "wa_id": USER}]
    [message] = value["messages"]
    assert (message["from"], message["id"], message["type"]) == (USER, wamid, "text")
    assert message["text"] == {"body": "សួស្តី"}
    assert message["timestamp"].isdigit()


async def test_webhooks_are_retried_when_the_receiver_fails(
    client: httpx.AsyncClient, receiver: Receiver
) -> None:
    receiver.fail_next = 2
    sent = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())
    wamid = sent.json()["messages"][0]["id"]
    await wait_until(lambda: [s["status"] for s in receiver.statuses(wamid)][-2:] == ["sent", "delivered"])
    assert [s["status"] for s in receiver.statuses(wamid)] == ["sent", "sent", "sent", "delivered"]
    attempts = (await client.get("/whatsapp/_webhooks")).json()["webhooks"]
    assert [(a["status"], a["attempt"]) for a in attempts] == [(500, 1), (500, 2), (200, 3), (200, 1)]
    assert all(a["url"] == receiver.url for a in attempts)


async def test_an_unreachable_receiver_is_retried_then_given_up(
    client: httpx.AsyncClient, state: WhatsAppState
) -> None:
    state.webhook_attempts = 3
    await client.post("/whatsapp/_config", json={"webhook_url": f"http://127.0.0.1:{free_port()}/hook"})
    await client.post("/whatsapp/_inbound", json={"from": USER, "text": "hi"})
    await wait_until(lambda: len(state.webhooks) == 3)
    assert all(a["status"] is None and a["error"] and not a["ok"] for a in state.webhooks)


async def test_no_webhook_url_means_no_webhooks(client: httpx.AsyncClient, state: WhatsAppState) -> None:
    await client.post("/whatsapp/_config", json={"webhook_url": None})
    sent = await client.post(f"{BASE}/messages", headers=AUTH, json=template_message())
    assert sent.status_code == 200
    await wait_until(lambda: state.messages[0]["status"] == "delivered")
    assert state.webhooks == []


async def test_the_subscription_handshake(client: httpx.AsyncClient, receiver: Receiver) -> None:
    assert (await client.post("/whatsapp/_subscribe", json={"verify_token": "let-me-in"})).json() == {
        "verified": True,
        "status": 200,
    }
    refused = (await client.post("/whatsapp/_subscribe", json={"verify_token": "nope"})).json()
    assert refused == {"verified": False, "status": 403}


async def test_delete_clears_everything(client: httpx.AsyncClient, state: WhatsAppState) -> None:
    await upload(client, "image/png", 100)
    await client.post("/whatsapp/_inbound", json={"from": USER, "text": "hi"})
    await client.post(f"{BASE}/messages", headers=AUTH, json=text_message())
    assert (await client.delete("/whatsapp/_messages")).status_code == 200
    assert (await client.get("/whatsapp/_messages")).json() == {"count": 0, "messages": []}
    assert (await client.get("/whatsapp/_webhooks")).json()["count"] == 0
    assert not state.media
    assert not state.window_open(USER)
    await asyncio.sleep(0.05)
    assert state.webhooks == []  # pending webhooks were cancelled
