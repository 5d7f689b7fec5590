"""What a Twilio-shaped provider posts to our SMS webhooks, form-encoded and signed
(`X-Twilio-Signature`, services/channels/sms/signature.py), for the OpenAPI document.

The handlers read the form themselves (the signature covers every parameter, known or not): a
parameter they need that is missing or empty makes the post a no-op, answered as usual, since
Twilio would only send it again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

TWILIO_SIGNATURE: dict[str, Any] = {
    "name": "X-Twilio-Signature",
    "description": "Base64 HMAC-SHA1, under our auth token, of the URL Twilio called and every POST "
    "parameter (names sorted, each name then its value): anything else is refused (403).",
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9+/]{27}=$"},
}
BAD_SIGNATURE = "Not signed with our auth token (X-Twilio-Signature): nothing is read"


class StatusCallback(BaseModel):
    """A message of ours changed state."""

    model_config = ConfigDict(populate_by_name=True)

    message_sid: str = Field(
        alias="MessageSid", max_length=64, examples=["SM0123456789abcdef0123456789abcdef"]
    )
    message_status: str = Field(
        alias="MessageStatus",
        max_length=30,
        description="queued, sending, sent, delivered, undelivered, failed",
    )
    error_code: str | None = Field(default=None, alias="ErrorCode", max_length=10, examples=["30006"])
    account_sid: str | None = Field(default=None, alias="AccountSid", max_length=64)


class IncomingMessage(BaseModel):
    """A person texted our number."""

    model_config = ConfigDict(populate_by_name=True)

    message_sid: str = Field(alias="MessageSid", max_length=64)
    sender: str = Field(alias="From", max_length=100, examples=["+85512345678"])
    to: str | None = Field(default=None, alias="To", max_length=100)
    body: str = Field(alias="Body", max_length=1600, examples=["STOP"])
    account_sid: str | None = Field(default=None, alias="AccountSid", max_length=64)
