"""A Twilio-shaped Messages API (the subset Samleng uses), served by the local sandbox at /sms.

    POST /sms/2010-04-01/Accounts/{AccountSid}/Messages.json       create: form To, From or
         MessagingServiceSid, Body, StatusCallback -> 201 the message resource
         {"sid": "SM...", "status": "queued", "to", "from", "body", "num_segments", ...}
    GET  /sms/2010-04-01/Accounts/{AccountSid}/Messages.json       list, newest first: `To`,
         `From`, `DateSent`, `DateSent<`, `DateSent>` (YYYY-MM-DD), `PageSize`
    GET  /sms/2010-04-01/Accounts/{AccountSid}/Messages/{Sid}.json fetch one

Every call needs HTTP Basic auth `AccountSid:AuthToken` (the path's account; any token unless
SANDBOX_SMS_AUTH_TOKEN or `_config` sets one) or answers 401 `{"code": 20003}`. Errors have
Twilio's shape `{"code", "message", "more_info", "status"}`: an invalid `To` 21211, no `Body`
21602, no sender 21603, a body over 1600 characters 21617, a number that texted STOP 21610.

After a message is created, status callbacks follow (background tasks) to its `StatusCallback`:
`sent`, then `delivered`; with `hold_receipts` only `sent` (a phone that is off: `delivered` waits
for `POST /sms/_receipts`); with `fail_receipts` = "undelivered" or "failed", `sent` then that
status with ErrorCode 30003 (unreachable handset) or 30008. Callbacks are form posts
(MessageSid, MessageStatus, ErrorCode, To, From, AccountSid, SmsSid, SmsStatus, ApiVersion) signed
like Twilio's: `X-Twilio-Signature` (services/channels/sms/signature.py) with the token the
message was created with; a non-2xx answer or an unreachable receiver is retried a few times.

The sandbox's fault injection (devstack/sandbox/app.py) applies: an `ambiguous` or `timeout`
fault on Messages.json stores the message (it was sent) and answers the fault or holds the answer.

Control endpoints (no auth):

    GET/POST /sms/_config    auth_token, inbound_url (where texts from people are posted, signed),
                             hold_receipts, fail_receipts
    POST     /sms/_receipts  {"to"?}: send the held `delivered` callbacks now -> {"released"}
    POST     /sms/_inbound   {"from", "body", "to"?}: a person texts us; STOP/START words opt the
                             number out of / back into our messages (as Twilio does), then the
                             signed webhook goes to inbound_url -> 201 {"sid"}
    GET      /sms/_messages  sent messages {"count", "messages"}, filter `?to=+E164`
    DELETE   /sms/_messages  forget messages, opt-outs and callbacks; cancel pending callbacks
    GET      /sms/_callbacks the callbacks posted {"count", "callbacks"}
"""

from __future__ import annotations

import asyncio
import base64
import hmac
import os
import re
import threading
import uuid
from collections.abc import Coroutine, Mapping
from datetime import UTC, date, datetime
from email.utils import format_datetime
from typing import Any, Literal

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from devstack.sandbox.providers import Provider
from services.channels.sms.adapter import SANDBOX_NUMBER
from services.channels.sms.segments import segments
from services.channels.sms.signature import signature

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
BODY_LIMIT = 1600
OPT_OUT = frozenset({"stop", "stopall", "unsubscribe", "cancel", "end", "quit"})
OPT_IN = frozenset({"start", "yes", "unstop"})
DEFAULT_NUMBER = SANDBOX_NUMBER


def our_number(env: Mapping[str, str]) -> str:
    """Our number at this sandbox, which people text (`make run` shows it on the public site)."""
    return env.get("SMS_FROM_NUMBER") or DEFAULT_NUMBER


FAILURE_CODES = {"undelivered": "30003", "failed": "30008"}


