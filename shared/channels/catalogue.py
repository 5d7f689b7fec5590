"""The channel catalogue: what each installed channel declares, read as data.

Every channel folder holds a `channel.toml` (services/channels/<name>/channel.toml) saying what
the channel is and can do: its name, labels in each language, the kind of address it sends to,
what it can carry, countries it cannot serve, its rate, whether its provider confirms delivery
and how long to wait for that, its reply window. Everything that routes, validates or renders by
channel reads this catalogue, never a list of names and never the adapter (which imports the
provider's libraries): the dispatcher routes from it, contracts accept the names in it, intake
draws its forms from it, the renderer makes a print PDF or an image only when a chosen channel
declares it can carry one. Adding a channel is adding a folder.

Loading needs only the standard library and pydantic, so any process can read the catalogue.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from functools import cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.contracts.delivery import AddressKind

if TYPE_CHECKING:
    from shared.contracts.delivery import Recipient

AttachmentKind = Literal["pdf", "png", "print_pdf"]
Purpose = Literal["certificate", "alert", "reminder", "notice", "reply"]
DECLARATION_FILE = "channel.toml"
PERSON_FIELDS: Mapping[str, tuple[str, ...]] = {
    "email": ("email",),
    "phone": ("phone",),
    "postal": ("postal_address",),
    "psid": (),  # given by the platform when the person opts in (Messenger's m.me link), not typed
}
"""What a person must give on a form for a channel of each address kind."""


class ChannelSpec(BaseModel):
    """One channel's declaration (its `channel.toml`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,30}$")
    description: str = ""
    labels: dict[Literal["en", "km"], str] = Field(description="What a person sees: one per language.")
    order: int = Field(default=100, description="Position among the channels on forms (lowest first).")
    address_kind: AddressKind
    attachments: tuple[AttachmentKind, ...] = Field(
        default=(), description="Files it carries: pdf (A4 certificate, Plan of Action), png, print_pdf."
    )
    max_attachment_bytes: int = Field(default=10_000_000, gt=0)
    rate_per_second: float = Field(default=10.0, gt=0)
    unavailable_countries: frozenset[str] = frozenset()
    purposes: frozenset[Purpose] = frozenset({"certificate"})
    resend_is_safe: bool = False
    address_wait_seconds: float = Field(default=0.0, ge=0)
    receipt_wait_seconds: float | None = Field(default=None, ge=0)
    reply_window_seconds: float | None = Field(default=None, gt=0)
    carries_discreet: bool = True
    inbound: bool = Field(default=False, description="It has an inbound process (webhooks or polling).")
    sandbox_provider: str | None = Field(
        default=None, description="Its provider's path under SANDBOX_URL (the folder's sandbox.py serves it)."
    )
    contact_link: str | None = Field(
        default=None,
        description="A phone channel's link that opens a chat with our number (INTAKE_<NAME>_NUMBER), "
        "shown to people who must write to us first: {number} is it in E.164, {digits} without the +.",
        examples=["https://signal.me/#p/{number}", "https://wa.me/{digits}?text=Hello", "sms:{number}"],
    )
    at_risk_only_choice: bool = Field(
        default=False,
        description='Offered to people with discreet messages as "only this channel": end-to-end '
        "encrypted, its messages can disappear from the phone.",
    )

    @field_validator("unavailable_countries")
    @classmethod
    def _upper(cls, countries: frozenset[str]) -> frozenset[str]:
        return frozenset(country.upper() for country in countries)

    @property
    def person_fields(self) -> tuple[str, ...]:
        """The contact fields a form must ask for when this channel is chosen."""
        return PERSON_FIELDS[self.address_kind]

    def label(self, language: str) -> str:
        return self.labels["km"] if language == "km" and "km" in self.labels else self.labels["en"]

    def address_of(self, recipient: Recipient) -> str | None:
        postal = recipient.postal_address
        value = {
            "email": recipient.email,
            "phone": recipient.phone,
            "psid": recipient.psid,
            "postal": postal.street_address if postal else None,
        }[self.address_kind]
        return value or None

    def ineligibility(self, recipient: Recipient, purpose: str) -> str | None:
        """Why this channel cannot serve this recipient (a short reason), or None if it can."""
        if purpose not in self.purposes:
            return f"cannot-carry-{purpose}"
        if recipient.country.upper() in self.unavailable_countries:
            return f"not-available-in-{recipient.country.upper()}"
        if recipient.discreet and not self.carries_discreet:
            return "not-for-discreet-messages"
        if self.address_of(recipient) is None:
            return f"no-{self.address_kind}-address"
        if self.address_kind == "phone" and not recipient.phone_confirmed:
            return "number-not-confirmed"  # its owner has not written to us from it
        return None

    def reply_window_closes(self, last_message_at: datetime) -> datetime | None:
        """When free text stops being allowed after the person's message; None = never."""
        if self.reply_window_seconds is None:
            return None
        return last_message_at + timedelta(seconds=self.reply_window_seconds)

    def configured(self, setting: Literal["address_wait_seconds", "receipt_wait_seconds"]) -> float | None:
        """The operator's override of a wait (`<NAME>_ADDRESS_WAIT_SECONDS`,
        `<NAME>_RECEIPT_WAIT_SECONDS`), else the declaration; a receipt wait stays None for a
        channel without receipts."""
        declared: float | None = getattr(self, setting)
        if setting == "receipt_wait_seconds" and declared is None:
            return None
        raw = os.environ.get(f"{self.name.upper()}_{setting.upper()}", "").strip()
        if not raw:
            return declared
        value = float(raw)
        if value < 0:
            raise ValueError(f"{self.name.upper()}_{setting.upper()} must be 0 or more")
        return value


