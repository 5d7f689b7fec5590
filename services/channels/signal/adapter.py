"""Signal through a self-hosted signal-cli-rest-api (`POST /v2/send`), the PNG as a data URI.

That API can answer 429 (or time out) for a message it DID deliver, so such answers are unknown
outcomes, never retried blindly. The send records its time window; reconciliation looks for the
recipient's delivery receipt inside that window. Receipts (and replies such as STOP) come from
`GET /v1/receive/<number>`, which only the channel's inbound process reads (reading consumes
them): `python -m services.channels.signal.inbound` stores receipts in `signal_receipts` and
reports them as `delivered`. A delivery with no receipt after `SIGNAL_RECONCILE_WAIT_SECONDS` is
held as `unknown` for an operator (the phone may simply be off), not resent; the dispatcher falls
back from it, and from a `sent` one, without a receipt after `receipt_wait_seconds`
(SIGNAL_RECEIPT_WAIT_SECONDS).

Both collections find a phone by exact match only, so they keep its blind index
(shared/personal_data.py, SAMLENG_BLIND_INDEX_KEY), never the number (plain when no key is set).
"""

from __future__ import annotations

import asyncio
import base64
import time
from typing import Any, ClassVar

import httpx
from pydantic import Field
from pydantic_settings import SettingsConfigDict
from pymongo import ASCENDING, AsyncMongoClient

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
from shared.contracts.delivery import DeliveryRequestedData
from shared.contracts.reply import answer_text
from shared.personal_data import BlindIndex, blind_index
from shared.storage import Document, create_client, database

TEXTS = {
    "en": "Dear {name}, thank you for signing the Khmer Community Advocacy Pledge. "
    "Your certificate {number} is attached. Anyone can verify it at {url}",
    "km": "ជូនចំពោះ {name}, សូមអរគុណសម្រាប់ការចុះហត្ថលេខាលើសេចក្តីសន្យាតស៊ូមតិសហគមន៍ខ្មែរ។ "
    "វិញ្ញាបនបត្រ {number} របស់អ្នកត្រូវបានភ្ជាប់។ ពិនិត្យបាននៅ {url}",
}


class SignalSettings(ChannelSettings):
    model_config = SettingsConfigDict(env_prefix="SIGNAL_", env_file=".env", extra="ignore")
    api_url: str | None = Field(
        default=None, description="signal-cli-rest-api base URL; unset = <SANDBOX_URL>/signal."
    )
    number: str = Field(
        default="+15550001234", description="The registered Signal number we send from (E.164)."
    )
    timeout_seconds: float = 20.0
    reconcile_wait_seconds: float = Field(
        default=10.0, description="How long reconciliation waits for a delivery receipt before holding."
    )


