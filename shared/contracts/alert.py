"""Urgent Action contracts: an operator publishes an alert (or an update to it); members report
that they took action.

    alert.published.v1   the full alert as published (or an update / closure of an earlier one);
                         the dispatcher keeps it (`alerts`) and fans it out to members
    action.reported.v1   a member took action (the signed link on the alert page, or a DONE reply)
    alert.test_requested.v1
                         an operator sends the alert (or draft) to themself on one channel before
                         publishing it: the dispatcher makes ONE delivery of purpose `alert_test`
                         (never counted in the alert's totals), which the channel sends as it
                         would send the alert to a member
"""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field

from shared.contracts.envelope import Event, Payload
from shared.contracts.pledge import Language, PostalAddress

if TYPE_CHECKING:
    from shared.channels.catalogue import ChannelSpec
    from shared.contracts.delivery import Recipient

Topic = Literal[
    "political-prisoners", "land-evictions", "media-freedom", "elections", "human-rights-defenders"
]
TOPICS: tuple[str, ...] = (
    "political-prisoners",
    "land-evictions",
    "media-freedom",
    "elections",
    "human-rights-defenders",
)


def slug(number: str) -> str:
    """The alert's part of its public page's path, `/a/<slug>`: `UA 12/26` -> `UA-12-26`."""
    return number.replace(" ", "-").replace("/", "-")


def number_of_slug(alert_slug: str) -> str:
    """The alert number a public page's path names: `UA-12-26` -> `UA 12/26` (`slug` undone)."""
    return alert_slug.replace("-", " ", 1).replace("-", "/")


def action_token(delivery_id: str) -> str:
    """The secret in a member's "I took action" link: the delivery it came with, and a random
    part. The delivery document keeps only `action_token_hash` of the whole token (the plain
    link travels sealed in the delivery's request); intake finds the delivery by its id (no
    index on the token) and compares hashes."""
    return f"{delivery_id}.{secrets.token_urlsafe(18)}"


def action_token_hash(token: str) -> str:
    """How a delivery keeps its "I took action" token (never the token itself)."""
    return hashlib.sha256(token.encode()).hexdigest()


def delivery_of_action_token(token: str) -> str | None:
    delivery_id, dot, secret = token.partition(".")
    return delivery_id if dot and delivery_id and len(secret) >= 16 else None


class Official(Payload):
    name: str = Field(max_length=200)
    title: str = Field(default="", max_length=200)
    organisation: str = Field(default="", max_length=200)
    email: str | None = Field(default=None, max_length=320)
    postal_address: PostalAddress | None = None
    salutation: str = Field(default="", max_length=200, examples=["Your Excellency"])


NEUTRAL_SALUTATION = {"en": "Your Excellency", "km": "ឯកឧត្តម/លោកជំទាវ"}
_KHMER = re.compile("[\u1780-\u17ff]")


def letter_salutation(salutations: list[str], language: str) -> str:
    """What fills a letter's `{salutation}`: the officials' own salutation when they share one
    written in the letter's script, else a neutral one in its language (a salutation is not
    translated: an English one would open a Khmer letter)."""
    own = {s.strip() for s in salutations} - {""}
    if len(own) == 1:
        [salutation] = own
        if bool(_KHMER.search(salutation)) == (language == "km"):
            return salutation
    return NEUTRAL_SALUTATION.get(language, NEUTRAL_SALUTATION["en"])


class AlertText(Payload):
    title: str = Field(max_length=300)
    summary: str = Field(max_length=2000)
    background: str = Field(default="", max_length=20_000)
    actions: list[str] = Field(default_factory=list, description="Recommended actions, in order.")
    letter: str = Field(
        default="",
        max_length=20_000,
        description="Letter template; `{name}` is replaced by the member's name, `{salutation}` by the official's.",
    )
    letter_subject: str = Field(default="", max_length=300)


class AlertPublishedData(Payload):
    alert_id: str = Field(description="Stable id of the alert (updates carry the original's id).")
    number: str = Field(examples=["UA 12/26"])
    kind: Literal["alert", "update", "extension", "closure"] = Field(
        default="alert",
        description="`alert` (the original), `update` (further information), `extension` (a later "
        "deadline), `closure`.",
    )
    sequence: int = Field(default=0, ge=0, description="0 for the alert, 1.. for its updates and closure.")
    urgent: bool = False
    sensitive: bool = Field(
        default=False, description="Chat messages carry no names, only the link (people at risk)."
    )
    topics: list[Topic] = Field(min_length=1)
    texts: dict[Language, AlertText] = Field(description="English and Khmer text.")
    officials: list[Official] = Field(default_factory=list)
    deadline: AwareDatetime | None = None
    public_url: str = Field(examples=["https://pledge.example.org/a/UA-12-26"])
    published_at: AwareDatetime


