"""SMS through a Twilio-shaped Messages API (`POST /2010-04-01/Accounts/{AccountSid}/Messages.json`).

Created with `samleng channel new sms --address-kind phone --inbound`; what it can do is declared
in channel.toml. SMS carries no files: a certificate goes as a short text with the member's
personal download link (`CertificateRef.download_url`, when the dispatcher gives one) and the
public verification link. Alerts, session messages, notices and operators' answers are the texts
every chat channel sends (shared/channels/texts.py); a discreet message is its neutral line only.

Sending: form-encoded `To`, `From` (or `MessagingServiceSid`), `Body`, `StatusCallback`, HTTP Basic
auth `AccountSid:AuthToken` (SMS_ACCOUNT_SID, SMS_API_TOKEN). Before that, the text is counted in
segments (services/channels/sms/segments.py: GSM-7 160/153, else UCS-2 70/67, so Khmer costs
more than twice as many); over SMS_MAX_SEGMENTS it is refused (`too-many-segments`) and the
dispatcher falls back to the member's next channel. A number that texted STOP is refused too
(`sms-opted-out`), before the provider is asked.

    201 {"sid": "SM...", "status": "queued"}        sent (receipts follow by status callback)
    400 {"code": 21211 | 21610 | 21614 | ...}       permanent (`sms-<code>`): invalid number,
                                                    unsubscribed at the provider, not a mobile, ...
    401 {"code": 20003}                             retry: a configuration problem, not the member's
    429 / code 20429, 5xx                           retry, after Retry-After when given
    connection refused                              retry
    timeout                                         unknown outcome

The API takes no idempotency key (`resend_is_safe = false`), so an unknown outcome goes to
`reconcile()`: it lists the messages to that number (`GET .../Messages.json?To=...`, newest first;
not filtered by `DateSent`, which a still-queued message does not have yet) and looks for one with
exactly our text created since the delivery was requested. Found: that message is the send. Not
found: the API never took it, so it is sent again. The API unreachable: cannot tell (held for an
operator). Two different deliveries with the very same text to the same number after the request
would be taken for one another; our texts carry their certificate, alert or session.

The inbound process (`python -m services.channels.sms.inbound`, routes under `/webhooks/sms`)
takes Twilio's webhooks, each checked against `X-Twilio-Signature` (services/channels/sms/
signature.py; 403 otherwise):

    POST /webhooks/sms/status   MessageSid, MessageStatus (sent, delivered, undelivered, failed),
                                ErrorCode -> delivery status (undelivered/failed: permanent,
                                reason `sms-<ErrorCode>`); queued/sending are ignored
    POST /webhooks/sms/inbound  From, To, Body, MessageSid: a text from a person. STOP, STOPALL,
                                UNSUBSCRIBE, CANCEL, END, QUIT (and the Khmer words) stop this
                                channel for that number (`sms_opt_outs`, under the number's blind
                                index); START, YES, UNSTOP resume it. Every text is reported as
                                an inbound message: it confirms the number (the dispatcher's
                                confirmed numbers) and reaches the operators' inbox (pledge-intake
                                also withdraws everything on STOP, as for every chat channel).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx
from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict
from pymongo import AsyncMongoClient

from services.channels.sms.segments import segments
from services.channels.sms.signature import valid
from services.channels.sms.webhook import BAD_SIGNATURE, TWILIO_SIGNATURE, IncomingMessage, StatusCallback
from shared.channels import (
    ChannelSettings,
    OutboundMessage,
    OutcomeUnknown,
    PermanentDeliveryError,
    RetryableDeliveryError,
    SendResult,
)
from shared.channels.http import HttpChannelAdapter
from shared.channels.texts import chat_text
from shared.contracts import utcnow
from shared.contracts.delivery import DeliveryRequestedData, DeliveryState
from shared.contracts.reply import answer_text
from shared.http_errors import refusals
from shared.openapi import documented_body
from shared.personal_data import contact_key
from shared.storage import Document, create_client, database

CERTIFICATE = {
    "en": "{name}, thank you for signing the Khmer Community Advocacy Pledge. "
    "Your certificate {number}: {link}Anyone can verify it at {url}",
    "km": "{name} សូមអរគុណសម្រាប់ការចុះហត្ថលេខាលើសេចក្តីសន្យាតស៊ូមតិសហគមន៍ខ្មែរ។ "
    "វិញ្ញាបនបត្រ {number} របស់អ្នក៖ {link}អ្នកណាក៏អាចពិនិត្យវាបាននៅ {url}",
}
DOWNLOAD = {"en": "download it at {link}\n", "km": "ទាញយកនៅ {link}\n"}
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "ឈប់", "បញ្ឈប់", "ឈប់ផ្ញើ", "ឈប់ទទួល"}
)
START_WORDS = frozenset({"start", "yes", "unstop", "ចាប់ផ្តើម"})
STATUS: dict[str, DeliveryState] = {
    "sent": "sent",
    "delivered": "delivered",
    "undelivered": "failed_permanent",
    "failed": "failed_permanent",
}
RETRY_CODES = frozenset({20429, 20003, 20005, 30001})  # too many requests, auth, account, queue overflow
OPT_OUTS = "sms_opt_outs"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
FORM = "application/x-www-form-urlencoded"


class TwimlResponse(Response):
    """What Twilio does next (TwiML): nothing, for every text we get."""

    media_type = "text/xml"


SANDBOX_NUMBER = "+15550002222"
"""Our number at the local sandbox (services/channels/sms/sandbox.py) when none is set."""


class SmsSettings(ChannelSettings):
    model_config = SettingsConfigDict(env_prefix="SMS_", env_file=".env", extra="ignore")
    api_url: str | None = Field(
        default=None, description="Messages API base URL (https://api.twilio.com); unset = <SANDBOX_URL>/sms."
    )
    account_sid: str = Field(
        default="AC00000000000000000000000000000000",
        description="Account SID (AC...): the API's path and the Basic auth user.",
    )
    api_token: SecretStr | None = Field(
        default=None,
        description="Auth Token: the Basic auth password, and the key of the webhooks' X-Twilio-Signature.",
    )
    from_number: str | None = Field(default=None, description="Our sending number (E.164).")
    messaging_service_sid: str | None = Field(
        default=None, description="A Messaging Service (MG...) to send from instead of SMS_FROM_NUMBER."
    )
    webhook_base_url: str | None = Field(
        default=None,
        description="Public URL of sms-inbound's webhooks (https://<site>/webhooks/sms): status callbacks "
        "go to <it>/status, and signatures are checked against it; unset = no status callbacks, and "
        "signatures checked against the URL as received.",
    )
    max_segments: int = Field(
        default=10, ge=1, description="Longer texts are refused (too-many-segments): the next channel."
    )
    timeout_seconds: float = 20.0


class SmsAdapter(HttpChannelAdapter):
    name: ClassVar[str] = "sms"
    settings_class = SmsSettings

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport)
        assert isinstance(settings, SmsSettings)
        self.own = settings
        self._mongo: AsyncMongoClient[Document] | None = None

    async def start(self) -> None:
        token = self.own.api_token.get_secret_value() if self.own.api_token else ""
        self.open_http(
            f"{self.provider_url(self.own.api_url)}/2010-04-01/Accounts/{self.own.account_sid}",
            auth=(self.own.account_sid, token),
            timeout=self.own.timeout_seconds,
        )
        self._mongo = create_client(self.own)

    async def close(self) -> None:
        await super().close()
        if self._mongo is not None:
            await self._mongo.close()

    @property
    def _opt_outs(self) -> Any:
        assert self._mongo is not None
        return database(self._mongo, self.own)[OPT_OUTS]

    # ---- sending -----------------------------------------------------------------------------

    def text(self, delivery: DeliveryRequestedData) -> str:
        text = answer_text(delivery) or chat_text(delivery)
        if text is not None:
            return text
        language = delivery.recipient.language
        certificate = delivery.certificate
        link = certificate.download_url if certificate else None  # channels without files get one
        return CERTIFICATE[language].format(
            name=delivery.recipient.name,
            number=certificate.certificate_number if certificate else delivery.source_id,
            link=DOWNLOAD[language].format(link=link) if link else "",
            url=certificate.verify_url if certificate else "",
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        delivery = message.delivery
        phone = delivery.recipient.phone
        assert phone is not None
        body = self.text(delivery)
        counted = segments(body)
        if counted.count > self.own.max_segments:
            raise PermanentDeliveryError(
                f"{counted.count} {counted.encoding} segments, over SMS_MAX_SEGMENTS={self.own.max_segments}",
                reason="too-many-segments",
            )
        if await self._opt_outs.find_one({"_id": contact_key("phone", phone)}, {"_id": 1}):
            raise PermanentDeliveryError("the number texted STOP", reason="sms-opted-out")
        try:
            response = await self.http.post("/Messages.json", data=self._form(phone, body))
        except httpx.TimeoutException as error:
            raise OutcomeUnknown("the Messages API timed out", reason="sms-timeout") from error
        except httpx.TransportError as error:
            raise RetryableDeliveryError(
                f"Messages API unreachable: {error}", reason="sms-unreachable"
            ) from error
        if response.status_code in (200, 201):
            sent = response.json()
            return SendResult(
                provider_message_id=str(sent["sid"]),
                details={"segments": counted.count, "encoding": counted.encoding},
            )
        raise _error(response)

    def _form(self, phone: str, body: str) -> dict[str, str]:
        form = {"To": phone, "Body": body}
        if self.own.messaging_service_sid:
            form["MessagingServiceSid"] = self.own.messaging_service_sid
        elif self.own.from_number:
            form["From"] = self.own.from_number
        elif self.own.api_url is None and self.own.sandbox_url:
            form["From"] = SANDBOX_NUMBER  # a local run: the sandbox's number is ours
        else:
            raise RetryableDeliveryError(
                "set SMS_FROM_NUMBER or SMS_MESSAGING_SERVICE_SID", reason="sms-no-sender"
            )
        if self.own.webhook_base_url:
            form["StatusCallback"] = f"{self.own.webhook_base_url.rstrip('/')}/status"
        return form

    async def reconcile(self, delivery: DeliveryRequestedData) -> SendResult | None:
        phone = delivery.recipient.phone
        assert phone is not None
        body = self.text(delivery)
        since = delivery.requested_at - timedelta(minutes=1)  # clocks differ a little
        try:
            response = await self.http.get("/Messages.json", params={"To": phone, "PageSize": "100"})
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        for item in response.json().get("messages", []):
            if item.get("body") == body and _created(item) >= since:
                state = STATUS.get(str(item.get("status")))
                if state == "failed_permanent":
                    raise PermanentDeliveryError("the provider could not deliver it", reason=_reason(item))
                return SendResult(
                    provider_message_id=str(item["sid"]),
                    state="delivered" if state == "delivered" else "sent",
                )
        raise RetryableDeliveryError("the Messages API never took it", reason="not-sent")

    # ---- webhooks (python -m services.channels.sms.inbound) ------------------------------------

    def inbound_router(self, inbound: Any) -> APIRouter:
        router = APIRouter()

        async def signed_form(request: Request, path: str) -> dict[str, str] | None:
            form = await request.form()
            params = [(name, str(value)) for name, value in form.multi_items()]
            base = self.own.webhook_base_url
            url = f"{base.rstrip('/')}/{path}" if base else str(request.url)
            if base and request.url.query:
                url += f"?{request.url.query}"
            token = self.own.api_token.get_secret_value() if self.own.api_token else ""
            if not token or not valid(token, url, params, request.headers.get("x-twilio-signature", "")):
                return None
            return dict(params)

        @router.post(
            "/status",
            status_code=204,
            openapi_extra=documented_body(StatusCallback, FORM, signed_by=TWILIO_SIGNATURE),
            responses=refusals({403: BAD_SIGNATURE}),
        )
        async def status(request: Request) -> Response:
            form = await signed_form(request, "status")
            if form is None:
                raise HTTPException(403, "bad signature")
            state = STATUS.get(form.get("MessageStatus", ""))
            if state is not None and form.get("MessageSid"):
                reason = _reason({"status": form["MessageStatus"], "error_code": form.get("ErrorCode")})
                await inbound.status(
                    form["MessageSid"], state, reason if state == "failed_permanent" else None
                )
            return Response(status_code=204)

        @router.post(
            "/inbound",
            response_class=TwimlResponse,
            openapi_extra=documented_body(IncomingMessage, FORM, signed_by=TWILIO_SIGNATURE),
            responses=refusals({403: BAD_SIGNATURE}),
        )
        async def incoming(request: Request) -> Response:
            form = await signed_form(request, "inbound")
            if form is None:
                raise HTTPException(403, "bad signature")
            sender, text = form.get("From", ""), form.get("Body", "")
            if sender and text:
                await self._keyword(sender, text)
                await inbound.message("phone", sender, text, form.get("MessageSid") or None)
            return TwimlResponse(EMPTY_TWIML)

        return router

    async def _keyword(self, sender: str, text: str) -> None:
        """STOP and its synonyms stop this channel for the number; START and its synonyms resume it."""
        word = keyword(text)
        key = contact_key("phone", sender)
        if word in STOP_WORDS:
            await self._opt_outs.update_one({"_id": key}, {"$set": {"at": utcnow()}}, upsert=True)
        elif word in START_WORDS:
            await self._opt_outs.delete_one({"_id": key})


def keyword(text: str) -> str:
    """The message as one keyword: lower case, punctuation dropped (Khmer letters kept)."""
    kept = "".join(ch for ch in text.casefold() if ch.isalnum() or ch.isspace() or "\u1780" <= ch <= "\u17ff")
    return " ".join(kept.split())


def _error(response: httpx.Response) -> Exception:
    try:
        code = int(response.json().get("code") or 0)
    except (ValueError, AttributeError):
        code = 0
    status = response.status_code
    reason = f"sms-{code or status}"
    if status == 429 or status >= 500 or code in RETRY_CODES:
        retry_after = response.headers.get("retry-after", "")
        return RetryableDeliveryError(
            f"Messages API answered {status} ({code})",
            reason=reason,
            retry_after=float(retry_after) if retry_after.isdigit() else None,
        )
    return PermanentDeliveryError(f"Messages API refused: {status} ({code})", reason=reason)


def _reason(item: dict[str, Any]) -> str:
    code = item.get("error_code")
    return f"sms-{code}" if code else f"sms-{item.get('status')}"


def _created(item: dict[str, Any]) -> datetime:
    try:
        return parsedate_to_datetime(str(item.get("date_created")))
    except (TypeError, ValueError):
        return datetime.min.replace(tzinfo=UTC)
