"""A Messenger Platform shaped like Meta's Graph API (Send API + page webhooks), under /messenger.

Graph endpoints ({version} is any Graph version such as v21.0; {node} is `me` or the page id):

    POST /messenger/{version}/{node}/message_attachments   upload a reusable attachment
        multipart: message='{"attachment": {"type": "image"|"file", "payload": {"is_reusable": true}}}'
        and filedata=<file> -> {"attachment_id"}. Images over 8 MB, files over 25 MB -> 400.
    POST /messenger/{version}/{node}/messages              Send API
        {"recipient": {"id": PSID}, "messaging_type": "RESPONSE"|"UPDATE"|"MESSAGE_TAG", "tag"?,
         "message": {"text"} | {"attachment": {"type", "payload": {"attachment_id"} | {"url"}}}}
        -> {"recipient_id", "message_id": "m_..."}

The page access token comes from `?access_token=` or `Authorization: Bearer`. Errors use Graph's
shape `{"error": {"message", "type": "OAuthException", "code", "error_subcode"?, "fbtrace_id"}}`:
bad token 190; unknown PSID 100/2018001; RESPONSE or UPDATE more than 24 h after the person's
last message 10/2018278; MESSAGE_TAG needs CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE,
ACCOUNT_UPDATE or HUMAN_AGENT (100 "Invalid tag") and may be sent outside the window (HUMAN_AGENT
only within 7 days); unknown attachment_id 100.

Page webhooks (`{"object": "page", "entry": [{"id", "time", "messaging": [...]}]}`) are POSTed to
the configured webhook URL shortly after the control call that causes them, signed with
`X-Hub-Signature-256: sha256=<HMAC-SHA256(app_secret, raw body)>` (and `X-Hub-Signature: sha1=...`),
and retried with doubling back-off while the receiver answers non-2xx or is unreachable.

Control API (what a person does in Messenger, and inspection):

    POST   /messenger/_optin      {"ref", "psid"?, "text"?} a person opens m.me/<page>?ref=REF and
                                  presses Send -> 201 {"psid"}; webhook with a referral (+ message)
    POST   /messenger/_inbound    {"psid", "text"} the person writes -> webhook with the message
    POST   /messenger/_age        {"psid", "hours"} move their last message back in time
    POST   /messenger/_subscribe  {"verify_token"} run the webhook verification handshake
    GET    /messenger/_config     current settings; POST /messenger/_config {"webhook_url"?,
                                  "app_secret"?, "page_id"?, "access_token"?} changes them
    GET    /messenger/_messages   what was sent (?psid=); DELETE clears messages, people,
                                  attachments and the webhook log
    GET    /messenger/_people     people with their last-message time and the ref they came with
    GET    /messenger/_webhooks   webhook deliveries with every attempt

Settings are read from the environment when the state is created: SANDBOX_MESSENGER_WEBHOOK_URL
(unset = no webhooks), SANDBOX_MESSENGER_APP_SECRET (default "sandbox-app-secret"),
SANDBOX_MESSENGER_PAGE_ID (default "1000000000001"), SANDBOX_MESSENGER_ACCESS_TOKEN (unset = any
non-empty token is accepted).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import mimetypes
import os
import re
import secrets
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.datastructures import UploadFile

from devstack.sandbox.providers import Provider

DEFAULT_PAGE_ID = "1000000000001"
DEFAULT_APP_SECRET = "sandbox-app-secret"  # noqa: S105 - a sandbox default, not a real secret
MESSAGING_TYPES = ("RESPONSE", "UPDATE", "MESSAGE_TAG")
TAGS = ("CONFIRMED_EVENT_UPDATE", "POST_PURCHASE_UPDATE", "ACCOUNT_UPDATE", "HUMAN_AGENT")
SENDER_ACTIONS = ("typing_on", "typing_off", "mark_seen")
ATTACHMENT_TYPES = ("image", "file")
SIZE_LIMITS = {"image": 8 * 1024 * 1024, "file": 25 * 1024 * 1024}
TEXT_LIMIT = 2000
HOUR_MS = 3_600_000
WINDOW_MS = 24 * HOUR_MS
HUMAN_AGENT_WINDOW_MS = 7 * 24 * HOUR_MS
VERSION = re.compile(r"^v\d+\.\d+$")


def _now_ms() -> int:
    return int(time.time() * 1000)


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _numeric_id() -> str:
    """Sixteen digits, like real PSIDs and attachment ids."""
    return str(10**15 + secrets.randbelow(9 * 10**15))


def _mid() -> str:
    return "m_" + secrets.token_urlsafe(32)


class MessengerState:
    """Everything the sandbox page knows; settings come from `environ` (default: os.environ)."""

    def __init__(
        self,
        environ: Mapping[str, str] | None = None,
        *,
        webhook_delay: float = 0.05,
        retry_base: float = 0.5,
        webhook_attempts: int = 6,
        webhook_timeout: float = 5.0,
    ) -> None:
        env = os.environ if environ is None else environ
        self.webhook_url: str | None = env.get("SANDBOX_MESSENGER_WEBHOOK_URL") or None
        self.app_secret: str = env.get("SANDBOX_MESSENGER_APP_SECRET") or DEFAULT_APP_SECRET
        self.page_id: str = env.get("SANDBOX_MESSENGER_PAGE_ID") or DEFAULT_PAGE_ID
        self.access_token: str | None = env.get("SANDBOX_MESSENGER_ACCESS_TOKEN") or None
        self.webhook_delay = webhook_delay
        self.retry_base = retry_base
        self.webhook_attempts = webhook_attempts
        self.webhook_timeout = webhook_timeout
        self.people: dict[str, dict[str, Any]] = {}
        self.attachments: dict[str, dict[str, Any]] = {}
        self.messages: list[dict[str, Any]] = []
        self.webhooks: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self._webhook_ids = 0

    def config(self) -> dict[str, Any]:
        return {
            "webhook_url": self.webhook_url,
            "app_secret": self.app_secret,
            "page_id": self.page_id,
            "access_token": self.access_token,
            "webhook_delay": self.webhook_delay,
            "retry_base": self.retry_base,
            "webhook_attempts": self.webhook_attempts,
        }

    def sign(self, body: bytes, secret: str | None = None) -> str:
        key = (self.app_secret if secret is None else secret).encode()
        return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()

    def token_ok(self, token: str) -> bool:
        if not token:
            return False
        return self.access_token is None or hmac.compare_digest(token, self.access_token)

    def clear(self) -> None:
        for task in self.tasks:
            task.cancel()
        self.tasks.clear()
        self.people.clear()
        self.attachments.clear()
        self.messages.clear()
        self.webhooks.clear()

    async def drain(self, timeout: float = 30.0) -> None:
        """Wait until every pending webhook delivery has finished (delivered or given up)."""
        async with asyncio.timeout(timeout):
            while self.tasks:
                await asyncio.gather(*list(self.tasks), return_exceptions=True)

    def emit(self, messaging: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Queue a page event for the webhook; None when no webhook is configured."""
        if not self.webhook_url:
            return None
        event = {
            "object": "page",
            "entry": [{"id": self.page_id, "time": _now_ms(), "messaging": messaging}],
        }
        body = json.dumps(event, separators=(",", ":")).encode()  # ASCII-escaped, as Meta sends it
        self._webhook_ids += 1
        record: dict[str, Any] = {
            "id": self._webhook_ids,
            "url": self.webhook_url,
            "event": event,
            "body": body.decode(),
            "signature": self.sign(body),
            "status": "pending",
            "attempts": [],
        }
        self.webhooks.append(record)
        headers = {
            "content-type": "application/json",
            "x-hub-signature-256": record["signature"],
            "x-hub-signature": "sha1=" + hmac.new(self.app_secret.encode(), body, hashlib.sha1).hexdigest(),
            "user-agent": "facebookexternalua",
        }
        task = asyncio.create_task(self._deliver(record, body, headers))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return record

    async def _deliver(self, record: dict[str, Any], body: bytes, headers: dict[str, str]) -> None:
        await asyncio.sleep(self.webhook_delay)
        async with httpx.AsyncClient(timeout=self.webhook_timeout, trust_env=False) as client:
            for attempt in range(self.webhook_attempts):
                if attempt:
                    await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))
                entry: dict[str, Any] = {"at": datetime.now(UTC).isoformat()}
                record["attempts"].append(entry)
                try:
                    response = await client.post(record["url"], content=body, headers=headers)
                except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
                    entry["error"] = f"{type(error).__name__}: {error}"
                    continue
                entry["status"] = response.status_code
                if response.is_success:
                    record["status"] = "delivered"
                    return
        record["status"] = "failed"