class AlertPublished(Event[AlertPublishedData]):
    """An Urgent Action alert (or an update or closure of one) was published: deliver it."""

    type: Literal["alert.published.v1"] = "alert.published.v1"


ALERT_TEST = "alert_test"
"""The purpose of the delivery of an operator's test: kept apart from the alert's (`alert`)."""


class AlertTestRequestedData(Payload):
    test_id: str = Field(description="Unique per test (`at_…`): its delivery's id derives from it.")
    operator_id: str = Field(description="The operator who asked; the test goes to them.")
    alert: AlertPublishedData = Field(description="The alert as publishing it would hand it over now.")
    channel: str = Field(examples=["email"], description="One channel that carries alerts.")
    language: Language = Field(description="The language to receive it in.")
    name: str = Field(max_length=200, description="How to address the operator (their display name).")
    email: str | None = Field(default=None, max_length=320, description="The operator's own account email.")
    phone: str | None = Field(default=None, description="E.164: a number the operator typed (not kept).")
    requested_at: AwareDatetime


class AlertTestRequested(Event[AlertTestRequestedData]):
    """Send an alert to the operator who asked, once, on one channel (a test before publishing)."""

    type: Literal["alert.test_requested.v1"] = "alert.test_requested.v1"
    sealed_by: ClassVar[str | None] = "operator_id"


class ActionReportedData(Payload):
    alert_id: str
    member_id: str
    source: Literal["link", "chat-reply"]
    officials: list[int] = Field(
        default_factory=list,
        max_length=50,
        description="Which of the alert's officials (positions in its list) the member wrote to, if they said.",
    )
    reported_at: AwareDatetime


class ActionReported(Event[ActionReportedData]):
    """A member took action on an alert; counted once per member and alert."""

    type: Literal["action.reported.v1"] = "action.reported.v1"


# ---- who receives an alert, on which channel, and when (the dispatcher's fan-out; the console's
# summary before publishing counts with the same rules) -------------------------------------------


def follows_topics(chosen: Iterable[str] | None, topics: Iterable[str]) -> bool:
    """Whether a member who chose these topics follows an alert on `topics` (none chosen = all)."""
    picked = set(chosen or ())
    return not picked or bool(picked & set(topics))


def quiet_hours_end(
    quiet_hours: Mapping[str, Any] | None, time_zone: str | None, now: datetime
) -> datetime | None:
    """When quiet hours ({"start": "21:00", "end": "07:00"} in `time_zone`) end, if `now` falls
    inside them (None otherwise, or when they are unset or unreadable)."""
    quiet = quiet_hours or {}
    if not quiet.get("start") or not quiet.get("end"):
        return None
    try:
        zone = ZoneInfo(time_zone or "UTC")
        start, end = (time.fromisoformat(quiet["start"]), time.fromisoformat(quiet["end"]))
    except (ZoneInfoNotFoundError, ValueError):
        return None
    local = now.astimezone(zone)
    today_end = datetime.combine(local.date(), end, zone)
    if start <= end:  # e.g. 13:00-15:00
        inside = start <= local.time() < end
        until = today_end
    else:  # over midnight, e.g. 21:00-07:00
        inside = local.time() >= start or local.time() < end
        until = today_end if local.time() < end else today_end + timedelta(days=1)
    return until.astimezone(UTC) if inside else None


def held_until(
    urgent: bool, quiet_hours: Mapping[str, Any] | None, time_zone: str | None, now: datetime
) -> datetime | None:
    """Until when a member's quiet hours hold an alert: the urgent-override policy sends an urgent
    alert at once, day or night."""
    return None if urgent else quiet_hours_end(quiet_hours, time_zone, now)


def alert_channel(
    preferences: Iterable[str],
    recipient: Recipient,
    channels: Mapping[str, ChannelSpec],
    unsubscribed: Iterable[str],
    email_confirmed: str | None,
) -> str | None:
    """The first of a member's channels that can carry an alert to them (None: none can): not
    stopped, installed, it serves them (its declaration, shared/channels/catalogue.py: address,
    country, purposes), and by email only to an address its owner confirmed (double opt-in)."""
    stopped = set(unsubscribed)
    if "all" in stopped:
        return None
    for channel in dict.fromkeys(preferences):
        if can_carry_alert(channel, recipient, channels, stopped, email_confirmed):
            return channel
    return None


def can_carry_alert(
    channel: str,
    recipient: Recipient,
    channels: Mapping[str, ChannelSpec],
    unsubscribed: Iterable[str],
    email_confirmed: str | None,
) -> bool:
    stopped = set(unsubscribed)
    declared = channels.get(channel)
    if "all" in stopped or channel in stopped or declared is None:
        return False
    if declared.ineligibility(recipient, "alert") is not None:
        return False
    return declared.address_kind != "email" or email_confirmed == recipient.email
