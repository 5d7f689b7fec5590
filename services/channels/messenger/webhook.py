"""What Messenger posts to our page webhook: a `page` notification whose entries carry messaging
events — a message, an m.me referral (the link's `ref`), a postback, an opt-in.

    {"object": "page",
     "entry": [{"id": "<page id>", "time": 1733040000000, "messaging": [
         {"sender": {"id": "<PSID>"}, "recipient": {"id": "<page id>"}, "timestamp": 1733040000000,
          "message": {"mid": "m_…", "text": "STOP"},
          "referral": {"ref": "<signed pledge reference>", "source": "SHORTLINK", "type": "OPEN_THREAD"}}]}]}

Only what the channel cannot do without is required; whatever else Meta sends is ignored. A signed body that
is not this is refused by field (shared/channels/meta.py `signed_notification`).
"""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, Field

from shared.contracts import utcnow

UNIX_MILLISECONDS = 10**14
"""Beyond any real timestamp (year 5138): Messenger's are Unix milliseconds."""


class Party(BaseModel):
    id: str = Field(max_length=100, examples=["6712345678901234"])


class Referral(BaseModel):
    ref: str | None = Field(default=None, max_length=2000, description="The m.me link's `ref`.")
    source: str | None = Field(default=None, max_length=100, examples=["SHORTLINK"])
    type: str | None = Field(default=None, max_length=100, examples=["OPEN_THREAD"])


class Postback(BaseModel):
    payload: str | None = Field(default=None, max_length=2000)
    referral: Referral | None = None


class Optin(BaseModel):
    ref: str | None = Field(default=None, max_length=2000)


class Message(BaseModel):
    mid: str | None = Field(default=None, max_length=500)
    text: str | None = Field(default=None, max_length=100_000)


class MessagingEvent(BaseModel):
    sender: Party | None = None
    recipient: Party | None = None
    timestamp: int | None = Field(default=None, ge=0, lt=UNIX_MILLISECONDS, examples=[1733040000000])
    message: Message | None = None
    referral: Referral | None = None
    postback: Postback | None = None
    optin: Optin | None = None

    @property
    def at(self) -> datetime:
        return utcnow() if self.timestamp is None else datetime.fromtimestamp(self.timestamp / 1000, UTC)

    @property
    def psid(self) -> str:
        return self.sender.id if self.sender else ""

    @property
    def ref(self) -> str | None:
        """The pledge reference the person brought: an m.me link's (opened, or through a
        postback) or the checkbox plugin's."""
        referral = self.referral or (self.postback.referral if self.postback else None)
        return (referral.ref if referral else None) or (self.optin.ref if self.optin else None)


class Entry(BaseModel):
    id: str | None = Field(default=None, max_length=100)
    time: int | None = Field(default=None, ge=0, lt=UNIX_MILLISECONDS)
    messaging: list[MessagingEvent] = Field(default_factory=list, max_length=10_000)


class Notification(BaseModel):
    """One post of the page webhook."""

    object: str | None = Field(default=None, max_length=100, examples=["page"])
    entry: list[Entry] = Field(max_length=1000)