def _error(message: str, code: int, subcode: int | None = None, status: int = 400) -> JSONResponse:
    error: dict[str, Any] = {"message": message, "type": "OAuthException", "code": code}
    if subcode is not None:
        error["error_subcode"] = subcode
    error["fbtrace_id"] = "A" + secrets.token_urlsafe(16)
    return JSONResponse({"error": error}, status_code=status)


def _token(request: Request) -> str:
    token = request.query_params.get("access_token", "")
    if not token:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() in ("bearer", "oauth"):
            token = value.strip()
    return token


def _check_path(state: MessengerState, request: Request, version: str, node: str) -> JSONResponse | None:
    if not VERSION.match(version):
        return _error(f"Unknown path components: /{version}/{node}", 2500)
    if not state.token_ok(_token(request)):
        return _error("Invalid OAuth access token", 190)
    if node not in ("me", state.page_id):
        return _error(
            f"(#100) Unsupported post request. Object with ID '{node}' does not exist, cannot be "
            "loaded due to missing permissions, or does not support this operation",
            100,
            33,
        )
    return None


async def _send_body(request: Request) -> dict[str, Any] | None:
    """The Send API takes JSON, or form fields whose `recipient`/`message` values are JSON."""
    content_type = request.headers.get("content-type", "")
    try:
        if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
            form = await request.form()
            data: dict[str, Any] = {k: v for k, v in form.items() if isinstance(v, str)}
            for key in ("recipient", "message"):
                if key in data:
                    data[key] = json.loads(data[key])
        else:
            data = await request.json()
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _person_or_error(
    state: MessengerState, psid: str, messaging_type: str, tag: str | None
) -> JSONResponse | None:
    person = state.people.get(psid)
    if person is None:
        return _error("No matching user found", 100, 2018001)
    age = _now_ms() - int(person["last_message_ms"])
    if messaging_type == "MESSAGE_TAG":
        if tag == "HUMAN_AGENT" and age > HUMAN_AGENT_WINDOW_MS:
            return _error("This message is sent outside of allowed window.", 10, 2018278)
        return None
    if age > WINDOW_MS:
        return _error("This message is sent outside of allowed window.", 10, 2018278)
    return None


