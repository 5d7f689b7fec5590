"""A Signal messenger API shaped like signal-cli-rest-api (bbernhard), in "normal" mode, under /signal.

    POST   /signal/v2/send               send a text (+ base64 attachments) from `number` to
                                         `recipients`; 201 {"timestamp": "<ms>"} (a string, as
                                         the real API answers); queues a delivery receipt per
                                         recipient for the sending account
    GET    /signal/v1/receive/{number}   the envelopes queued for that account, and removes them
                                         (destructive, as signal-cli's receive is)
    GET    /signal/v1/about              versions and mode
    GET    /signal/v1/health             204

Control endpoints, for tests and people:

    POST   /signal/_inbound              {"from", "to", "text"}: queue an inbound text for `to`
    GET    /signal/_messages             {"count", "messages"}; `?recipient=+E164` filters
    DELETE /signal/_messages             forget all messages and queued envelopes

Numbers must be E.164 (`+` then 7 to 15 digits); errors are the real API's `{"error": "..."}`
with status 400. Attachments are plain base64 or data URIs such as
`data:image/png;filename=KCAP-2026-000001.png;base64,<data>`; what was sent is kept as
filename, content type and size, not the bytes. One send gets one timestamp, shared by its
recipients; timestamps are unique and strictly increasing across the sandbox.

The sandbox's fault middleware wraps these routes. An "ambiguous" fault on /v2/send (e.g.
status 429) lets the send go through — the message is stored and its delivery receipt queued —
while the client is answered with the fault status. That is the real service's "429 although
delivered" behaviour, which the Signal channel has to reconcile from the receipts it receives.
"""

from __future__ import annotations

import base64
import binascii
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from devstack.sandbox.providers import Provider


def our_number(env: Mapping[str, str]) -> str:
    """Our number at this sandbox, which people write to (`make run` shows it on the public
    site): the Signal channel's account (SIGNAL_NUMBER, else its default)."""
    from services.channels.signal.adapter import SignalSettings

    return env.get("SIGNAL_NUMBER") or str(SignalSettings.model_fields["number"].default)


E164 = re.compile(r"^\+[1-9]\d{6,14}$")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF8", "image/gif"),
    (b"%PDF-", "application/pdf"),
)


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class SignalState:
    """Sent messages and, per account, the envelopes waiting to be received."""

    def __init__(self, clock: Callable[[], int] = _now_ms) -> None:
        self.lock = threading.Lock()
        self.clock = clock
        self.messages: list[dict[str, Any]] = []
        self.queues: dict[str, list[dict[str, Any]]] = {}
        self.last_timestamp = 0

    def next_timestamp(self) -> int:
        """A millisecond timestamp later than every one handed out before. Hold `lock`."""
        self.last_timestamp = max(self.clock(), self.last_timestamp + 1)
        return self.last_timestamp

    def enqueue(self, account: str, envelope: dict[str, Any]) -> None:
        """Queue an envelope for an account. Hold `lock`."""
        self.queues.setdefault(account, []).append({"envelope": envelope, "account": account})


class BadRequest(Exception):
    pass


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _sniff(data: bytes) -> str:
    for magic, content_type in _MAGIC:
        if data.startswith(magic):
            return content_type
    return "application/octet-stream"


def _decode_attachment(index: int, value: object) -> dict[str, Any]:
    """A base64 or data-URI attachment -> {"filename", "content_type", "size"}."""
    if not isinstance(value, str):
        raise BadRequest(f"base64_attachments[{index}] must be a string")
    filename: str | None = None
    content_type: str | None = None
    payload = value
    if value.startswith("data:"):
        header, comma, payload = value[len("data:") :].partition(",")
        params = header.split(";")
        if not comma or "base64" not in params[1:]:
            raise BadRequest(f"base64_attachments[{index}] is a data URI without ';base64,'")
        content_type = params[0] or None
        for param in params[1:]:
            key, _, param_value = param.partition("=")
            if key == "filename" and param_value:
                filename = param_value
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError) as error:
        raise BadRequest(f"base64_attachments[{index}] is not valid base64: {error}") from error
    return {"filename": filename, "content_type": content_type or _sniff(data), "size": len(data)}