class CatalogueError(ValueError):
    """A channel folder's declaration is missing or wrong."""


def channels_folder() -> Path:
    """services/channels/, found without importing it (its adapters need provider libraries)."""
    spec = find_spec("services.channels")
    if spec is None or not spec.submodule_search_locations:
        raise CatalogueError("the services.channels package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def load(folder: Path) -> dict[str, ChannelSpec]:
    """Every `<folder>/<name>/channel.toml`, by name, in form order."""
    found: dict[str, ChannelSpec] = {}
    for declaration in sorted(folder.glob(f"*/{DECLARATION_FILE}")):
        directory = declaration.parent.name
        try:
            spec = ChannelSpec.model_validate(tomllib.loads(declaration.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError) as error:
            raise CatalogueError(f"services/channels/{directory}/{DECLARATION_FILE}: {error}") from error
        if spec.name != directory:
            raise CatalogueError(
                f"services/channels/{directory}/{DECLARATION_FILE}: name must be {directory!r}"
            )
        found[spec.name] = spec
    return dict(sorted(found.items(), key=lambda item: (item[1].order, item[0])))


@cache
def catalogue() -> Mapping[str, ChannelSpec]:
    """The installed channels' declarations, by name, in form order (read once per process)."""
    return load(channels_folder())


def channel_names() -> tuple[str, ...]:
    return tuple(catalogue())


def spec(name: str) -> ChannelSpec:
    try:
        return catalogue()[name]
    except KeyError:
        raise CatalogueError(f"no channel {name!r}; installed: {', '.join(catalogue())}") from None


def known_channel(name: str) -> str:
    """Validator of a contract's channel name: one the catalogue lists."""
    if name not in catalogue():
        raise ValueError(f"unknown channel {name!r}; choose from {', '.join(catalogue())}")
    return name


def carrying(purpose: str, names: Iterable[str] | None = None) -> tuple[str, ...]:
    """The channels (of `names`, default all) that can carry `purpose`, in form order."""
    chosen = set(catalogue() if names is None else names)
    return tuple(name for name, s in catalogue().items() if name in chosen and purpose in s.purposes)


def attachments_wanted(names: Iterable[str]) -> frozenset[str]:
    """The file kinds any of these channels carries (the renderer makes only those)."""
    table = catalogue()
    return frozenset(kind for name in names if name in table for kind in table[name].attachments)
