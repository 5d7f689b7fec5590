"""What the dispatcher reads of collections other services own (shared/read_models.py).

    collection   owner          why the dispatcher reads it
    members      pledge-intake  who a message goes to and how: contacts, channels, language,
                                stops, alert opt-in and topics, quiet hours, reply windows, the
                                unsubscribe token (`Member`; the alert fan-out reads thousands)
    member_keys  pledge-intake  whose contact it is: a DONE reply's sender, a registrant who is
                                also a member (`MemberKey`, by the contact's blind index)
    pledges      pledge-intake  the member of a pledge whose address was linked
                                (`contact.linked.v1` names the pledge; `PledgeMember`)
    erasures     pledge-intake  work arriving late for an erased member is dropped (`Erasure`)

A member's personal fields are sealed (encrypted together in `sealed`) when pledge-intake has a
master key, plain otherwise (and in documents written before): `Member` declares both, and
services/dispatcher/personal.py opens it with the dispatcher's vault.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shared.read_models import ID, ReadModel, View
from shared.storage import Document


class Member(View):
    """A member as the dispatcher routes to them (services/pledge_intake/store.py)."""

    id: str
    # plain: the fan-out filters on them, so they are never sealed
    country: str | None = None
    language: str | None = None
    channels: list[str] | None = None
    alerts_opt_in: bool | None = None
    topics: list[str] | None = None
    time_zone: str | None = None
    quiet_hours: dict[str, Any] | None = None
    unsubscribed: list[str] | None = None
    last_inbound: dict[str, datetime] | None = None
    discreet: bool | None = None  # their choice of discreet messages; None: their country's default
    # personal: in `sealed` with encryption on; plain with it off (and in documents of before)
    name: str | None = None
    email: str | None = None
    emails: list[str] | None = None
    phone: str | None = None
    phones: list[str] | None = None
    postal_address: dict[str, Any] | None = None
    psid: str | None = None
    email_confirmed: str | None = None
    unsubscribe_token: str | None = None
    sealed: Any = None

    def stored(self) -> Document:
        """The member as a document with only the fields it has (absent ones stay absent, so
        `.get(name, default)` reads as it did on the stored document), `_id` for `id`."""
        doc = {name: getattr(self, name) for name in self.model_fields_set}
        doc[ID] = doc.pop("id")
        return doc


class MemberKey(View):
    """A contact's owner, under the contact's blind index (`contact_key`)."""

    member_id: str


class PledgeMember(View):
    member_id: str | None = None


class Erasure(View):
    """Only that it exists (nothing personal in it)."""

    id: str
    """The erased member's id."""


MEMBERS = ReadModel("members", Member)
MEMBER_KEYS = ReadModel("member_keys", MemberKey)
PLEDGES = ReadModel("pledges", PledgeMember)
ERASURES = ReadModel("erasures", Erasure)
