"""The Signal sandbox (signal-cli-rest-api shaped), in-process through the sandbox app."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from devstack.sandbox.app import create_app
from devstack.sandbox.providers import Provider
from services.channels.signal.sandbox import SignalState, create_router

ACCOUNT = "+15550001111"
DARA = "+15552223333"
VANNA = "+855121234567"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 24


def sandbox(state: SignalState | None = None) -> httpx.AsyncClient:
    provider = Provider(name="signal", router=create_router(state or SignalState()))
    app = create_app(providers=[provider])
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with sandbox() as client:
        yield client


async def send(client: httpx.AsyncClient, **changes: Any) -> httpx.Response:
    body: dict[str, Any] = {"message": "Thank you for your pledge", "number": ACCOUNT, "recipients": [DARA]}
    body.update(changes)
    return await client.post("/signal/v2/send", json=body)


async def messages(client: httpx.AsyncClient, **params: str) -> list[dict[str, Any]]:
    response = await client.get("/signal/_messages", params=params)
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()["messages"]
    assert response.json()["count"] == len(found)
    return found


async def test_send_stores_one_message_per_recipient_with_attachment_details(
    client: httpx.AsyncClient,
) -> None:
    data_uri = "data:image/png;filename=KCAP-2026-000001.png;base64," + base64.b64encode(PNG).decode()
    plain = base64.b64encode(b"%PDF-1.7 certificate").decode()

    response = await send(client, recipients=[DARA, VANNA], base64_attachments=[data_uri, plain])

    assert response.status_code == 201
    timestamp = response.json()["timestamp"]
    assert isinstance(timestamp, str)
    stored = await messages(client)
    assert [m["recipient"] for m in stored] == [DARA, VANNA]
    for message in stored:
        assert message["timestamp"] == int(timestamp)
        assert message["account"] == ACCOUNT
        assert message["message"] == "Thank you for your pledge"
        assert message["attachments"] == [
            {"filename": "KCAP-2026-000001.png", "content_type": "image/png", "size": len(PNG)},
            {"filename": None, "content_type": "application/pdf", "size": 20},
        ]
    only_vanna = await messages(client, recipient=VANNA)
    assert [m["recipient"] for m in only_vanna] == [VANNA]


@pytest.mark.parametrize(
    "changes",
    [
        {"number": "15550001111"},
        {"recipients": ["+1555"]},
        {"recipients": [DARA, "not a number"]},
        {"recipients": []},
        {"base64_attachments": ["not base64!"]},
        {"base64_attachments": ["data:image/png;filename=x.png,AAAA"]},
    ],
)
async def test_invalid_send_is_a_400_and_stores_nothing(
    client: httpx.AsyncClient, changes: dict[str, Any]
) -> None:
    response = await send(client, **changes)

    assert response.status_code == 400
    assert isinstance(response.json()["error"], str)
    assert await messages(client) == []
    assert (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json() == []


async def test_receive_returns_the_delivery_receipt_once(client: httpx.AsyncClient) -> None:
    sent = int((await send(client)).json()["timestamp"])

    first = await client.get(f"/signal/v1/receive/{ACCOUNT}")

    assert first.status_code == 200
    [item] = first.json()
    assert item["account"] == ACCOUNT
    envelope = item["envelope"]
    assert envelope["source"] == envelope["sourceNumber"] == DARA
    assert envelope["sourceDevice"] == 1
    assert envelope["receiptMessage"] == {
        "when": envelope["timestamp"],
        "isDelivery": True,
        "isRead": False,
        "isViewed": False,
        "timestamps": [sent],
    }
    assert (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json() == []
    assert (await client.get(f"/signal/v1/receive/{DARA}")).json() == []


async def test_injected_inbound_text_is_received(client: httpx.AsyncClient) -> None:
    injected = await client.post("/signal/_inbound", json={"from": DARA, "to": ACCOUNT, "text": "STOP"})

    assert injected.status_code == 201
    timestamp = int(injected.json()["timestamp"])
    received = (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json()
    assert received == [
        {
            "envelope": {
                "source": DARA,
                "sourceNumber": DARA,
                "sourceDevice": 1,
                "timestamp": timestamp,
                "dataMessage": {"timestamp": timestamp, "message": "STOP"},
            },
            "account": ACCOUNT,
        }
    ]
    bad = await client.post("/signal/_inbound", json={"from": "dara", "to": ACCOUNT, "text": "hi"})
    assert bad.status_code == 400


async def test_ambiguous_429_still_delivers_and_queues_the_receipt(client: httpx.AsyncClient) -> None:
    fault = {"provider": "signal", "path_prefix": "/v2/send", "mode": "ambiguous", "status": 429}
    assert (await client.post("/_sandbox/faults", json=fault)).status_code == 201

    response = await send(client)

    assert response.status_code == 429
    [stored] = await messages(client)
    assert stored["recipient"] == DARA
    [item] = (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json()
    assert item["envelope"]["receiptMessage"]["timestamps"] == [stored["timestamp"]]
    recorded = (await client.get("/_sandbox/requests", params={"provider": "signal"})).json()
    first = recorded["requests"][0]
    assert (first["path"], first["status"], first["fault"]) == ("/v2/send", 429, "ambiguous")


async def test_timestamps_strictly_increase_even_when_the_clock_stands_still() -> None:
    async with sandbox(SignalState(clock=lambda: 1_700_000_000_000)) as client:
        sends = [int((await send(client)).json()["timestamp"]) for _ in range(5)]
        inbound = await client.post("/signal/_inbound", json={"from": DARA, "to": ACCOUNT, "text": "hi"})
        envelopes = (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json()

    every = [*sends, int(inbound.json()["timestamp"])]
    assert every == sorted(set(every))
    assert sends[0] == 1_700_000_000_000
    envelope_times = [item["envelope"]["timestamp"] for item in envelopes]
    assert envelope_times == sorted(set(envelope_times))


async def test_clear_about_and_health(client: httpx.AsyncClient) -> None:
    await send(client)

    assert (await client.delete("/signal/_messages")).status_code == 200
    assert await messages(client) == []
    assert (await client.get(f"/signal/v1/receive/{ACCOUNT}")).json() == []
    about = (await client.get("/signal/v1/about")).json()
    assert about == {"versions": ["v1", "v2"], "mode": "normal", "version": "0.96-sandbox"}
    assert (await client.get("/signal/v1/health")).status_code == 204
