"""What people send us on a channel, and channel addresses they link to their pledge.

    inbound.message.v1   a reply on a chat channel (STOP, DONE, a question): pledge-intake matches
                         it to the member, records STOP as a withdrawal, keeps the rest for
                         operators, and notes when the member last wrote (24 h windows)
    contact.linked.v1    a person linked a channel address to their pledge (Messenger: opened the
                         m.me link carrying the signed pledge reference): pledge-intake stores it
                         on the member, the dispatcher releases deliveries waiting for it

They carry personal data (addresses, message text); logs redact it.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import AwareDatetime, Field

from shared.contracts.delivery import AddressKind
from shared.contracts.envelope import Event, Payload
from shared.personal_data import contact_key


class InboundMessageData(Payload):
    channel: str = Field(examples=["whatsapp"])
    sender_kind: AddressKind = Field(description="What `sender` is: a phone number (E.164) or a PSID.")
    sender: str = Field(examples=["+85512345678"])
    text: str = Field(max_length=5000)
    received_at: AwareDatetime
    provider_message_id: str | None = None


class InboundMessage(Event[InboundMessageData]):
    """Someone wrote to us on a channel."""

    type: Literal["inbound.message.v1"] = "inbound.message.v1"
    sealed_by: ClassVar[str | None] = "sender"

    def seal_subject(self) -> str | None:
        """The sender's contact key (shared/personal_data.py `contact_key`): who wrote is not known
        yet when it is published; erasing a member forgets the keys of their contacts too."""
        return contact_key(self.data.sender_kind, self.data.sender)


class ContactLinkedData(Payload):
    channel: str = Field(examples=["messenger"])
    address_kind: AddressKind = Field(examples=["psid"])
    address: str = Field(description="The new address, e.g. the page-scoped id.")
    pledge_id: str = Field(description="The pledge whose signed reference the person brought.")
    linked_at: AwareDatetime


class ContactLinked(Event[ContactLinkedData]):
    """A person linked a channel address to their pledge (and so to their member record)."""

    type: Literal["contact.linked.v1"] = "contact.linked.v1"
    sealed_by: ClassVar[str | None] = "pledge_id"


class DeliveryWaitExpiredData(Payload):
    delivery_id: str


class DeliveryWaitExpired(Event[DeliveryWaitExpiredData]):
    """Internal to the dispatcher: a delivery's wait ran out.

    A `waiting` delivery's (for an address to opt in with, a number's confirmation, quiet hours),
    or a `sent` one's for its delivery receipt."""

    type: Literal["delivery.wait_expired.v1"] = "delivery.wait_expired.v1"
