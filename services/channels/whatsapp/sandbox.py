"""A WhatsApp Business Cloud API (Meta Graph API) stand-in (the subset Samleng uses), under /whatsapp.

    POST /whatsapp/{version}/{phone_number_id}/media     upload media (multipart: messaging_product=
                                                         whatsapp, type=<mime>, file) -> {"id"}
    POST /whatsapp/{version}/{phone_number_id}/messages  send text, image, document or template
                                                         -> {"messaging_product", "contacts", "messages"}

`{version}` is any Graph version segment such as `v21.0`. Both need `Authorization: Bearer <token>`
(error 190 otherwise). Errors use the Graph shape `{"error": {"message", "type": "OAuthException",
"code", "error_data": {"messaging_product", "details"}, "fbtrace_id"}}`. Images over 5 MB or
documents over 100 MB fail with 131053, unknown media ids with 131009, unapproved templates
(name + language) with 132001; more than `messages_per_second` (default 80) accepted messages in
one second answer HTTP 429 with 130429.

After a message is accepted, status webhooks follow from background tasks, one POST per status:
`sent` then `delivered` (reversed when `out_of_order` is set; while `hold_receipts` is set only
`sent`, and `delivered` waits for `POST /whatsapp/_receipts`: a phone that is off). A non-template message to someone
who has not written to us in the last 24 hours is still accepted, like the real API, but its only
status is `failed` with error 131047 (re-engagement). Webhooks are POSTed to the configured URL as
compact JSON (non-ASCII escaped, as Meta does) signed with `X-Hub-Signature-256: sha256=<HMAC-SHA256
of the raw body with the app secret>` (no signature header if no secret is set); a non-2xx answer or
an unreachable receiver is retried with doubling backoff.

Configuration, read when the state is created: SANDBOX_WHATSAPP_WEBHOOK_URL (unset = no webhooks),
SANDBOX_WHATSAPP_APP_SECRET, SANDBOX_WHATSAPP_ACCESS_TOKEN (unset = any non-empty token).

Control endpoints (no auth):

    GET/POST /whatsapp/_config  read / change webhook_url, app_secret, access_token, out_of_order,
                                messages_per_second, hold_receipts
    POST   /whatsapp/_receipts   {"to"?}: send the held `delivered` statuses now (all, or to one
                                 number) -> {"released"}
    POST   /whatsapp/_inbound    {"from", "text", "phone_number_id"?}: a user writes to us; opens
                                 their 24 h window and POSTs a `messages` webhook -> 201 {"id"}
    GET    /whatsapp/_inbound    inbound messages received so far
    GET    /whatsapp/_messages   sent messages {"count", "messages"}, filter `?to=<digits>`
    DELETE /whatsapp/_messages   forget messages, media, windows, webhook log; cancel pending webhooks
    GET    /whatsapp/_webhooks   webhook delivery attempts {"count", "webhooks"}
    POST   /whatsapp/_subscribe  {"verify_token"}: Meta's GET handshake against the webhook URL
                                 -> {"verified", "status"}
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import itertools
import json
import os
import re
import secrets
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile

from devstack.sandbox.providers import Provider

DISPLAY_PHONE_NUMBER = "15550001111"


def our_number(env: Mapping[str, str]) -> str:
    """Our number at this sandbox, which people write to (`make run` shows it on the public site)."""
    return f"+{DISPLAY_PHONE_NUMBER}"


DEFAULT_PHONE_NUMBER_ID = "106540352242922"
WABA_ID = "102290129340398"
WINDOW_SECONDS = 24 * 3600
MB = 1024 * 1024
VERSION = re.compile(r"^v\d+(\.\d+)?$")
PHONE = re.compile(r"^\d{6,15}$")
TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
STATUS_RANK = {"accepted": 0, "sent": 1, "delivered": 2, "read": 3, "failed": 4}
RE_ENGAGEMENT_ERROR: dict[str, Any] = {
    "code": 131047,
    "title": "Re-engagement message",
    "message": "Re-engagement message",
    "error_data": {
        "details": "Message failed to send because more than 24 hours have passed since the "
        "customer last replied to this number."
    },
}


@dataclass(frozen=True)
class Template:
    name: str
    language: str
    header: str | None = None  # IMAGE, DOCUMENT, TEXT or None


DEFAULT_TEMPLATES = (
    Template("pledge_certificate", "en", "IMAGE"),
    Template("pledge_certificate", "km", "IMAGE"),
    Template("samleng_update", "en"),
    Template("samleng_update", "km"),
    Template("samleng_session", "en"),
    Template("samleng_session", "km"),
    Template("samleng_account_notice", "en"),
    Template("samleng_account_notice", "km"),
    Template("neutral_notice", "en"),
    Template("neutral_notice", "km"),
)


class WhatsAppState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.webhook_url: str | None = os.environ.get("SANDBOX_WHATSAPP_WEBHOOK_URL") or None
        self.app_secret: str | None = os.environ.get("SANDBOX_WHATSAPP_APP_SECRET") or None
        self.access_token: str | None = os.environ.get("SANDBOX_WHATSAPP_ACCESS_TOKEN") or None
        self.out_of_order = False
        self.hold_receipts = False
        self.messages_per_second = 80
        self.templates: dict[tuple[str, str], Template] = {(t.name, t.language): t for t in DEFAULT_TEMPLATES}
        # Timing, small in tests.
        self.webhook_delay = 0.05
        self.retry_base = 0.5
        self.webhook_attempts = 6
        self.webhook_timeout = 5.0
        self.clock: Callable[[], float] = time.time
        # Data.
        self.media: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []  # messages whose `delivered` waits (hold_receipts)
        self.last_inbound: dict[str, float] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.accepted_at: deque[float] = deque()
        self.tasks: set[asyncio.Task[None]] = set()
        self.media_ids = itertools.count(1)

    def clear(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        with self.lock:
            self.tasks.clear()
            self.media.clear()
            self.messages.clear()
            self.inbound.clear()
            self.held.clear()
            self.last_inbound.clear()
            self.webhooks.clear()
            self.accepted_at.clear()

    def window_open(self, wa_id: str) -> bool:
        last = self.last_inbound.get(wa_id)
        return last is not None and self.clock() - last < WINDOW_SECONDS

    def take_rate_slot(self) -> bool:
        """Count one accepted message against the per-second throughput; False if over it."""
        with self.lock:
            now = self.clock()
            while self.accepted_at and self.accepted_at[0] <= now - 1.0:
                self.accepted_at.popleft()
            if len(self.accepted_at) >= self.messages_per_second:
                return False
            self.accepted_at.append(now)
            return True

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def config(self) -> dict[str, Any]:
        return {
            "webhook_url": self.webhook_url,
            "app_secret_set": self.app_secret is not None,
            "access_token_set": self.access_token is not None,
            "out_of_order": self.out_of_order,
            "hold_receipts": self.hold_receipts,
            "messages_per_second": self.messages_per_second,
        }

    async def post_webhook(self, url: str, secret: str | None, payload: dict[str, Any], summary: str) -> None:
        """POST one webhook, retrying non-2xx answers and connection errors with doubling backoff."""
        body = json.dumps(payload, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "facebookexternalua"}
        if secret:
            digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Hub-Signature-256"] = f"sha256={digest}"
        async with httpx.AsyncClient(timeout=self.webhook_timeout) as client:
            for attempt in range(1, self.webhook_attempts + 1):
                status: int | None = None
                error: str | None = None
                try:
                    response = await client.post(url, content=body, headers=headers)
                    status = response.status_code
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                ok = status is not None and 200 <= status < 300
                with self.lock:
                    self.webhooks.append(
                        {
                            "url": url,
                            "attempt": attempt,
                            "status": status,
                            "error": error,
                            "ok": ok,
                            "summary": summary,
                            "signed": secret is not None,
                            "at": self.clock(),
                            "payload": payload,
                        }
                    )
                if ok:
                    return
                if attempt < self.webhook_attempts:
                    await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))

    async def status_flow(
        self,
        message: dict[str, Any],
        statuses: list[tuple[str, list[dict[str, Any]] | None]],
        url: str | None,
        secret: str | None,
    ) -> None:
        for status, errors in statuses:
            await asyncio.sleep(self.webhook_delay)
            timestamp = int(self.clock())
            with self.lock:
                message["statuses"].append({"status": status, "timestamp": timestamp})
                if STATUS_RANK[status] > STATUS_RANK[message["status"]]:
                    message["status"] = status
            if url is None:
                continue
            entry: dict[str, Any] = {
                "id": message["id"],
                "status": status,
                "timestamp": str(timestamp),
                "recipient_id": message["to"],
            }
            if errors:
                entry["errors"] = errors
            value = _value(message["phone_number_id"], statuses=[entry])
            await self.post_webhook(url, secret, _envelope(value), f"status {status} {message['id']}")

    async def inbound_flow(self, message: dict[str, Any], url: str, secret: str | None) -> None:
        await asyncio.sleep(self.webhook_delay)
        value = _value(
            message["phone_number_id"],
            contacts=[{"profile": {"name": "Sandbox User"}, "wa_id": message["from"]}],
            messages=[
                {
                    "from": message["from"],
                    "id": message["id"],
                    "timestamp": str(message["timestamp"]),
                    "type": "text",
                    "text": {"body": message["text"]},
                }
            ],
        )
        await self.post_webhook(
            url, secret, _envelope(value), f"message from {message['from']} {message['id']}"
        )


def _value(phone_number_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER, "phone_number_id": phone_number_id},
        **fields,
    }


def _envelope(value: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": WABA_ID, "changes": [{"field": "messages", "value": value}]}],
    }


def _wamid(wa_id: str) -> str:
    raw = f"{wa_id}:{uuid.uuid4().hex.upper()}".encode()
    return "wamid." + base64.b64encode(raw).decode()


def _digits(number: Any) -> str | None:
    if not isinstance(number, str):
        return None
    digits = number.strip().removeprefix("+")
    return digits if PHONE.match(digits) else None


class WhatsAppError(Exception):
    def __init__(self, status: int, code: int, message: str, details: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details

    def response(self) -> JSONResponse:
        return _error(self.status, self.code, self.message, self.details)


def _error(status: int, code: int, message: str, details: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": {
                "message": message,
                "type": "OAuthException",
                "code": code,
                "error_data": {"messaging_product": "whatsapp", "details": details},
                "fbtrace_id": "A" + secrets.token_urlsafe(16),
            }
        },
        status_code=status,
    )


def _invalid(details: str) -> WhatsAppError:
    return WhatsAppError(400, 100, "(#100) Invalid parameter", details)


def _missing(details: str) -> WhatsAppError:
    return WhatsAppError(400, 131008, "(#131008) Required parameter is missing", details)


def _bad_value(details: str) -> WhatsAppError:
    return WhatsAppError(400, 131009, "(#131009) Parameter value is not valid", details)


def _auth_problem(state: WhatsAppState, request: Request) -> JSONResponse | None:
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    if token and (state.access_token is None or hmac.compare_digest(token, state.access_token)):
        return None
    return _error(
        401,
        190,
        "Invalid OAuth access token - Cannot parse access token",
        "Authorization: Bearer <access token> is missing or not the configured token.",
    )


def _version_problem(version: str) -> JSONResponse | None:
    if VERSION.match(version):
        return None
    return _error(400, 100, "Unknown path components", f"{version!r} is not a Graph API version like v21.0")


def _media_limit(mime: str) -> tuple[int, str]:
    if mime.startswith("image/"):
        return 5 * MB, "5 MB"
    if mime.startswith(("audio/", "video/")):
        return 16 * MB, "16 MB"
    return 100 * MB, "100 MB"


def _media_object(state: WhatsAppState, kind: str, obj: Any) -> dict[str, Any]:
    """Validate an image/document object ({"id"} or {"link"}); return what to store about it."""
    if not isinstance(obj, dict):
        raise _missing(f"{kind} object is required for type {kind}")
    media_id, link = obj.get("id"), obj.get("link")
    if (media_id is None) == (link is None):
        raise _invalid(f"{kind} needs exactly one of id or link")
    stored: dict[str, Any] = {"media_id": None, "media_mime": None, "link": None}
    if media_id is not None:
        media = state.media.get(str(media_id))
        if media is None:
            raise _bad_value(f"Invalid media id {media_id!r}: no uploaded media with that id")
        stored.update(media_id=str(media_id), media_mime=media["mime"])
    else:
        if not isinstance(link, str) or not link.startswith(("http://", "https://")):
            raise _bad_value(f"{kind}.link must be an http(s) URL")
        stored["link"] = link
    return stored


def _parse_message(state: WhatsAppState, body: Any) -> dict[str, Any]:
    """Validate a /messages body; return the fields to store (raises WhatsAppError)."""
    if not isinstance(body, dict):
        raise _invalid("request body must be a JSON object")
    if body.get("messaging_product") != "whatsapp":
        raise _invalid("messaging_product must be 'whatsapp'")
    if body.get("recipient_type", "individual") != "individual":
        raise _invalid("recipient_type must be 'individual'")
    if "to" not in body:
        raise _missing("to is required")
    wa_id = _digits(body["to"])
    if wa_id is None:
        raise _invalid("to must be a phone number: digits with an optional leading +")
    kind = body.get("type", "text")
    fields: dict[str, Any] = {
        "to": wa_id,
        "input": body["to"],
        "type": kind,
        "text": None,
        "caption": None,
        "filename": None,
        "template": None,
        "media_id": None,
        "media_mime": None,
        "link": None,
    }
    if kind == "text":
        text = body.get("text")
        content = text.get("body") if isinstance(text, dict) else None
        if not isinstance(content, str) or not content:
            raise _missing("text.body is required for type text")
        if len(content) > TEXT_LIMIT:
            raise _invalid(f"text.body is longer than {TEXT_LIMIT} characters")
        fields["text"] = content
    elif kind in ("image", "document"):
        obj = body.get(kind)
        fields.update(_media_object(state, kind, obj))
        caption = obj.get("caption") if isinstance(obj, dict) else None
        if caption is not None and (not isinstance(caption, str) or len(caption) > CAPTION_LIMIT):
            raise _invalid(f"{kind}.caption must be text of at most {CAPTION_LIMIT} characters")
        fields["caption"] = fields["text"] = caption
        if kind == "document" and isinstance(obj, dict) and obj.get("filename") is not None:
            fields["filename"] = str(obj["filename"])
    elif kind == "template":
        fields.update(_parse_template(state, body.get("template")))
    else:
        raise _invalid(f"type {kind!r} is not supported by the sandbox (text, image, document, template)")
    return fields


def _parse_template(state: WhatsAppState, template: Any) -> dict[str, Any]:
    if not isinstance(template, dict):
        raise _missing("template object is required for type template")
    name = template.get("name")
    language = template.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(name, str) or not name or not isinstance(code, str) or not code:
        raise _missing("template.name and template.language.code are required")
    approved = state.templates.get((name, code))
    if approved is None:
        raise WhatsAppError(
            400,
            132001,
            "(#132001) Template name does not exist in the translation",
            f"template name ({name}) does not exist in {code}",
        )
    components = template.get("components") or []
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        raise _invalid("template.components must be a list of objects")
    headers = [c for c in components if str(c.get("type", "")).lower() == "header"]
    fields: dict[str, Any] = {"template": {"name": name, "language": code}}
    if approved.header is None:
        if headers:
            raise WhatsAppError(
                400,
                132000,
                "(#132000) Number of parameters does not match the expected number of params",
                f"template {name} ({code}) has no header, but a header component was given",
            )
        return fields
    mismatch = WhatsAppError(
        400,
        132012,
        "(#132012) Parameter format does not match format in the created template",
        f"header: Format mismatch, expected {approved.header}",
    )
    parameters = headers[0].get("parameters") if headers else None
    if not isinstance(parameters, list) or len(parameters) != 1 or not isinstance(parameters[0], dict):
        raise mismatch
    kind = approved.header.lower()
    if parameters[0].get("type") != kind or kind not in ("image", "document"):
        raise mismatch
    fields.update(_media_object(state, kind, parameters[0].get(kind)))
    return fields


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    webhook_url: str | None = Field(default=None, description="Where to POST webhooks; null = none.")
    app_secret: str | None = Field(default=None, description="HMAC key for X-Hub-Signature-256.")
    access_token: str | None = Field(default=None, description="Expected bearer token; null = any.")
    out_of_order: bool | None = Field(default=None, description="Send `delivered` before `sent`.")
    hold_receipts: bool | None = Field(
        default=None, description="Send only `sent`; `delivered` waits for POST /_receipts."
    )
    messages_per_second: int | None = Field(default=None, ge=1, description="Throughput limit.")


class Inbound(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="Sender phone number, digits or +digits.")
    text: str = Field(min_length=1)
    phone_number_id: str | None = None


class Subscribe(BaseModel):
    verify_token: str


class Release(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: str | None = Field(default=None, description="Only the receipts of messages to this number.")


def create_router(state: WhatsAppState | None = None) -> APIRouter:
    state = state or WhatsAppState()
    router = APIRouter(tags=["whatsapp"])

    @router.get("/_config")
    async def get_config() -> dict[str, Any]:
        return state.config()

    @router.post("/_config")
    async def set_config(update: ConfigUpdate) -> dict[str, Any]:
        with state.lock:
            for name in update.model_fields_set:
                value = getattr(update, name)
                if isinstance(value, str):
                    value = value or None  # "" unsets, like null
                elif value is None and name in ("out_of_order", "hold_receipts", "messages_per_second"):
                    continue
                setattr(state, name, value)
        return state.config()

    @router.post("/_inbound", status_code=201)
    async def inbound(message: Inbound) -> JSONResponse:
        wa_id = _digits(message.from_)
        if wa_id is None:
            return JSONResponse({"detail": "from must be a phone number"}, status_code=422)
        now = state.clock()
        record = {
            "id": _wamid(wa_id),
            "from": wa_id,
            "text": message.text,
            "phone_number_id": message.phone_number_id or DEFAULT_PHONE_NUMBER_ID,
            "timestamp": int(now),
        }
        with state.lock:
            state.inbound.append(record)
            state.last_inbound[wa_id] = now
            url, secret = state.webhook_url, state.app_secret
        if url:
            state.spawn(state.inbound_flow(record, url, secret))
        return JSONResponse({"id": record["id"], "from": wa_id, "webhook": url is not None}, status_code=201)

    @router.post("/_receipts")
    async def release_receipts(release: Release) -> dict[str, int]:
        wanted = _digits(release.to) if release.to else None
        with state.lock:
            due = [m for m in state.held if wanted in (None, m["to"])]
            state.held = [m for m in state.held if wanted not in (None, m["to"])]
            url, secret = state.webhook_url, state.app_secret
        for message in due:
            state.spawn(state.status_flow(message, [("delivered", None)], url, secret))
        return {"released": len(due)}

    @router.get("/_inbound")
    async def list_inbound() -> dict[str, Any]:
        return {"count": len(state.inbound), "messages": list(state.inbound)}

    @router.get("/_messages")
    async def list_messages(to: str | None = None) -> dict[str, Any]:
        wanted = to.strip().removeprefix("+") if to else None
        with state.lock:
            found = [dict(m) for m in state.messages if wanted is None or m["to"] == wanted]
        return {"count": len(found), "messages": found}

    @router.delete("/_messages")
    async def clear_messages() -> dict[str, str]:
        state.clear()
        return {"status": "cleared"}

    @router.get("/_webhooks")
    async def list_webhooks() -> dict[str, Any]:
        with state.lock:
            attempts = list(state.webhooks)
        return {"count": len(attempts), "webhooks": attempts}

    @router.post("/_subscribe")
    async def subscribe(request: Subscribe) -> JSONResponse:
        if not state.webhook_url:
            return JSONResponse({"detail": "no webhook_url configured"}, status_code=409)
        challenge = str(secrets.randbelow(10**9))
        url = httpx.URL(state.webhook_url).copy_merge_params(
            {"hub.mode": "subscribe", "hub.verify_token": request.verify_token, "hub.challenge": challenge}
        )
        try:
            async with httpx.AsyncClient(timeout=state.webhook_timeout) as client:
                response = await client.get(url, headers={"User-Agent": "facebookplatform/1.0"})
        except httpx.HTTPError as exc:
            return JSONResponse({"verified": False, "status": None, "error": f"{type(exc).__name__}: {exc}"})
        verified = response.status_code == 200 and response.text.strip() == challenge
        return JSONResponse({"verified": verified, "status": response.status_code})

    @router.post("/{version}/{phone_number_id}/media")
    async def upload_media(request: Request, version: str, phone_number_id: str) -> JSONResponse:
        problem = _version_problem(version) or _auth_problem(state, request)
        if problem:
            return problem
        form = await request.form()
        if form.get("messaging_product") != "whatsapp":
            return _invalid("messaging_product must be 'whatsapp'").response()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            return _missing("file is required (multipart upload)").response()
        declared = form.get("type")
        mime = (declared if isinstance(declared, str) and declared else upload.content_type) or ""
        if "/" not in mime:
            return _missing("type (the file's MIME type) is required").response()
        limit, limit_text = _media_limit(mime)
        size = 0
        digest = hashlib.sha256()
        while chunk := await upload.read(MB):
            size += len(chunk)
            digest.update(chunk)
        if size == 0:
            return _bad_value("file is empty").response()
        if size > limit:
            return _error(
                400,
                131053,
                "(#131053) Media upload error",
                f"File is {size} bytes; the maximum for {mime} is {limit_text}.",
            )
        media_id = str(1_000_000_000_000_000 + next(state.media_ids))
        with state.lock:
            state.media[media_id] = {
                "id": media_id,
                "phone_number_id": phone_number_id,
                "mime": mime,
                "size": size,
                "filename": upload.filename,
                "sha256": digest.hexdigest(),
                "uploaded_at": int(state.clock()),
            }
        return JSONResponse({"id": media_id})

    @router.post("/{version}/{phone_number_id}/messages")
    async def send_message(request: Request, version: str, phone_number_id: str) -> JSONResponse:
        problem = _version_problem(version) or _auth_problem(state, request)
        if problem:
            return problem
        try:
            body = await request.json()
        except ValueError:
            return _invalid("request body is not valid JSON").response()
        try:
            fields = _parse_message(state, body)
        except WhatsAppError as error:
            return error.response()
        if not state.take_rate_slot():
            return _error(
                429,
                130429,
                "(#130429) Rate limit hit",
                f"Cloud API message throughput ({state.messages_per_second}/s) has been reached.",
            )
        wa_id = fields["to"]
        window_open = state.window_open(wa_id)
        message = {
            "id": _wamid(wa_id),
            "phone_number_id": phone_number_id,
            **fields,
            "window_open": window_open,
            "timestamp": int(state.clock()),
            "status": "accepted",
            "statuses": [],
        }
        statuses: list[tuple[str, list[dict[str, Any]] | None]]
        hold = False
        if fields["type"] != "template" and not window_open:
            statuses = [("failed", [RE_ENGAGEMENT_ERROR])]
        elif hold := state.hold_receipts:
            statuses = [("sent", None)]
        elif state.out_of_order:
            statuses = [("delivered", None), ("sent", None)]
        else:
            statuses = [("sent", None), ("delivered", None)]
        with state.lock:
            state.messages.append(message)
            if hold:
                state.held.append(message)
            url, secret = state.webhook_url, state.app_secret
        state.spawn(state.status_flow(message, statuses, url, secret))
        return JSONResponse(
            {
                "messaging_product": "whatsapp",
                "contacts": [{"input": fields["input"], "wa_id": wa_id}],
                "messages": [{"id": message["id"]}],
            }
        )

    return router


provider = Provider(name="whatsapp", router=create_router(), description=__doc__ or "")