class SmsSandbox:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.auth_token: str | None = os.environ.get("SANDBOX_SMS_AUTH_TOKEN") or None
        base = os.environ.get("SANDBOX_SMS_WEBHOOK_URL")  # the local run's webhook receiver (devstack)
        self.inbound_url: str | None = os.environ.get("SANDBOX_SMS_INBOUND_URL") or (
            f"{base.rstrip('/')}/inbound" if base else None
        )
        self.last_token: str | None = None  # signs texts from people when no auth_token is set
        self.hold_receipts = False
        self.fail_receipts: Literal["undelivered", "failed"] | None = None
        self.callback_delay = 0.05
        self.retry_base = 0.5
        self.attempts = 4
        self.messages: list[dict[str, Any]] = []
        self.held: list[dict[str, Any]] = []
        self.opted_out: set[str] = set()
        self.callbacks: list[dict[str, Any]] = []
        self.inbound: list[dict[str, Any]] = []
        self.tasks: set[asyncio.Task[None]] = set()
        self.transport: httpx.AsyncBaseTransport | None = None  # tests: callbacks to an app in process

    def clear(self) -> None:
        for task in list(self.tasks):
            task.cancel()
        with self.lock:
            self.tasks.clear()
            self.messages.clear()
            self.held.clear()
            self.opted_out.clear()
            self.callbacks.clear()
            self.inbound.clear()

    def config(self) -> dict[str, Any]:
        return {
            "auth_token_set": self.auth_token is not None,
            "inbound_url": self.inbound_url,
            "hold_receipts": self.hold_receipts,
            "fail_receipts": self.fail_receipts,
        }

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def post_signed(self, url: str, token: str, params: dict[str, str], summary: str) -> None:
        headers = {
            "X-Twilio-Signature": signature(token, url, params.items()),
            "User-Agent": "TwilioProxy/1.1",
        }
        async with httpx.AsyncClient(timeout=5.0, transport=self.transport) as client:
            for attempt in range(1, self.attempts + 1):
                status: int | None = None
                try:
                    status = (await client.post(url, data=params, headers=headers)).status_code
                except httpx.HTTPError:
                    status = None
                ok = status is not None and 200 <= status < 300
                with self.lock:
                    self.callbacks.append(
                        {
                            "url": url,
                            "attempt": attempt,
                            "status": status,
                            "ok": ok,
                            "summary": summary,
                            **params,
                        }
                    )
                if ok:
                    return
                await asyncio.sleep(self.retry_base * 2 ** (attempt - 1))

    async def status_flow(self, message: dict[str, Any], statuses: list[str], token: str) -> None:
        for status in statuses:
            await asyncio.sleep(self.callback_delay)
            now = datetime.now(UTC)
            with self.lock:
                message["status"] = status
                message["date_updated"] = format_datetime(now)
                if status == "sent":
                    message["date_sent"] = format_datetime(now)
                if status in FAILURE_CODES:
                    message["error_code"] = int(FAILURE_CODES[status])
            url = message.get("status_callback")
            if not url:
                continue
            params = {
                "MessageSid": message["sid"],
                "SmsSid": message["sid"],
                "MessageStatus": status,
                "SmsStatus": status,
                "To": message["to"],
                "From": message["from"] or "",
                "AccountSid": message["account_sid"],
                "ApiVersion": "2010-04-01",
            }
            if status in FAILURE_CODES:
                params["ErrorCode"] = FAILURE_CODES[status]
            await self.post_signed(url, token, params, f"status {status} {message['sid']}")


def _error(status: int, code: int, message: str) -> JSONResponse:
    return JSONResponse(
        {
            "code": code,
            "message": message,
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        },
        status_code=status,
    )