def _number(value: object, field: str) -> str:
    if not isinstance(value, str) or not E164.match(value):
        raise BadRequest(f"{field} must be an E.164 phone number like +15551234567, got {value!r}")
    return value


async def _json_object(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as error:
        raise BadRequest("Couldn't process request - invalid request") from error
    if not isinstance(body, dict):
        raise BadRequest("Couldn't process request - invalid request")
    return body


def create_router(state: SignalState | None = None) -> APIRouter:
    state = state or SignalState()
    router = APIRouter(tags=["signal"])

    @router.get("/v1/about")
    async def about() -> dict[str, Any]:
        return {"versions": ["v1", "v2"], "mode": "normal", "version": "0.96-sandbox"}

    @router.get("/v1/health", status_code=204)
    async def health() -> Response:
        return Response(status_code=204)

    @router.post("/v2/send")
    async def send(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            account = _number(body.get("number"), "number")
            recipients = body.get("recipients")
            if not isinstance(recipients, list) or not recipients:
                raise BadRequest("recipients must be a non-empty list of phone numbers")
            recipients = [_number(r, f"recipients[{i}]") for i, r in enumerate(recipients)]
            text = body.get("message", "")
            if not isinstance(text, str):
                raise BadRequest("message must be a string")
            raw_attachments = body.get("base64_attachments") or []
            if not isinstance(raw_attachments, list):
                raise BadRequest("base64_attachments must be a list of strings")
            attachments = [_decode_attachment(i, a) for i, a in enumerate(raw_attachments)]
        except BadRequest as error:
            return _error(str(error))
        if not text and not attachments:
            return _error("message or base64_attachments is required")
        with state.lock:
            sent = state.next_timestamp()
            for recipient in recipients:
                state.messages.append(
                    {
                        "timestamp": sent,
                        "account": account,
                        "recipient": recipient,
                        "message": text,
                        "attachments": [dict(a) for a in attachments],
                    }
                )
                when = state.next_timestamp()
                state.enqueue(
                    account,
                    {
                        "source": recipient,
                        "sourceNumber": recipient,
                        "sourceDevice": 1,
                        "timestamp": when,
                        "receiptMessage": {
                            "when": when,
                            "isDelivery": True,
                            "isRead": False,
                            "isViewed": False,
                            "timestamps": [sent],
                        },
                    },
                )
        return JSONResponse({"timestamp": str(sent)}, status_code=201)

    @router.get("/v1/receive/{number}")
    async def receive(number: str) -> JSONResponse:
        try:
            account = _number(number, "number")
        except BadRequest as error:
            return _error(str(error))
        with state.lock:
            envelopes = state.queues.pop(account, [])
        return JSONResponse(envelopes)

    @router.post("/_inbound", status_code=201)
    async def inbound(request: Request) -> JSONResponse:
        try:
            body = await _json_object(request)
            sender = _number(body.get("from"), "from")
            account = _number(body.get("to"), "to")
            text = body.get("text")
            if not isinstance(text, str):
                raise BadRequest("text must be a string")
        except BadRequest as error:
            return _error(str(error))
        with state.lock:
            timestamp = state.next_timestamp()
            state.enqueue(
                account,
                {
                    "source": sender,
                    "sourceNumber": sender,
                    "sourceDevice": 1,
                    "timestamp": timestamp,
                    "dataMessage": {"timestamp": timestamp, "message": text},
                },
            )
        return JSONResponse({"timestamp": str(timestamp)}, status_code=201)

    @router.get("/_messages")
    async def list_messages(recipient: str | None = None) -> dict[str, Any]:
        if recipient is not None:  # an unencoded `?recipient=+1555...` arrives as " 1555..."
            recipient = recipient.strip().lstrip("+")
            recipient = f"+{recipient}"
        with state.lock:
            messages = [m for m in state.messages if recipient is None or m["recipient"] == recipient]
        return {"count": len(messages), "messages": messages}

    @router.delete("/_messages")
    async def clear_messages() -> dict[str, str]:
        with state.lock:
            state.messages.clear()
            state.queues.clear()
        return {"status": "cleared"}

    return router


provider = Provider(name="signal", router=create_router(), description=__doc__ or "")
