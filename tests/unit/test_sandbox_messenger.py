"""The Messenger sandbox: Send API rules (opt-in, 24 h window, tags, tokens) and signed page webhooks.

The app runs in-process over httpx's ASGI transport; webhooks go to a real HTTP receiver on
127.0.0.1 that records what it gets.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse

from devstack.sandbox.app import create_app
from devstack.sandbox.providers import Provider
from services.channels.messenger.sandbox import MessengerState, create_router
from tests.support.http import serve

SECRET = "test-app-secret"
TOKEN = "EAAG-test-page-token"
PAGE_ID = "4242424242"
VERIFY_TOKEN = "let-me-in"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Receiver:
    """Our webhook, as far as the sandbox can tell: records POSTs, answers the GET handshake."""

    fail_first: int = 0
    posts: list[tuple[bytes, dict[str, str]]] = field(default_factory=list)
    url: str = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/webhook")
        async def hook(request: Request) -> Response:
            self.posts.append((await request.body(), dict(request.headers)))
            if len(self.posts) <= self.fail_first:
                return Response("boom", status_code=500)
            return Response("EVENT_RECEIVED")

        @app.get("/webhook")
        async def verify(request: Request) -> Response:
            params = request.query_params
            if params.get("hub.mode") == "subscribe" and params.get("hub.verify_token") == VERIFY_TOKEN:
                return PlainTextResponse(params.get("hub.challenge", ""))
            return Response("forbidden", status_code=403)

        return app

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(body) for body, _ in self.posts]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    async with serve(found.app()) as base:
        found.url = f"{base}/webhook"
        yield found


@pytest.fixture
def state(receiver: Receiver) -> MessengerState:
    return MessengerState(
        {
            "SANDBOX_MESSENGER_WEBHOOK_URL": receiver.url,
            "SANDBOX_MESSENGER_APP_SECRET": SECRET,
            "SANDBOX_MESSENGER_PAGE_ID": PAGE_ID,
            "SANDBOX_MESSENGER_ACCESS_TOKEN": TOKEN,
        },
        webhook_delay=0.01,
        retry_base=0.05,
    )


@pytest.fixture
async def client(state: MessengerState) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(providers=[Provider(name="messenger", router=create_router(state))])
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox") as c:
        yield c
    state.clear()


async def opt_in(client: httpx.AsyncClient, ref: str = "pledge-ref", **extra: str) -> str:
    response = await client.post("/messenger/_optin", json={"ref": ref, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["psid"])


async def send(
    client: httpx.AsyncClient,
    psid: str,
    message: dict[str, Any],
    messaging_type: str = "RESPONSE",
    **extra: Any,
) -> httpx.Response:
    return await client.post(
        "/messenger/v21.0/me/messages",
        params={"access_token": TOKEN},
        json={"recipient": {"id": psid}, "messaging_type": messaging_type, "message": message, **extra},
    )


def graph_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["type"] == "OAuthException"
    assert error["fbtrace_id"]
    return error


def signed_correctly(body: bytes, headers: dict[str, str]) -> bool:
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(headers["x-hub-signature-256"], expected)


async def test_opt_in_sends_a_signed_referral_webhook_and_creates_a_psid(
    client: httpx.AsyncClient, state: MessengerState, receiver: Receiver
) -> None:
    psid = await opt_in(client, ref="signed.pledge.ref", text="សួស្តី")
    assert psid.isdigit()
    await state.drain(5)

    assert len(receiver.posts) == 1
    body, headers = receiver.posts[0]
    assert signed_correctly(body, headers)
    assert not signed_correctly(body + b" ", headers)
    event = json.loads(body)
    assert event["object"] == "page"
    [entry] = event["entry"]
    assert entry["id"] == PAGE_ID and isinstance(entry["time"], int)
    referral, message = entry["messaging"]
    assert referral["sender"] == {"id": psid} and referral["recipient"] == {"id": PAGE_ID}
    assert referral["referral"] == {"ref": "signed.pledge.ref", "source": "SHORTLINK", "type": "OPEN_THREAD"}
    assert message["message"]["text"] == "សួស្តី" and message["message"]["mid"].startswith("m_")

    people = (await client.get("/messenger/_people")).json()["people"]
    assert [(p["psid"], p["ref"], p["window_open"]) for p in people] == [(psid, "signed.pledge.ref", True)]
    hooks = (await client.get("/messenger/_webhooks")).json()
    assert hooks["count"] == 1 and hooks["webhooks"][0]["status"] == "delivered"


async def test_sending_to_someone_who_never_wrote_fails_with_no_matching_user(
    client: httpx.AsyncClient,
) -> None:
    error = graph_error(await send(client, "1234567890123456", {"text": "hello"}))
    assert (error["code"], error["error_subcode"], error["message"]) == (
        100,
        2018001,
        "No matching user found",
    )


async def test_response_inside_the_window_sends_text_and_an_uploaded_image(
    client: httpx.AsyncClient,
) -> None:
    psid = await opt_in(client)
    text = await send(client, psid, {"text": "Your certificate is ready"})
    assert text.status_code == 200, text.text
    assert text.json()["recipient_id"] == psid and text.json()["message_id"].startswith("m_")

    upload = await client.post(
        f"/messenger/v21.0/{PAGE_ID}/message_attachments",
        headers=AUTH,
        data={"message": json.dumps({"attachment": {"type": "image", "payload": {"is_reusable": True}}})},
        files={"filedata": ("certificate.png", b"\x89PNG\r\n\x1a\n" + b"0" * 1000, "image/png")},
    )
    assert upload.status_code == 200, upload.text
    attachment_id = upload.json()["attachment_id"]
    image = await send(
        client, psid, {"attachment": {"type": "image", "payload": {"attachment_id": attachment_id}}}
    )
    assert image.status_code == 200, image.text
    assert text.json()["message_id"] != image.json()["message_id"]

    sent = (await client.get("/messenger/_messages", params={"psid": psid})).json()
    assert sent["count"] == 2
    assert sent["messages"][0]["text"] == "Your certificate is ready"
    assert sent["messages"][1]["attachment_id"] == attachment_id
    assert (sent["messages"][1]["mime"], sent["messages"][1]["messaging_type"]) == ("image/png", "RESPONSE")

    unknown = graph_error(
        await send(client, psid, {"attachment": {"type": "image", "payload": {"attachment_id": "999"}}})
    )
    assert unknown["code"] == 100
    too_big = await client.post(
        "/messenger/v21.0/me/message_attachments",
        headers=AUTH,
        data={"message": json.dumps({"attachment": {"type": "image", "payload": {"is_reusable": True}}})},
        files={"filedata": ("big.png", b"0" * (8 * 1024 * 1024 + 1), "image/png")},
    )
    assert graph_error(too_big)["code"] == 100


async def test_outside_the_window_only_a_valid_message_tag_gets_through(
    client: httpx.AsyncClient, state: MessengerState, receiver: Receiver
) -> None:
    psid = await opt_in(client)
    aged = await client.post("/messenger/_age", json={"psid": psid, "hours": 25})
    assert aged.status_code == 200

    for messaging_type in ("RESPONSE", "UPDATE"):
        error = graph_error(await send(client, psid, {"text": "late"}, messaging_type))
        assert (error["code"], error["error_subcode"]) == (10, 2018278)
        assert error["message"] == "This message is sent outside of allowed window."

    tagged = await send(client, psid, {"text": "Event update"}, "MESSAGE_TAG", tag="CONFIRMED_EVENT_UPDATE")
    assert tagged.status_code == 200, tagged.text
    for bad_tag in ({"tag": "PROMOTION"}, {}):
        error = graph_error(await send(client, psid, {"text": "nope"}, "MESSAGE_TAG", **bad_tag))
        assert (error["code"], error["message"]) == (100, "Invalid tag")

    sent = (await client.get("/messenger/_messages")).json()["messages"]
    assert [(m["messaging_type"], m["tag"]) for m in sent] == [("MESSAGE_TAG", "CONFIRMED_EVENT_UPDATE")]

    # The person writes again: the window reopens and our webhook hears about it.
    assert (await client.post("/messenger/_inbound", json={"psid": psid, "text": "hi"})).status_code == 200
    assert (await send(client, psid, {"text": "thanks"})).status_code == 200
    await state.drain(5)
    assert receiver.events()[-1]["entry"][0]["messaging"][0]["message"]["text"] == "hi"


async def test_a_missing_or_wrong_token_is_rejected_with_code_190(client: httpx.AsyncClient) -> None:
    psid = await opt_in(client)
    body = {"recipient": {"id": psid}, "messaging_type": "RESPONSE", "message": {"text": "x"}}
    missing = graph_error(await client.post("/messenger/v21.0/me/messages", json=body))
    wrong = graph_error(
        await client.post("/messenger/v21.0/me/messages", params={"access_token": "nope"}, json=body)
    )
    for error in (missing, wrong):
        assert (error["code"], error["message"]) == (190, "Invalid OAuth access token")
    bearer = await client.post("/messenger/v21.0/me/messages", headers=AUTH, json=body)
    assert bearer.status_code == 200, bearer.text


async def test_a_webhook_answered_with_500_is_retried(
    client: httpx.AsyncClient, state: MessengerState, receiver: Receiver
) -> None:
    receiver.fail_first = 1
    await opt_in(client)
    await state.drain(5)

    assert len(receiver.posts) == 2
    (first, first_headers), (second, second_headers) = receiver.posts
    assert first == second and signed_correctly(second, second_headers)
    assert first_headers["x-hub-signature-256"] == second_headers["x-hub-signature-256"]
    [hook] = (await client.get("/messenger/_webhooks")).json()["webhooks"]
    assert [a.get("status") for a in hook["attempts"]] == [500, 200]
    assert hook["status"] == "delivered"


async def test_the_subscribe_handshake_echoes_the_challenge(client: httpx.AsyncClient) -> None:
    good = await client.post("/messenger/_subscribe", json={"verify_token": VERIFY_TOKEN})
    assert good.json() == {"verified": True, "status": 200}
    bad = await client.post("/messenger/_subscribe", json={"verify_token": "wrong"})
    assert bad.json() == {"verified": False, "status": 403}


def test_the_recorder_never_keeps_credentials_from_query_strings() -> None:
    from devstack.sandbox.recorder import redact_query

    assert redact_query("access_token=EAAB123&fields=id") == "access_token=[present]&fields=id"
    assert (
        redact_query("hub.mode=subscribe&hub.verify_token=s3cret")
        == "hub.mode=subscribe&hub.verify_token=[present]"
    )
    assert redact_query("") == ""
