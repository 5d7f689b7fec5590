"""Turning a subscription someone asked for into preferences and contacts, or into field errors in
their language: the same rules serve the subscribe page and JSON API (intake) and the operators'
subscriber import (console); names and phones follow the pledge rules (pledge_input.py).

    choices, errors = validate_subscription(raw, "km")
    event = subscription_event(raw, choices, "api", consent)    # subscription.requested.v1
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from pydantic import BaseModel, Field, ValidationError

from shared.channels.catalogue import carrying, spec
from shared.contracts.alert import TOPICS
from shared.contracts.envelope import utcnow
from shared.contracts.languages import Lang
from shared.contracts.member import (
    Preferences,
    QuietHours,
    SubscriptionRequested,
    SubscriptionRequestedData,
    SubscriptionSource,
)
from shared.contracts.pledge import DISCREET_DESCRIPTION, Consent, Contact, is_discreet
from shared.contracts.pledge_input import (
    FieldError,
    _Errors,
    clean_email,
    clean_name,
    clean_phone,
    offered_channels,
    refused_channels,
    require_contacts,
)

ERRORS: dict[str, dict[str, str]] = {
    "topic_unknown": {"en": "Unknown topic.", "km": "ប្រធានបទមិនស្គាល់។"},
    "channel_not_offered": {"en": "Choose {offered}.", "km": "ជ្រើសរើស {offered}។"},
    "channel_no_address": {
        "en": "We have no address for {channel}: choose another way.",
        "km": "យើងមិនមានអាសយដ្ឋានសម្រាប់ {channel} ទេ៖ សូមជ្រើសរើសវិធីផ្សេង។",
    },
    "channels_required": {"en": "Choose at least one way to reach you.", "km": "ជ្រើសរើសយ៉ាងហោចណាស់មួយវិធី។"},
    "time_zone_invalid": {"en": "Unknown time zone.", "km": "ល្វែងម៉ោងមិនស្គាល់។"},
    "quiet_hours_invalid": {
        "en": "Give both times as HH:MM, or neither.",
        "km": "សូមផ្តល់ម៉ោងទាំងពីរជា HH:MM ឬមិនផ្តល់ទាំងពីរ។",
    },
    "email_required_here": {
        "en": "An email address is needed to confirm the subscription.",
        "km": "ត្រូវការអាសយដ្ឋានអ៊ីមែល ដើម្បីបញ្ជាក់ការចុះឈ្មោះ។",
    },
    "email_invalid": {"en": "This email address does not look right.", "km": "អាសយដ្ឋានអ៊ីមែលនេះមិនត្រឹមត្រូវ។"},
    "country_required": {"en": "Choose your country.", "km": "ជ្រើសរើសប្រទេសរបស់អ្នក។"},
    "language_invalid": {"en": "Choose English or Khmer.", "km": "ជ្រើសរើសភាសាអង់គ្លេស ឬខ្មែរ។"},
    "consent_required": {
        "en": "Please agree, so we may send you messages.",
        "km": "សូមយល់ព្រម ដើម្បីឱ្យយើងអាចផ្ញើសារមកអ្នក។",
    },
}


class SubscribeInput(BaseModel):
    """A subscription as the subscribe page or the API sends it."""

    name: str = Field(default="", max_length=10_000)
    country: str = Field(default="", max_length=100)
    email: str | None = Field(default=None, max_length=1000)
    phone: str | None = Field(default=None, max_length=1000)
    topics: list[str] = Field(default_factory=list, max_length=10)
    channels: list[str] = Field(default_factory=list, max_length=10, description="In order of preference.")
    language: str = Field(default="en", max_length=10)
    time_zone: str = Field(default="UTC", max_length=100)
    quiet_start: str = Field(default="", max_length=10, examples=["21:00"])
    quiet_end: str = Field(default="", max_length=10, examples=["07:00"])
    discreet: bool | None = Field(default=None, strict=True, description=DISCREET_DESCRIPTION)
    consent: bool = False


@dataclass(frozen=True)
class Choices:
    preferences: Preferences
    contact: Contact


class _Problems(_Errors):
    """Field errors with the subscription's own messages, else the pledge's."""

    def add(self, field: str, code: str, **values: object) -> None:
        if code in ERRORS:
            self.items.append(
                FieldError(field=field, code=code, message=ERRORS[code][self.lang].format(**values))
            )
        else:
            super().add(field, code, **values)


def alert_channels() -> tuple[str, ...]:
    """The channels that carry alerts (the channel catalogue's declarations), in form order."""
    return carrying("alert")


def typed_alert_channels() -> tuple[str, ...]:
    """Those a subscribe form can offer: their address is one a person types (not one a platform
    gives when the person opts in there, such as Messenger's)."""
    return tuple(name for name in alert_channels() if spec(name).person_fields)


def clean_preferences(
    raw: SubscribeInput, errors: _Problems, addresses: set[str] | None = None
) -> Preferences | None:
    """Topics, channels (in order; only those we have an address for when `addresses` is given),
    language, time zone and quiet hours."""
    topics = []
    for topic in raw.topics:
        if topic not in TOPICS:
            errors.add("topics", "topic_unknown")
        elif topic not in topics:
            topics.append(topic)
    channels = []
    for channel in offered_channels([c for c in raw.channels if c], "alert", errors, "channel_not_offered"):
        if addresses is not None and spec(channel).address_kind not in addresses:
            errors.add("channels", "channel_no_address", channel=spec(channel).label(errors.lang))
        else:
            channels.append(channel)
    if not channels and not any(e.field == "channels" for e in errors.items):
        errors.add("channels", "channels_required")
    if raw.language not in ("en", "km"):
        errors.add("language", "language_invalid")
    try:
        ZoneInfo(raw.time_zone)
        zone_ok = "/" in raw.time_zone or raw.time_zone == "UTC"
    except (ZoneInfoNotFoundError, ValueError):
        zone_ok = False
    if not zone_ok:
        errors.add("time_zone", "time_zone_invalid")
    quiet = None
    start, end = raw.quiet_start.strip(), raw.quiet_end.strip()
    if start or end:
        try:
            quiet = QuietHours(start=start, end=end)
        except ValidationError:
            errors.add("quiet_hours", "quiet_hours_invalid")
    if errors.items:
        return None
    return Preferences(
        topics=topics,
        channels=channels,
        language=raw.language,
        time_zone=raw.time_zone,
        quiet_hours=quiet,
        discreet=raw.discreet,
    )


def validate_subscription(
    raw: SubscribeInput, lang: Lang, *, email_required: bool = True
) -> tuple[Choices | None, list[FieldError]]:
    errors = _Problems(lang)
    clean_name(raw.name, errors)
    country = raw.country.strip().upper()
    if not country or country not in phonenumbers.SUPPORTED_REGIONS:
        errors.add("country", "country_required")
        country = ""
    email = clean_email(raw.email, errors)
    if not (raw.email and raw.email.strip()) and email_required:
        errors.add("email", "email_required_here")
    phone = None
    if raw.phone and raw.phone.strip():
        phone = clean_phone(raw.phone.strip(), country, errors, lang)
    chosen = [name for name in dict.fromkeys(raw.channels) if name in alert_channels()]
    refused = refused_channels(chosen, "alert", country, is_discreet(raw.discreet, country), errors)
    given = {"email": bool(raw.email and raw.email.strip()), "phone": bool(raw.phone and raw.phone.strip())}
    require_contacts([name for name in chosen if name not in refused], given, errors)
    if not raw.consent:
        errors.add("consent", "consent_required")
    preferences = clean_preferences(raw, errors)
    if errors.items or preferences is None:
        return None, errors.items
    return Choices(preferences=preferences, contact=Contact(email=email, phone=phone)), []


def subscription_event(
    raw: SubscribeInput,
    choices: Choices,
    source: SubscriptionSource,
    consent: Consent,
    confirmed: bool = False,
) -> SubscriptionRequested:
    subscription_id = f"sb_{uuid.uuid4().hex[:24]}"
    return SubscriptionRequested(
        correlation_id=subscription_id,
        data=SubscriptionRequestedData(
            subscription_id=subscription_id,
            source=source,
            name=" ".join(raw.name.split()),
            country=raw.country.strip().upper(),
            contact=choices.contact,
            preferences=choices.preferences,
            consent=consent,
            confirmed=confirmed,
            requested_at=utcnow(),
        ),
    )
