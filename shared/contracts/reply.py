"""An operator's answer to a chat reply: handed by the console to the dispatcher, which sends it as
one delivery (purpose `reply`) on the channel the person wrote on, to the address they wrote from.

    reply.answer_requested.v1   an operator answered a reply from the console's inbox; the
                                dispatcher makes ONE delivery of it (deterministic id from
                                `answer_id`), never falls back to another channel

The answer travels in the delivery request as a notice of kind `reply` (`reply_notice`): its
`body` is the answer, and a notice's texts are personal fields (sealed in queues and at rest,
shared/contracts/delivery.py `PERSONAL_FIELDS`). A chat channel that carries answers lists
`reply` in its adapter's `purposes` and declares its window (`reply_window_seconds`,
shared/channels/adapter.py); the console refuses an answer outside that window before it hands
anything over.

The event is about a person (the text, their address): sealed for the member, or, for a sender
we hold for no member, for the sender's contact key, as their reply itself is
(shared/contracts/inbound.py).
"""

from __future__ import annotations

import hashlib
import uuid
from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.delivery import AddressKind, DeliveryRequestedData, NoticeRef
from shared.contracts.envelope import Event, Payload
from shared.personal_data import contact_key

REPLY_KIND = "reply"
"""The notice kind (and the delivery purpose) of an operator's answer."""
MAX_ANSWER_CHARS = 1000
ANSWER_NAMESPACE = uuid.UUID("6f0d2b8e-3c4a-4e1f-9b7d-5a2c8e0f1d3b")


def answer_id(reply_id: str, text: str) -> str:
    """Deterministic per reply and text: the same answer submitted twice (a double click, a
    retried form) is one answer, one event and one delivery."""
    digest = hashlib.sha256(f"{reply_id}\n{text.strip()}".encode()).hexdigest()
    return f"ans_{digest[:24]}"


def answer_event_id(answer: str) -> uuid.UUID:
    return uuid.uuid5(ANSWER_NAMESPACE, answer)


class ReplyAnswerRequestedData(Payload):
    answer_id: str = Field(
        description="Deterministic: the reply and the answer's text (`answer_id()`).",
        examples=["ans_3f9c0e7a1b2d4c5e6f708192"],
    )
    reply_id: str = Field(description="The reply answered (pledge-intake's `inbound_messages` id).")
    channel: str = Field(description="The channel the person wrote on; the answer goes there only.")
    member_id: str | None = Field(description="The member who wrote; None: a sender we hold for no member.")
    sender_kind: AddressKind = Field(description="What `sender` is: a phone number (E.164) or a PSID.")
    sender: str = Field(description="The address the person wrote from; the answer goes to it.")
    text: str = Field(min_length=1, max_length=MAX_ANSWER_CHARS, description="The answer, plain text.")
    last_message_at: AwareDatetime = Field(
        description="The person's last message on this channel as the console saw it: the start of "
        "the channel's reply window."
    )
    requested_at: AwareDatetime


class ReplyAnswerRequested(Event[ReplyAnswerRequestedData]):
    """An operator answered a chat reply: send the answer once, on the same channel."""

    type: Literal["reply.answer_requested.v1"] = "reply.answer_requested.v1"
    sealed_by: ClassVar[str | None] = "member_id"

    def seal_subject(self) -> str | None:
        """The member; for a sender we hold for no member, their contact key (as their reply)."""
        return self.data.member_id or contact_key(self.data.sender_kind, self.data.sender)


def reply_notice(text: str) -> NoticeRef:
    """An answer as a delivery request carries it: a notice of kind `reply`, only its body set."""
    return NoticeRef(kind=REPLY_KIND, subject="", body=text, link_url="", link_label="")


def answer_text(delivery: DeliveryRequestedData) -> str | None:
    """The answer a delivery carries, or None when it is no answer."""
    notice = delivery.notice
    if delivery.purpose != REPLY_KIND or notice is None or notice.kind != REPLY_KIND:
        return None
    return notice.body