class SignalAdapter(HttpChannelAdapter):
    name: ClassVar[str] = "signal"
    settings_class = SignalSettings

    def __init__(self, settings: ChannelSettings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings, transport)
        assert isinstance(settings, SignalSettings)
        self.own = settings
        self._mongo: AsyncMongoClient[Document] | None = None
        self._blind: BlindIndex | None = None

    def _phone_key(self, phone: str | None) -> str | None:
        return self._blind("phone", phone) if self._blind is not None and phone else phone

    @property
    def api_url(self) -> str:
        return self.provider_url(self.own.api_url)

    async def start(self) -> None:
        self.open_http(self.api_url, timeout=self.own.timeout_seconds)
        self._mongo = create_client(self.own)
        self._blind = blind_index()
        await self._receipts.create_index([("source", ASCENDING), ("timestamps", ASCENDING)])

    async def close(self) -> None:
        await super().close()
        if self._mongo is not None:
            await self._mongo.close()

    @property
    def _db(self) -> Any:
        assert self._mongo is not None
        return database(self._mongo, self.own)

    @property
    def _receipts(self) -> Any:
        return self._db.signal_receipts

    @property
    def _attempts(self) -> Any:
        return self._db.signal_attempts

    def text(self, delivery: DeliveryRequestedData) -> str:
        text = answer_text(delivery) or chat_text(delivery)
        if text is not None:
            return text
        certificate = delivery.certificate
        return TEXTS[delivery.recipient.language].format(
            name=delivery.recipient.name,
            number=certificate.certificate_number if certificate else delivery.source_id,
            url=certificate.verify_url if certificate else "",
        )

    async def send(self, message: OutboundMessage) -> SendResult:
        delivery = message.delivery
        recipient = delivery.recipient.phone
        assert recipient is not None
        body = {
            "number": self.own.number,
            "recipients": [recipient],
            "message": self.text(delivery),
            "base64_attachments": [
                f"data:{a.content_type};filename={a.filename};base64,{base64.b64encode(a.data).decode()}"
                for a in message.attachments
            ],
        }
        started = int(time.time() * 1000) - 1000  # allow for clock skew with the API's host
        try:
            response = await self.http.post("/v2/send", json=body)
        except httpx.TimeoutException as error:
            await self._record_attempt(delivery, started)
            raise OutcomeUnknown(
                "Signal API timed out after the request was sent", reason="signal-timeout"
            ) from error
        except httpx.TransportError as error:
            raise RetryableDeliveryError(
                f"Signal API unreachable: {error}", reason="signal-unreachable"
            ) from error
        await self._record_attempt(delivery, started)
        code = response.status_code
        if code in (200, 201):
            return SendResult(provider_message_id=str(response.json().get("timestamp")))
        if code in (413, 429) or code >= 500:  # known to come back for messages that were delivered
            raise OutcomeUnknown(f"Signal API answered {code}", reason=f"signal-{code}")
        raise PermanentDeliveryError(
            f"Signal API refused: {code} {_error(response)}", reason=f"signal-{code}"
        )

    async def _record_attempt(self, delivery: DeliveryRequestedData, started_ms: int) -> None:
        window = {"start": started_ms, "end": int(time.time() * 1000) + 1000}
        await self._attempts.update_one(
            {"_id": delivery.delivery_id},
            {
                "$push": {"windows": window},
                "$set": {"recipient": self._phone_key(delivery.recipient.phone), "updated_at": utcnow()},
            },
            upsert=True,
        )

    async def reconcile(self, delivery: DeliveryRequestedData) -> SendResult | None:
        attempts = await self._attempts.find_one({"_id": delivery.delivery_id})
        if not attempts:  # no request ever left this channel for it: safe to send
            raise RetryableDeliveryError("never sent", reason="not-sent")
        windows = attempts.get("windows", [])
        deadline = time.monotonic() + self.own.reconcile_wait_seconds
        while True:
            for window in windows:
                receipt = await self._receipts.find_one(
                    {
                        "source": self._phone_key(delivery.recipient.phone),
                        "timestamps": {"$elemMatch": {"$gte": window["start"], "$lte": window["end"]}},
                    }
                )
                if receipt is not None:
                    stamp = next(t for t in receipt["timestamps"] if window["start"] <= t <= window["end"])
                    return SendResult(provider_message_id=str(stamp), state="delivered")
            if time.monotonic() >= deadline:
                return None
            await asyncio.sleep(0.5)

    async def poll_inbound(self, inbound: Any) -> bool:
        response = await self.http.get(f"/v1/receive/{self.own.number}")
        response.raise_for_status()
        for item in response.json():
            envelope = item.get("envelope", {})
            source = envelope.get("sourceNumber") or envelope.get("source")
            receipt = envelope.get("receiptMessage")
            if receipt and receipt.get("isDelivery") and source:
                stamps = [int(t) for t in receipt.get("timestamps", [])]
                await self._receipts.insert_one(
                    {"source": self._phone_key(source), "timestamps": stamps, "at": utcnow()}
                )
                for stamp in stamps:
                    await inbound.status(str(stamp), "delivered")
            data = envelope.get("dataMessage")
            if data and data.get("message") and source:
                await inbound.message("phone", source, data["message"], f"{source}:{data.get('timestamp')}")
        return True


def _error(response: httpx.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200]
    except ValueError:
        return response.text[:200]