def _token(state: SmsSandbox, request: Request, account_sid: str) -> str | None:
    """The Basic auth token if it authenticates this account, else None."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        user, _, token = base64.b64decode(header[6:]).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None
    if user != account_sid or not token:
        return None
    if state.auth_token is not None and not hmac.compare_digest(token, state.auth_token):
        return None
    return token


def _unauthorized() -> JSONResponse:
    return _error(401, 20003, "Authenticate")


def _public(message: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in message.items() if not key.startswith("_")}


def _day(value: str) -> date | None:
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None


class ConfigUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    auth_token: str | None = Field(default=None, description="The only token accepted; null = any.")
    inbound_url: str | None = Field(
        default=None,
        description="Where texts from people are posted (signed with auth_token, else "
        "the token of the last message created).",
    )
    hold_receipts: bool | None = Field(default=None, description="Send `sent` only; `delivered` waits.")
    fail_receipts: Literal["undelivered", "failed"] | None = Field(
        default=None, description="After `sent`, this failure instead of `delivered`."
    )


class Inbound(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: str = Field(alias="from", description="The sender's number, E.164.")
    body: str = Field(min_length=1)
    to: str = DEFAULT_NUMBER


class Release(BaseModel):
    to: str | None = None


def create_router(state: SmsSandbox | None = None) -> APIRouter:
    state = state or SmsSandbox()
    router = APIRouter(tags=["sms"])

    @router.post("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def create(request: Request, account_sid: str) -> JSONResponse:
        token = _token(state, request, account_sid)
        if token is None:
            return _unauthorized()
        form = {name: str(value) for name, value in (await request.form()).items()}
        to, body = form.get("To", ""), form.get("Body", "")
        sender, service = form.get("From"), form.get("MessagingServiceSid")
        if not E164.match(to):
            return _error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if not body:
            return _error(400, 21602, "Message body is required.")
        if not sender and not service:
            return _error(400, 21603, "The 'From' phone number or a MessagingServiceSid is required.")
        if len(body) > BODY_LIMIT:
            return _error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
        if to in state.opted_out:
            return _error(400, 21610, "Attempt to send to unsubscribed recipient")
        now = format_datetime(datetime.now(UTC))
        counted = segments(body)
        message: dict[str, Any] = {
            "sid": "SM" + uuid.uuid4().hex,
            "account_sid": account_sid,
            "messaging_service_sid": service,
            "to": to,
            "from": sender or DEFAULT_NUMBER,
            "body": body,
            "status": "queued",
            "direction": "outbound-api",
            "num_segments": str(counted.count),
            "encoding": counted.encoding,
            "date_created": now,
            "date_updated": now,
            "date_sent": None,
            "error_code": None,
            "error_message": None,
            "price": None,
            "api_version": "2010-04-01",
            "status_callback": form.get("StatusCallback"),
        }
        message["uri"] = f"/2010-04-01/Accounts/{account_sid}/Messages/{message['sid']}.json"
        if state.fail_receipts:
            statuses = ["sent", state.fail_receipts]
        elif state.hold_receipts:
            statuses = ["sent"]
        else:
            statuses = ["sent", "delivered"]
        with state.lock:
            state.last_token = token
            state.messages.append(message)
            if state.hold_receipts and not state.fail_receipts:
                state.held.append({"message": message, "token": token})
        state.spawn(state.status_flow(message, statuses, token))
        return JSONResponse(_public(message), status_code=201)

    @router.get("/2010-04-01/Accounts/{account_sid}/Messages.json")
    async def listing(request: Request, account_sid: str) -> JSONResponse:
        if _token(state, request, account_sid) is None:
            return _unauthorized()
        query = request.query_params
        on, before, after = (_day(query.get(k, "")) for k in ("DateSent", "DateSent<", "DateSent>"))
        size = min(int(query.get("PageSize", "50") or 50), 1000)

        def wanted(m: dict[str, Any]) -> bool:
            if m["account_sid"] != account_sid:
                return False
            if query.get("To") and m["to"] != query["To"]:
                return False
            if query.get("From") and m["from"] != query["From"]:
                return False
            if on or before or after:
                if not m["date_sent"]:
                    return False  # like Twilio: a message not sent yet has no DateSent
                sent = datetime.strptime(m["date_sent"], "%a, %d %b %Y %H:%M:%S %z").date()
                if (on and sent != on) or (before and sent > before) or (after and sent < after):
                    return False
            return True

        with state.lock:
            found = [_public(m) for m in reversed(state.messages) if wanted(m)][:size]
        return JSONResponse({"messages": found, "page": 0, "page_size": size, "start": 0, "end": len(found)})

    @router.get("/2010-04-01/Accounts/{account_sid}/Messages/{sid}.json")
    async def fetch(request: Request, account_sid: str, sid: str) -> JSONResponse:
        if _token(state, request, account_sid) is None:
            return _unauthorized()
        with state.lock:
            found = next(
                (m for m in state.messages if m["sid"] == sid and m["account_sid"] == account_sid), None
            )
        if found is None:
            return _error(404, 20404, f"The requested resource /Messages/{sid}.json was not found")
        return JSONResponse(_public(found))

    @router.get("/_config")
    async def get_config() -> dict[str, Any]:
        return state.config()

    @router.post("/_config")
    async def set_config(update: ConfigUpdate) -> dict[str, Any]:
        with state.lock:
            for name in update.model_fields_set:
                value = getattr(update, name)
                if name == "hold_receipts" and value is None:
                    continue
                setattr(state, name, value or None if isinstance(value, str) else value)
        return state.config()

    @router.post("/_receipts")
    async def release(request: Release) -> dict[str, int]:
        with state.lock:
            due = [h for h in state.held if request.to in (None, h["message"]["to"])]
            state.held = [h for h in state.held if h not in due]
        for held in due:
            state.spawn(state.status_flow(held["message"], ["delivered"], held["token"]))
        return {"released": len(due)}

    @router.post("/_inbound", status_code=201)
    async def inbound(message: Inbound) -> JSONResponse:
        if not E164.match(message.from_):
            return JSONResponse({"detail": "from must be an E.164 number"}, status_code=422)
        word = message.body.strip().casefold()
        with state.lock:
            if word in OPT_OUT:
                state.opted_out.add(message.from_)
            elif word in OPT_IN:
                state.opted_out.discard(message.from_)
            sid = "SM" + uuid.uuid4().hex
            state.inbound.append({"sid": sid, "from": message.from_, "to": message.to, "body": message.body})
            url, token = state.inbound_url, state.auth_token or state.last_token
        if url:
            params = {
                "MessageSid": sid,
                "SmsSid": sid,
                "AccountSid": "AC00000000000000000000000000000000",
                "From": message.from_,
                "To": message.to,
                "Body": message.body,
                "NumMedia": "0",
                "ApiVersion": "2010-04-01",
            }
            state.spawn(state.post_signed(url, token or "", params, f"inbound {sid}"))
        return JSONResponse({"sid": sid, "webhook": url is not None}, status_code=201)

    @router.get("/_messages")
    async def messages(to: str | None = None) -> dict[str, Any]:
        with state.lock:
            found = [_public(m) for m in state.messages if to is None or m["to"] == to]
        return {"count": len(found), "messages": found}

    @router.delete("/_messages")
    async def forget() -> dict[str, str]:
        state.clear()
        return {"status": "cleared"}

    @router.get("/_callbacks")
    async def callbacks() -> dict[str, Any]:
        with state.lock:
            posted = list(state.callbacks)
        return {"count": len(posted), "callbacks": posted}

    return router


provider = Provider(name="sms", router=create_router(), description=__doc__ or "")