class OptIn(BaseModel):
    ref: str = Field(description="The ref of the m.me link the person opened.")
    psid: str | None = Field(default=None, description="PSID to use; a new random one if unset.")
    text: str | None = Field(default=None, description="Also send this text as their first message.")


class Inbound(BaseModel):
    psid: str
    text: str = Field(min_length=1)


class Age(BaseModel):
    psid: str
    hours: float


class Subscribe(BaseModel):
    verify_token: str


class ConfigUpdate(BaseModel):
    webhook_url: str | None = Field(default=None, description="null or empty = no webhooks.")
    app_secret: str | None = None
    page_id: str | None = None
    access_token: str | None = Field(default=None, description="null = accept any non-empty token.")


def create_router(state: MessengerState | None = None) -> APIRouter:
    state = state or MessengerState()
    router = APIRouter(tags=["messenger"])

    @router.post("/{version}/{node}/message_attachments")
    async def upload_attachment(request: Request, version: str, node: str) -> JSONResponse:
        problem = _check_path(state, request, version, node)
        if problem:
            return problem
        try:
            form = await request.form()
        except (ValueError, AssertionError):
            return _error("(#100) Upload attachment failure: expected multipart/form-data", 100)
        raw = form.get("message")
        try:
            spec = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            spec = None
        attachment = spec.get("attachment") if isinstance(spec, dict) else None
        if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
            return _error(
                '(#100) param message must be {"attachment": {"type": "image"|"file", "payload": {...}}}',
                100,
            )
        kind = str(attachment["type"])
        raw_payload = attachment.get("payload")
        payload: dict[str, Any] = raw_payload if isinstance(raw_payload, dict) else {}
        upload = form.get("filedata")
        if not isinstance(upload, UploadFile):
            return _error("(#100) Upload attachment failure: filedata is required", 100)
        data = await upload.read()
        mime = upload.content_type or mimetypes.guess_type(upload.filename or "")[0]
        if not mime or mime == "application/octet-stream":
            mime = mimetypes.guess_type(upload.filename or "")[0] or "application/octet-stream"
        if not data:
            return _error("(#100) Upload attachment failure: the file is empty", 100)
        if len(data) > SIZE_LIMITS[kind]:
            limit_mb = SIZE_LIMITS[kind] // (1024 * 1024)
            return _error(f"(#100) Attachment size exceeds allowable limit ({kind}: {limit_mb} MB)", 100)
        if kind == "image" and not mime.startswith("image/"):
            return _error(f"(#100) Upload attachment failure: {mime} is not an image", 100)
        attachment_id = _numeric_id()
        state.attachments[attachment_id] = {
            "attachment_id": attachment_id,
            "type": kind,
            "mime": mime,
            "size": len(data),
            "filename": upload.filename,
            "is_reusable": bool(payload.get("is_reusable", False)),
            "created_at": datetime.now(UTC).isoformat(),
        }
        return JSONResponse({"attachment_id": attachment_id})

    @router.post("/{version}/{node}/messages")
    async def send_message(request: Request, version: str, node: str) -> JSONResponse:
        problem = _check_path(state, request, version, node)
        if problem:
            return problem
        body = await _send_body(request)
        if body is None:
            return _error("(#100) The request body must be a JSON object", 100)
        recipient = body.get("recipient")
        psid = str(recipient.get("id") or "") if isinstance(recipient, dict) else ""
        if not psid:
            return _error("(#100) The parameter recipient is required", 100)
        sender_action = body.get("sender_action")
        message = body.get("message")
        if sender_action is not None and message is None:
            if sender_action not in SENDER_ACTIONS:
                return _error(f"(#100) param sender_action must be one of {list(SENDER_ACTIONS)}", 100)
            problem = _person_or_error(state, psid, "RESPONSE", None)
            return problem or JSONResponse({"recipient_id": psid})
        messaging_type = body.get("messaging_type")
        if messaging_type not in MESSAGING_TYPES:
            return _error(f"(#100) param messaging_type must be one of {list(MESSAGING_TYPES)}", 100)
        tag = body.get("tag")
        if messaging_type == "MESSAGE_TAG" and tag not in TAGS:
            return _error("Invalid tag", 100)
        if not isinstance(message, dict):
            return _error("(#100) The parameter message is required", 100)
        text = message.get("text")
        attachment = message.get("attachment")
        if (text is None) == (attachment is None):
            return _error("(#100) message must have exactly one of text or attachment", 100)
        stored: dict[str, Any] = {
            "psid": psid,
            "messaging_type": messaging_type,
            "tag": tag if messaging_type == "MESSAGE_TAG" else None,
            "text": None,
            "attachment_type": None,
            "attachment_id": None,
            "attachment_url": None,
            "mime": None,
            "size": None,
        }
        reusable_url: dict[str, Any] | None = None
        if text is not None:
            if not isinstance(text, str) or not text:
                return _error("(#100) param message[text] must be a non-empty string", 100)
            if len(text) > TEXT_LIMIT:
                return _error(
                    f"(#100) Length of param message[text] must be less than or equal to {TEXT_LIMIT}", 100
                )
            stored["text"] = text
        else:
            if not isinstance(attachment, dict) or attachment.get("type") not in ATTACHMENT_TYPES:
                return _error(
                    f"(#100) param message[attachment][type] must be one of {ATTACHMENT_TYPES}", 100
                )
            payload = attachment.get("payload")
            if not isinstance(payload, dict):
                return _error("(#100) param message[attachment][payload] is required", 100)
            stored["attachment_type"] = attachment["type"]
            if payload.get("attachment_id") is not None:
                known = state.attachments.get(str(payload["attachment_id"]))
                if known is None:
                    return _error(
                        f"(#100) Attachment with id {payload['attachment_id']} does not exist or is "
                        "not reusable",
                        100,
                    )
                stored.update(attachment_id=known["attachment_id"], mime=known["mime"], size=known["size"])
            elif isinstance(payload.get("url"), str) and payload["url"].startswith(("http://", "https://")):
                url = str(payload["url"])
                stored.update(attachment_url=url, mime=mimetypes.guess_type(url)[0])
                if payload.get("is_reusable"):
                    reusable_url = {
                        "attachment_id": _numeric_id(),
                        "type": attachment["type"],
                        "mime": stored["mime"],
                        "size": None,
                        "url": url,
                        "is_reusable": True,
                        "created_at": datetime.now(UTC).isoformat(),
                    }
                    stored["attachment_id"] = reusable_url["attachment_id"]
            else:
                return _error(
                    "(#100) message[attachment][payload] needs an attachment_id or an http(s) url", 100
                )
        problem = _person_or_error(state, psid, str(messaging_type), tag if isinstance(tag, str) else None)
        if problem:
            return problem
        now = _now_ms()
        stored.update(message_id=_mid(), timestamp=now, sent_at=_iso(now))
        state.messages.append(stored)
        result = {"recipient_id": psid, "message_id": stored["message_id"]}
        if reusable_url is not None:
            state.attachments[reusable_url["attachment_id"]] = reusable_url
            result["attachment_id"] = reusable_url["attachment_id"]
        return JSONResponse(result)

    def sender(psid: str, now: int) -> dict[str, Any]:
        return {"sender": {"id": psid}, "recipient": {"id": state.page_id}, "timestamp": now}

    @router.post("/_optin", status_code=201)
    async def opt_in(body: OptIn) -> JSONResponse:
        now = _now_ms()
        psid = body.psid or _numeric_id()
        while body.psid is None and psid in state.people:
            psid = _numeric_id()
        person = state.people.setdefault(psid, {"psid": psid, "first_seen_ms": now, "inbound": []})
        person.update(ref=body.ref, last_message_ms=now)
        items = [
            {**sender(psid, now), "referral": {"ref": body.ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}}
        ]
        if body.text:
            mid = _mid()
            person["inbound"].append({"mid": mid, "text": body.text, "timestamp": now})
            items.append({**sender(psid, now), "message": {"mid": mid, "text": body.text}})
        record = state.emit(items)
        return JSONResponse({"psid": psid, "webhook": record["id"] if record else None}, status_code=201)

    @router.post("/_inbound")
    async def inbound(body: Inbound) -> JSONResponse:
        person = state.people.get(body.psid)
        if person is None:
            return JSONResponse({"error": f"unknown psid {body.psid}"}, status_code=404)
        now = _now_ms()
        mid = _mid()
        person["last_message_ms"] = now
        person["inbound"].append({"mid": mid, "text": body.text, "timestamp": now})
        record = state.emit([{**sender(body.psid, now), "message": {"mid": mid, "text": body.text}}])
        return JSONResponse({"psid": body.psid, "mid": mid, "webhook": record["id"] if record else None})

    @router.post("/_age")
    async def age(body: Age) -> JSONResponse:
        person = state.people.get(body.psid)
        if person is None:
            return JSONResponse({"error": f"unknown psid {body.psid}"}, status_code=404)
        person["last_message_ms"] = int(person["last_message_ms"]) - round(body.hours * HOUR_MS)
        return JSONResponse({"psid": body.psid, "last_message_at": _iso(person["last_message_ms"])})

    @router.post("/_subscribe")
    async def subscribe(body: Subscribe) -> JSONResponse:
        if not state.webhook_url:
            return JSONResponse({"error": "no webhook_url configured"}, status_code=409)
        challenge = str(secrets.randbelow(10**10))
        params = {"hub.mode": "subscribe", "hub.verify_token": body.verify_token, "hub.challenge": challenge}
        try:
            async with httpx.AsyncClient(timeout=state.webhook_timeout, trust_env=False) as client:
                response = await client.get(state.webhook_url, params=params)
        except (httpx.HTTPError, httpx.InvalidURL, OSError) as error:
            return JSONResponse(
                {"verified": False, "status": None, "error": f"{type(error).__name__}: {error}"}
            )
        return JSONResponse({"verified": response.text == challenge, "status": response.status_code})

    @router.get("/_config")
    async def get_config() -> dict[str, Any]:
        return state.config()

    @router.post("/_config")
    async def set_config(body: ConfigUpdate) -> JSONResponse:
        given = body.model_fields_set
        if "webhook_url" in given:
            url = body.webhook_url or None
            if url is not None and not url.startswith(("http://", "https://")):
                return JSONResponse({"error": "webhook_url must be an http(s) URL"}, status_code=422)
            state.webhook_url = url
        if "app_secret" in given:
            state.app_secret = body.app_secret or DEFAULT_APP_SECRET
        if "page_id" in given:
            state.page_id = body.page_id or DEFAULT_PAGE_ID
        if "access_token" in given:
            state.access_token = body.access_token or None
        return JSONResponse(state.config())

    @router.get("/_messages")
    async def list_messages(psid: str | None = None) -> dict[str, Any]:
        messages = [m for m in state.messages if psid is None or m["psid"] == psid]
        return {"count": len(messages), "messages": messages}

    @router.delete("/_messages")
    async def clear_messages() -> dict[str, str]:
        state.clear()
        return {"status": "cleared"}

    @router.get("/_people")
    async def list_people() -> dict[str, Any]:
        now = _now_ms()
        people = [
            {
                "psid": p["psid"],
                "ref": p.get("ref"),
                "first_seen_at": _iso(p["first_seen_ms"]),
                "last_message_at": _iso(p["last_message_ms"]),
                "last_message_ms": p["last_message_ms"],
                "window_open": now - int(p["last_message_ms"]) <= WINDOW_MS,
                "inbound": p["inbound"],
            }
            for p in state.people.values()
        ]
        return {"count": len(people), "people": people}

    @router.get("/_webhooks")
    async def list_webhooks(
        status: Literal["pending", "delivered", "failed"] | None = None,
    ) -> dict[str, Any]:
        hooks = [w for w in state.webhooks if status is None or w["status"] == status]
        return {"count": len(hooks), "webhooks": hooks}

    return router


provider = Provider(name="messenger", router=create_router(), description=__doc__ or "")
