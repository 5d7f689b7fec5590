"""What WhatsApp's Cloud API posts to our webhook: a `whatsapp_business_account` notification
with the statuses of the messages we sent and the messages people send us.

    {"object": "whatsapp_business_account",
     "entry": [{"id": "<WABA id>", "changes": [{"field": "messages", "value": {
         "messaging_product": "whatsapp", "metadata": {...},
         "statuses": [{"id": "wamid.…", "status": "delivered", "timestamp": "1733040000",
                       "recipient_id": "855…", "errors": [{"code": 131047, "title": "…"}]}],
         "messages": [{"from": "855…", "id": "wamid.…", "timestamp": "1733040000",
                       "type": "text", "text": {"body": "STOP"}}]}}]}]}

Only what the channel cannot do without is required; whatever else Meta sends is ignored. A signed body that
is not this is refused by field (shared/channels/meta.py `signed_notification`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from shared.contracts import utcnow

UNIX_SECONDS = r"^\d{1,11}$"
"""Meta's timestamps: Unix seconds as a string (at most 11 digits: far beyond any real one)."""


def moment(timestamp: str | None) -> datetime:
    return datetime.fromtimestamp(int(timestamp), UTC) if timestamp else utcnow()


class StatusError(BaseModel):
    code: int = Field(ge=0, le=10**9, examples=[131047])
    title: str | None = Field(default=None, max_length=1000)


class Status(BaseModel):
    id: str = Field(min_length=1, max_length=500, description="The id of our message (wamid.…).")
    status: str = Field(max_length=50, examples=["delivered"], description="sent, delivered, read, failed, …")
    timestamp: str | None = Field(default=None, pattern=UNIX_SECONDS, examples=["1733040000"])
    recipient_id: str | None = Field(default=None, max_length=100)
    errors: list[StatusError] = Field(default_factory=list, max_length=100)

    @property
    def at(self) -> datetime:
        return moment(self.timestamp)


class Text(BaseModel):
    body: str = Field(max_length=100_000)


class Message(BaseModel):
    sender: str = Field(alias="from", pattern=r"^\+?\d{1,15}$", examples=["85512345678"])
    id: str | None = Field(default=None, max_length=500)
    timestamp: str | None = Field(default=None, pattern=UNIX_SECONDS, examples=["1733040000"])
    type: str | None = Field(default=None, max_length=50, examples=["text"])
    text: Text | None = None

    @property
    def at(self) -> datetime:
        return moment(self.timestamp)


class Value(BaseModel):
    statuses: list[Status] = Field(default_factory=list, max_length=10_000)
    messages: list[Message] = Field(default_factory=list, max_length=10_000)


class Change(BaseModel):
    field: str | None = Field(default=None, max_length=100, examples=["messages"])
    value: Value


class Entry(BaseModel):
    id: str | None = Field(default=None, max_length=100)
    changes: list[Change] = Field(default_factory=list, max_length=1000)


class Notification(BaseModel):
    """One post of the WhatsApp webhook."""

    object: str | None = Field(default=None, max_length=100, examples=["whatsapp_business_account"])
    entry: list[Entry] = Field(max_length=1000)
