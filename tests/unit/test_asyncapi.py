from __future__ import annotations

from typing import Literal

from ops.asyncapi import service_document
from shared.contracts import Event, Payload
from shared.service import Router


class Ping(Payload):
    note: str


class PingSent(Event[Ping]):
    """A ping was sent."""

    type: Literal["ping.sent.v1"] = "ping.sent.v1"


class PongSent(Event[Ping]):
    type: Literal["pong.sent.v1"] = "pong.sent.v1"


def test_document_lists_received_and_sent_messages_with_schemas() -> None:
    router = Router("pinger", description="answers pings")

    @router.handles(PingSent)
    async def on_ping(event: PingSent, ctx: object) -> None:
        return None

    router.publishing(PongSent)
    doc = service_document(router)
    assert doc["asyncapi"] == "3.0.0"
    assert set(doc["channels"]) == {"ping.sent.v1", "pong.sent.v1"}
    assert doc["operations"]["receive_ping.sent.v1"]["action"] == "receive"
    assert doc["operations"]["send_pong.sent.v1"]["action"] == "send"
    assert doc["channels"]["ping.sent.v1"]["bindings"]["amqp"]["exchange"]["type"] == "topic"
    schema = doc["components"]["schemas"]["PingSent"]
    assert {"event_id", "type", "occurred_at", "correlation_id", "data"} <= set(schema["properties"])
    assert doc["components"]["messages"]["PingSent"]["summary"] == "A ping was sent."
