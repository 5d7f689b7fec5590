"""Erasure contracts: forgetting one person everywhere we hold something about them.

    member.erasure_requested.v1  someone asked to erase a member (`samleng member erase`, the
                                 operator API, or the member on their own page after confirming);
                                 pledge-intake, the owner of `members`, decides and erases first
    member.erased.v1             pledge-intake erased the member (or had already: the same event,
                                 same id, is published again): every other owner erases what it
                                 holds about them — certificate-renderer its certificates and their
                                 files, event-scheduler the registrations made with the member's
                                 contacts, the dispatcher its deliveries, the channels their work
    contact.erasure_requested.v1 an operator asked to erase what is held about an email or phone
                                 (`samleng contact erase`): someone who only registered for a
                                 session is no member; event-scheduler erases the registrations
                                 made with it (a member with that contact is erased as above)
    registration.erased.v1       event-scheduler erased one registration (of an erased member or
                                 contact): the dispatcher erases the session messages it made for
                                 it (their deliveries name the registration, not the member)

None of them carries personal data: ids, where the request came from, and `contact_digests`,
keyed digests of the member's contacts (`contact_digest`), by which the scheduler finds the
registrations made with them without anyone sending the addresses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Literal

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import Contact
from shared.personal_data import normalise_contact

ErasureSource = Literal["cli", "operator-api", "member-page"]


def contact_digest(kind: str, normalised: str, index: Callable[[str, str], str] | None) -> str:
    """A contact as erasure events carry it: the blind index (HMAC under SAMLENG_BLIND_INDEX_KEY)
    when the process has one, else SHA-256 (encryption off: local development). The HMAC is the
    one of the contact's lookup key (shared/personal_data.py `contact_key`, `bx:<kind>:<hex>`)."""
    if index is not None:
        return f"{kind}:{index(kind, normalised)}"
    return f"{kind}:sha256:{hashlib.sha256(f'{kind}:{normalised}'.encode()).hexdigest()}"


def contact_digests(contact: Contact, index: Callable[[str, str], str] | None) -> list[str]:
    """The digests of a contact's email (case-folded) and phone (E.164), as member keys name them."""
    found = []
    if contact.email:
        found.append(contact_digest("email", normalise_contact("email", contact.email), index))
    if contact.phone:
        found.append(contact_digest("phone", normalise_contact("phone", contact.phone), index))
    return found


class ErasureRequestedData(Payload):
    request_id: str = Field(
        description="Unique per request; a repeated request is a new request that changes nothing.",
        examples=["er_5b0d6c1e9a3f4e2b8c7d6a5f4e3d2c1b"],
    )
    member_id: str = Field(examples=["mb_3f1c9e0a2b4d4e6f8a0b1c2d3e4f5a6b"])
    source: ErasureSource = Field(description="Where the request was made.")
    at: AwareDatetime


class ErasureRequested(Event[ErasureRequestedData]):
    """Erase everything held about one member (their data key, documents, files and queued work)."""

    type: Literal["member.erasure_requested.v1"] = "member.erasure_requested.v1"


class MemberErasedData(Payload):
    member_id: str = Field(examples=["mb_3f1c9e0a2b4d4e6f8a0b1c2d3e4f5a6b"])
    request_id: str = Field(description="The first request that erased them.")
    member_ids: list[str] = Field(
        description="The member and every record merged into them (their certificates and "
        "deliveries may name either)."
    )
    contact_digests: list[str] = Field(
        default_factory=list,
        description="Keyed digests of every email and phone the member held (`contact_digest`).",
        examples=[["email:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"]],
    )
    at: AwareDatetime = Field(description="When pledge-intake erased them.")


class MemberErased(Event[MemberErasedData]):
    """pledge-intake erased a member: every other owner erases what it holds about them."""

    type: Literal["member.erased.v1"] = "member.erased.v1"


class ContactErasureRequestedData(Payload):
    request_id: str = Field(examples=["er_5b0d6c1e9a3f4e2b8c7d6a5f4e3d2c1b"])
    contact_digests: list[str] = Field(
        min_length=1,
        description="Keyed digests of the email and/or phone to erase (`contact_digest`).",
        examples=[["email:6b86b273ff34fce19d6b804eff5a3f5747ada4eaa22f1d49c01e52ddb7875b4b"]],
    )
    source: ErasureSource = Field(description="Where the request was made.")
    at: AwareDatetime


class ContactErasureRequested(Event[ContactErasureRequestedData]):
    """Erase what is held about an email or phone beyond a member's record: the session
    registrations made with it (their registrants need not be members)."""

    type: Literal["contact.erasure_requested.v1"] = "contact.erasure_requested.v1"


class RegistrationErasedData(Payload):
    registration_id: str
    session_id: str
    member_id: str | None = Field(
        default=None,
        description="The erased member whose contact made the registration; none when a contact "
        "was erased (`contact.erasure_requested.v1`, see `request_id`).",
    )
    request_id: str
    at: AwareDatetime


class RegistrationErased(Event[RegistrationErasedData]):
    """event-scheduler erased a registration of an erased member or contact (and its pending messages)."""

    type: Literal["registration.erased.v1"] = "registration.erased.v1"
